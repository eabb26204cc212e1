"""Alt text for the media Plinth publishes, and the marker that tells Plinth's media apart.

The alt text reads naturally ("Blue Mug on a studio white background") and ends with a short
bracketed marker naming the SKU and theme. The marker is how a re-run finds the media an earlier
run published for the same (SKU, theme), even if our own database was lost, so it can delete it:
Shopify keeps media per product, shared by all of its variants, so the SKU must be in it.
"""

from __future__ import annotations

from typing import Final

ALT_MAX_CHARS: Final = 512  # Shopify's limit on media alt text


def alt_marker(sku: str, theme: str) -> str:
    return f"[plinth:{sku}/{theme}]"


def theme_words(theme: str) -> str:
    return " ".join(part for part in theme.replace("_", "-").split("-") if part)


def alt_text(product_title: str, sku: str, theme: str) -> str:
    marker = alt_marker(sku, theme)
    tail = f" on a {theme_words(theme)} background {marker}"
    room = ALT_MAX_CHARS - len(tail)
    title = product_title.strip() or sku
    if len(title) > room:
        title = title[: max(0, room - 1)].rstrip() + "…"
    return f"{title}{tail}"


def is_plinth_media(alt: str | None, sku: str, theme: str) -> bool:
    return bool(alt) and str(alt).endswith(alt_marker(sku, theme))
