"""Telling images from web pages by their first bytes (servers often lie in Content-Type)."""

from __future__ import annotations

from typing import Final

_HEIF_BRANDS: Final = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS: Final = {b"avif", b"avis"}

# Declared types that can never be a photo; refused before the body is read.
HTML_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})


def sniff_image_type(head: bytes) -> str | None:
    """The image MIME type the bytes start with, or None if they are not a known raster image."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:2] == b"BM" and len(head) >= 14:
        return "image/bmp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return "image/avif"
        if brand in _HEIF_BRANDS:
            return "image/heic"
    return None


def looks_like_html(head: bytes) -> bool:
    """True for bytes that start (after a BOM and whitespace) like an HTML document."""
    text = head[:512].lstrip(b"\xef\xbb\xbf").lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--"))


def media_type(content_type: str | None) -> str:
    """``"text/html; charset=utf-8"`` -> ``"text/html"``; empty string when absent."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()
