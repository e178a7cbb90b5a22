"""Discord's checks on message bodies, answering with its 50035 ``errors`` tree.

``validate_message(body)`` returns ``None`` when the body is fine, else an ``errors`` dict
shaped like Discord's: ``{"embeds": {"0": {"title": {"_errors": [{"code", "message"}]}}}}``.
"""

from __future__ import annotations

from typing import Any

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
MAX_FIELDS = 25
FIELD_LIMITS = {"name": 256, "value": 1024}
MAX_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_CUSTOM_ID = 100
MAX_LABEL = 80
MAX_BUTTON_URL = 512  # a link button's url
MAX_NONCE = 25
COMPONENTS_V2_FLAG = 1 << 15

Errors = dict[str, Any]


def _err(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def _too_long(limit: int) -> dict[str, Any]:
    return _err("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _required() -> dict[str, Any]:
    return _err("BASE_TYPE_REQUIRED", "This field is required")


def _put(tree: Errors, path: list[str], leaf: dict[str, Any]) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node.setdefault(path[-1], {"_errors": []})["_errors"].extend(leaf["_errors"])


def _check_url(tree: Errors, path: list[str], url: Any, *, allow_attachment: bool) -> None:
    if not isinstance(url, str) or "://" not in url:
        _put(tree, path, _err("URL_TYPE_INVALID_URL", "Not a well formed URL."))
        return
    scheme = url.split("://", 1)[0].lower()
    allowed = ("http", "https", "attachment") if allow_attachment else ("http", "https")
    if scheme not in allowed:
        _put(
            tree,
            path,
            _err(
                "URL_TYPE_INVALID_SCHEME",
                f'Scheme "{scheme}" is not supported. Scheme must be one of {allowed}.',
            ),
        )


def _str_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def _check_embed(tree: Errors, index: int, embed: dict[str, Any]) -> int:
    """Checks one embed, returns its character count towards the 6000 total."""
    base = ["embeds", str(index)]
    total = 0
    for key, limit in EMBED_LIMITS.items():
        n = _str_len(embed.get(key))
        total += n
        if n > limit:
            _put(tree, [*base, key], _too_long(limit))
    if embed.get("url") is not None:
        _check_url(tree, [*base, "url"], embed["url"], allow_attachment=False)
    fields = embed.get("fields") or []
    if len(fields) > MAX_FIELDS:
        _put(tree, [*base, "fields"], _too_long(MAX_FIELDS))
    for f_index, fld in enumerate(fields):
        for key, limit in FIELD_LIMITS.items():
            n = _str_len(fld.get(key))
            total += n
            if n > limit:
                _put(tree, [*base, "fields", str(f_index), key], _too_long(limit))
            if not fld.get(key):
                _put(tree, [*base, "fields", str(f_index), key], _required())
    footer = embed.get("footer") or {}
    n = _str_len(footer.get("text"))
    total += n
    if n > 2048:
        _put(tree, [*base, "footer", "text"], _too_long(2048))
    if footer.get("icon_url") is not None:
        _check_url(tree, [*base, "footer", "icon_url"], footer["icon_url"], allow_attachment=True)
    author = embed.get("author") or {}
    n = _str_len(author.get("name"))
    total += n
    if n > 256:
        _put(tree, [*base, "author", "name"], _too_long(256))
    for key in ("url", "icon_url"):
        if author.get(key) is not None:
            _check_url(
                tree, [*base, "author", key], author[key], allow_attachment=key == "icon_url"
            )
    for key in ("image", "thumbnail"):
        media = embed.get(key) or {}
        if media.get("url") is not None:
            _check_url(tree, [*base, key, "url"], media["url"], allow_attachment=True)
    return total


def _check_components(tree: Errors, components: list[dict[str, Any]]) -> None:
    if len(components) > MAX_ROWS:
        _put(tree, ["components"], _too_long(MAX_ROWS))
    for r_index, row in enumerate(components):
        base = ["components", str(r_index)]
        if row.get("type") != 1:
            _put(
                tree,
                [*base, "type"],
                _err("UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).'),
            )
            continue
        children = row.get("components") or []
        if not children:
            _put(tree, [*base, "components"], _err("BASE_TYPE_MIN_LENGTH", "Must be 1 or more."))
        buttons = [c for c in children if c.get("type") == 2]
        if len(buttons) > MAX_ROW_BUTTONS:
            _put(tree, [*base, "components"], _too_long(MAX_ROW_BUTTONS))
        for c_index, comp in enumerate(children):
            path = [*base, "components", str(c_index)]
            _check_component(tree, path, comp)


def _check_component(tree: Errors, path: list[str], comp: dict[str, Any]) -> None:
    custom_id = comp.get("custom_id")
    if custom_id is not None and _str_len(custom_id) > MAX_CUSTOM_ID:
        _put(tree, [*path, "custom_id"], _too_long(MAX_CUSTOM_ID))
    if _str_len(comp.get("label")) > MAX_LABEL:
        _put(tree, [*path, "label"], _too_long(MAX_LABEL))
    if comp.get("type") != 2:
        if comp.get("type") in (3, 5, 6, 7, 8) and not custom_id:
            _put(tree, [*path, "custom_id"], _required())
        return
    if comp.get("style") == 5:  # link button
        if not comp.get("url"):
            _put(tree, [*path, "url"], _required())
        elif _str_len(comp["url"]) > MAX_BUTTON_URL:
            _put(tree, [*path, "url"], _too_long(MAX_BUTTON_URL))
        else:
            _check_url(tree, [*path, "url"], comp["url"], allow_attachment=False)
        if custom_id is not None:
            _put(
                tree,
                [*path, "custom_id"],
                _err("BUTTON_CUSTOM_ID_NOT_ALLOWED", "Link buttons cannot have a custom_id."),
            )
    elif comp.get("style") == 6:  # premium button
        if not comp.get("sku_id"):
            _put(tree, [*path, "sku_id"], _required())
    else:
        if not custom_id:
            _put(tree, [*path, "custom_id"], _required())
        if comp.get("url"):
            _put(
                tree,
                [*path, "url"],
                _err("BUTTON_URL_NOT_ALLOWED", "Only link buttons can have a url."),
            )


def validate_message(body: dict[str, Any]) -> Errors | None:
    """Form errors for a message body (create or edit), or ``None`` when it is fine."""
    tree: Errors = {}
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        _put(tree, ["content"], _err("BASE_TYPE_STRING", "Must be a string."))
    elif _str_len(content) > MAX_CONTENT:
        _put(tree, ["content"], _too_long(MAX_CONTENT))
    nonce = body.get("nonce")
    if isinstance(nonce, str) and len(nonce) > MAX_NONCE:
        _put(tree, ["nonce"], _too_long(MAX_NONCE))
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        _put(tree, ["embeds"], _too_long(MAX_EMBEDS))
    total = 0
    for index, embed in enumerate(embeds):
        total += _check_embed(tree, index, embed)
    if total > MAX_EMBED_TOTAL:
        _put(
            tree,
            ["embeds"],
            _err(
                "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
            ),
        )
    flags = body.get("flags") or 0
    components = body.get("components") or []
    if not flags & COMPONENTS_V2_FLAG:
        _check_components(tree, components)
    elif content or embeds:
        _put(
            tree,
            ["content" if content else "embeds"],
            _err(
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used "
                "when using MessageFlags.IS_COMPONENTS_V2",
            ),
        )
    return tree or None


def is_empty_message(body: dict[str, Any], *, has_files: bool = False) -> bool:
    """Discord's 50006: nothing to show (no content, embeds, components, files, stickers, poll)."""
    if has_files or body.get("attachments") or body.get("sticker_ids") or body.get("poll"):
        return False
    content = body.get("content")
    return not (
        (isinstance(content, str) and content.strip())
        or body.get("embeds")
        or body.get("components")
    )
