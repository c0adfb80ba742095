"""Products: list with search and paging; create, edit and soft-delete with the API's own
validation errors shown next to each field; set the stock (inventory); upload a picture."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from services.common.errors import DomainError
from services.common.names import GATEWAY, HEADER_CLIENT_IP
from services.web.admin.common import PAGE_SIZE, api, clean, page, page_number, pages
from services.web.platform import ApiError, Degraded, PageNotFound, Shopper

FIELDS = ("name", "price", "category", "description", "image_url")
LIMITS = {"name": 200, "price": 20, "category": 60, "description": 5000, "image_url": 2000,
          "stock": 12}
MAX_PICTURE = 1 << 20  # what products takes (and the gateway forwards)


def _product_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise PageNotFound(raw) from None


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    raw = await request.form()
    return {k: clean(raw.get(k) if isinstance(raw.get(k), str) else "", LIMITS[k])
            for k in (*FIELDS, "stock")}


def _body(form: dict[str, str], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The API request of a product form; errors only for what the API cannot judge (the
    stock must be a whole number to be sent at all). Everything else the API validates."""
    body: dict[str, Any] = {"name": form["name"], "price": form["price"],
                            "category": form["category"], "description": form["description"],
                            "image_url": form["image_url"] or None}
    errors: dict[str, str] = {}
    if create and form.get("stock"):
        if form["stock"].isdigit():
            body["stock"] = int(form["stock"])
        else:
            errors["stock"] = "Enter a whole number of 0 or more."
    return body, errors


def _explain(exc: ApiError) -> dict[str, str]:
    """The API's field errors, keyed by form field, with a general message as `form`."""
    errors = {k: v[:1].upper() + v[1:] for k, v in exc.field_errors.items()}
    if not errors or set(errors) - {*FIELDS, "stock", "on_hand"}:
        errors = {**errors, "form": exc.detail or exc.title}
    return errors


@get("/products", name="admin_products")
async def products(shopper: Shopper, search: str | None = None,
                   page_: Annotated[str | None, Parameter(query="page")] = None) -> Template:
    query = clean(search)
    page_no = page_number(page_)
    params = {"page": str(page_no), "page_size": str(PAGE_SIZE),
              "sort": "relevance" if query else "newest"}
    if query:
        params["search"] = query
    errors: dict[str, str] = {}
    try:
        body = await api(shopper, "GET", "/api/products", params=params)
    except ApiError as exc:
        body, errors = {"items": [], "total": 0}, _explain(exc)
    total = int(body.get("total") or 0)
    return await page(shopper, "products.html", items=body.get("items") or [], total=total,
                      page_no=page_no, pages=pages(total), search=query, errors=errors)


@get("/products/new", name="admin_product_new")
async def new_product(shopper: Shopper) -> Template:
    return await page(shopper, "product_form.html", product=None, form={}, errors={})


@post("/products/new", name="admin_product_create", response_model=None)
async def create_product(request: Request[Any, Any, Any],
                         shopper: Shopper) -> Template | Redirect:
    form = await _form(request)
    body, errors = _body(form, create=True)
    upload = (await request.form()).get("picture")
    picture = await _picture(upload) if isinstance(upload, UploadFile) else None
    if isinstance(picture, str):
        errors["picture"] = picture
    if not errors:
        try:
            product = await api(shopper, "POST", "/api/products", json=body)
        except ApiError as exc:
            errors = _explain(exc)
        else:
            message = f"Product “{product['name']}” created."
            if isinstance(picture, tuple):
                try:
                    await upload_to_catalog(shopper, product["id"], *picture)
                    message = f"Product “{product['name']}” created with its picture."
                except ApiError as exc:
                    await shopper.flash("error", "The product was created, but not its "
                                        f"picture: {exc.detail or exc.title}")
            await shopper.flash("success", message)
            return Redirect(f"/admin/products/{product['id']}", status_code=303)
    if picture is not None and "picture" not in errors:
        errors["picture"] = "Choose the picture again (a browser does not keep it)."
    return await page(shopper, "product_form.html", status=422, product=None, form=form,
                      errors=errors)


async def _picture(upload: UploadFile) -> tuple[bytes, str] | str | None:
    """The chosen picture and its type; a message when it cannot be sent; None if none."""
    if not upload.filename:
        return None
    content = await upload.read(MAX_PICTURE + 1)
    if not content:
        return None
    if len(content) > MAX_PICTURE:
        return "The picture is too large (at most 1 MB)."
    return content, upload.content_type


async def _editor(shopper: Shopper, product_id: str, *, form: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None, stock_errors: dict[str, str] | None = None,
                  picture_error: str | None = None, status: int = 200) -> Template:
    try:
        product = await api(shopper, "GET", f"/api/products/{product_id}")
    except ApiError as exc:
        if exc.status in (404, 422, 400):
            raise PageNotFound(product_id) from exc
        raise
    try:
        stock = await api(shopper, "GET", f"/api/inventory/{product_id}")
    except ApiError:
        stock = None  # a product created without stock has no inventory row yet
    if form is None:
        form = {k: "" if product.get(k) is None else str(product[k]) for k in FIELDS}
    return await page(shopper, "product_form.html", status=status, product=product,
                      stock=stock, form=form, errors=errors or {},
                      stock_errors=stock_errors or {}, picture_error=picture_error)


@get("/products/{product_id:str}", name="admin_product")
async def product(shopper: Shopper, product_id: str) -> Template:
    return await _editor(shopper, _product_id(product_id))


@post("/products/{product_id:str}", name="admin_product_update", response_model=None)
async def update_product(request: Request[Any, Any, Any], shopper: Shopper,
                         product_id: str) -> Template | Redirect:
    pid = _product_id(product_id)
    form = await _form(request)
    body, _ = _body(form, create=False)
    try:
        await api(shopper, "PUT", f"/api/products/{pid}", json=body)
    except ApiError as exc:
        if exc.status == 404:
            raise PageNotFound(pid) from exc
        return await _editor(shopper, pid, form=form, errors=_explain(exc), status=exc.status)
    await shopper.flash("success", "Changes saved.")
    return Redirect(f"/admin/products/{pid}", status_code=303)


@post("/products/{product_id:str}/stock", name="admin_product_stock", response_model=None)
async def set_stock(request: Request[Any, Any, Any], shopper: Shopper,
                    product_id: str) -> Template | Redirect:
    pid = _product_id(product_id)
    raw = (await request.form()).get("on_hand")
    value = clean(raw if isinstance(raw, str) else "", 12)
    if not value.isdigit():
        return await _editor(shopper, pid, stock_errors={
            "on_hand": "Enter a whole number of 0 or more."}, status=422)
    try:
        await api(shopper, "PUT", f"/api/inventory/{pid}", json={"on_hand": int(value)})
    except ApiError as exc:
        errors = exc.field_errors or {}
        return await _editor(shopper, pid, stock_errors={
            "on_hand": errors.get("on_hand") or exc.detail or exc.title}, status=exc.status)
    await shopper.flash("success", f"Stock set to {int(value)}.")
    return Redirect(f"/admin/products/{pid}", status_code=303)


@post("/products/{product_id:str}/delete", name="admin_product_delete")
async def delete_product(shopper: Shopper, product_id: str) -> Redirect:
    pid = _product_id(product_id)
    await api(shopper, "DELETE", f"/api/products/{pid}")
    await shopper.flash("success", "Product deleted: it left the shop; orders still show it.")
    return Redirect("/admin/products", status_code=303)


@post("/products/{product_id:str}/picture", name="admin_product_picture",
      response_model=None)
async def upload_picture(
    shopper: Shopper, product_id: str,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Template | Redirect:
    pid = _product_id(product_id)
    upload = data.get("picture")
    picture = await _picture(upload) if isinstance(upload, UploadFile) else None
    if not isinstance(picture, tuple):
        return await _editor(shopper, pid, status=422,
                             picture_error=picture or "Choose a picture to upload.")
    try:
        await upload_to_catalog(shopper, pid, *picture)
    except ApiError as exc:
        if exc.status == 404:
            raise PageNotFound(pid) from exc
        return await _editor(shopper, pid, status=exc.status,
                             picture_error=exc.detail or exc.title)
    await shopper.flash("success", "Picture uploaded.")
    return Redirect(f"/admin/products/{pid}", status_code=303)


async def upload_to_catalog(shopper: Shopper, product_id: str, content: bytes,
                            content_type: str) -> Any:
    """The storefront's media endpoint in products (PUT /api/products/{id}/image) takes the
    picture as the body, re-encodes and stores it, and sets the product's image_url."""
    token = await shopper.token()
    if token is None:
        raise PageNotFound(product_id)
    headers = {HEADER_CLIENT_IP: shopper.platform.client_ip, "accept": "application/json",
               "authorization": f"Bearer {token}",
               "content-type": content_type or "application/octet-stream"}
    try:
        r = await shopper.platform.sidecar.invoke(
            GATEWAY, "PUT", f"api/products/{product_id}/image", content=content,
            headers=headers, timeout=30.0)
    except DomainError as exc:
        raise Degraded(exc.detail) from exc
    try:
        body = msgspec.json.decode(r.content) if r.content else None
    except msgspec.DecodeError:
        body = None
    if r.status_code >= 500:
        raise Degraded(f"the picture upload answered {r.status_code}")
    if r.status_code == 403:
        raise PageNotFound(product_id)
    if r.status_code >= 400:
        raise ApiError(r.status_code, body)
    return body


ROUTES = [products, new_product, create_product, product, update_product, set_stock,
          delete_product, upload_picture]
