// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // The order page follows its status by itself (the workflow moves it) until it is final.
  function followOrder(box) {
    var url = box.getAttribute("data-order-status");
    var delay = 1000;
    function show(view) {
      var status = document.getElementById("order-status");
      status.textContent = view.label;
      status.className = "status status-" + view.status;
      var reason = document.getElementById("order-reason");
      reason.textContent = view.reason || "";
      reason.hidden = !view.reason;
      document.getElementById("order-refund").hidden = !view.refunded;
      document.getElementById("order-pending").hidden = view.status !== "pending";
      document.getElementById("cancel-form").hidden = !view.cancellable;
      var list = document.getElementById("order-timeline");
      list.textContent = "";
      view.history.forEach(function (h) {
        var li = document.createElement("li");
        li.className = "status-" + h.status;
        var label = document.createElement("span");
        label.className = "t-label";
        label.textContent = h.label;
        var time = document.createElement("time");
        time.setAttribute("datetime", h.at);
        time.textContent = " " + String(h.at).slice(0, 19).replace("T", " ") + " UTC";
        li.appendChild(label);
        li.appendChild(time);
        if (h.reason) {
          var why = document.createElement("span");
          why.className = "t-reason";
          why.textContent = h.reason;
          li.appendChild(why);
        }
        list.appendChild(li);
      });
    }
    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (view) {
          if (view) { show(view); }
          // Shipped and delivered still come later: stop only once the order is final.
          if (!(view && view.final)) {
            delay = Math.min(delay * 1.3, 5000);
            window.setTimeout(poll, delay);
          }
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    }
    window.setTimeout(poll, delay);
  }

  // A form marked data-once cannot be sent twice by a double click (the server's
  // Idempotency-Key makes a second send harmless anyway).
  function once(form) {
    form.addEventListener("submit", function () {
      var buttons = form.querySelectorAll("button[type=submit]");
      window.setTimeout(function () {
        buttons.forEach(function (b) { b.disabled = true; b.textContent = "Placing order…"; });
      }, 0);
    });
  }

  // Basket quantities apply as soon as they change.
  function autosubmit(input) {
    input.addEventListener("change", function () {
      if (input.form && input.value !== "" && input.checkValidity()) { input.form.requestSubmit(); }
    });
  }

  // A field the server found wrong stops saying so once the shopper changes it.
  function clearWhenEdited(field) {
    var input = field.querySelector("input, select");
    if (!input) { return; }
    input.addEventListener("input", function () {
      field.classList.remove("invalid");
      input.removeAttribute("aria-invalid");
      var error = field.querySelector(".error");
      if (error) { error.hidden = true; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector("[data-order-status]");
    if (box && !box.hasAttribute("data-final")) { followOrder(box); }
    document.querySelectorAll("form[data-once]").forEach(once);
    document.querySelectorAll("input[data-autosubmit]").forEach(autosubmit);
    document.querySelectorAll(".field.invalid").forEach(clearWhenEdited);
  });
})();
