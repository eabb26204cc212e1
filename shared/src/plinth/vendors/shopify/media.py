"""Alt text for the media Plinth publishes, and the marker that tells Plinth's media apart.

The readable part comes from the job's own ``alt_text`` (a person edited it) or else from its
theme's ``alt_text_template`` (placeholders ``{sku}``, ``{title}``: the product's title in
Shopify, ``{theme}``: the theme's title). It ends with a short bracketed marker naming the SKU
and theme. The marker is how a re-run finds the media an earlier run published for the same
(SKU, theme), even if our own database was lost or the run crashed before recording what it
published, so it can delete it: Shopify keeps media per product, shared by all of its variants,
so the SKU must be in it. Shopify's alt text holds at most 512 characters, marker included.
"""

from __future__ import annotations

from typing import Final

from plinth.imaging.backgrounds.model import DEFAULT_ALT_TEXT_TEMPLATE, check_alt_text_template

ALT_MAX_CHARS: Final = 512  # Shopify: FilesErrorCode ALT_VALUE_LIMIT_EXCEEDED over 512


def alt_marker(sku: str, theme: str) -> str:
    return f"[plinth:{sku}/{theme}]"


def theme_words(theme: str) -> str:
    return " ".join(part for part in theme.replace("_", "-").split("-") if part)


def readable_room(sku: str, theme: str) -> int:
    """How many characters the readable part may have, beside the marker, for (sku, theme)."""
    return ALT_MAX_CHARS - len(alt_marker(sku, theme)) - 1


def render_template(template: str | None, *, sku: str, title: str, theme_title: str) -> str:
    """The theme's template with its placeholders filled (validated again: a template from an
    older store document may not have been)."""
    template = check_alt_text_template(template or DEFAULT_ALT_TEXT_TEMPLATE)
    return template.format(sku=sku, title=title.strip() or sku, theme=theme_title)


def with_marker(readable: str, sku: str, theme: str) -> str:
    """``readable`` and the (sku, theme) marker, the readable part cut (with '…') to fit 512."""
    room = readable_room(sku, theme)
    text = " ".join(readable.split())  # one line, single spaces
    if len(text) > room:
        text = text[: max(0, room - 1)].rstrip() + "…"
    return f"{text} {alt_marker(sku, theme)}" if text else alt_marker(sku, theme)


def alt_text(
    product_title: str,
    sku: str,
    theme: str,
    *,
    template: str | None = None,
    theme_title: str | None = None,
    override: str | None = None,
) -> str:
    """The full alt text Plinth sends: the override, or the rendered template, then the marker."""
    readable = (
        override
        if override and override.strip()
        else render_template(
            template, sku=sku, title=product_title, theme_title=theme_title or theme_words(theme)
        )
    )
    return with_marker(readable, sku, theme)


def is_plinth_media(alt: str | None, sku: str, theme: str) -> bool:
    return bool(alt) and str(alt).endswith(alt_marker(sku, theme))
