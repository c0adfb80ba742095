// The back office's progressive enhancement: every page works without this file.
(function () {
  "use strict";

  // A chosen picture shows in its preview box before it is uploaded (a data: URL, which the
  // page's Content-Security-Policy allows for images).
  function previewPictures() {
    var inputs = document.querySelectorAll("input[type=file][data-preview]");
    Array.prototype.forEach.call(inputs, function (input) {
      input.addEventListener("change", function () {
        var box = document.getElementById(input.getAttribute("data-preview"));
        var file = input.files && input.files[0];
        if (!box || !file || !/^image\//.test(file.type)) { return; }
        var reader = new FileReader();
        reader.onload = function () {
          var img = document.createElement("img");
          img.src = reader.result;
          img.alt = "Preview of the chosen picture";
          box.textContent = "";
          box.appendChild(img);
        };
        reader.readAsDataURL(file);
      });
    });
  }

  // Destructive forms ask first.
  function confirmForms() {
    var forms = document.querySelectorAll("form[data-confirm]");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    previewPictures();
    confirmForms();
  });
})();
