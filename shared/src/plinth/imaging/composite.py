"""Stage 4: set a cutout on a background with a natural shadow, like a studio photo.

Everything that mixes light happens in linear light: the cutout is premultiplied by its alpha
in linear light before it is resampled (so edges do not pick up dark fringes from the
transparent pixels' colour), shadows darken the background multiplicatively (light blocked, so
the floor's hue is kept), and only the result is encoded back to sRGB.

Only the region around the product and its shadow is computed; the rest of the canvas is the
background untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import cv2
import numpy as np

from plinth.imaging.backgrounds.model import Margins, Shadow, Theme
from plinth.imaging.backgrounds.renderer import render_background
from plinth.imaging.colour import SRGB_TO_LINEAR, to_linear, to_srgb8_consuming
from plinth.imaging.errors import EmptyCutoutError
from plinth.imaging.types import RGB, RGBA, FloatImage, as_float32

DEFAULT_CANVAS: Final = (2000, 2000)
"""Composite canvas ``(width, height)`` when the caller does not choose one."""

_VISIBLE_ALPHA: Final = 8
"""Alpha at or below this (of 255) does not count towards the product's bounding box: soft
matting noise far from the product must not shrink it."""

# Linear-light values (and alpha) as uint16: enough precision for the darkest sRGB steps at
# half the memory of float32 while a big cutout is premultiplied and shrunk.
_LINEAR16 = np.round(SRGB_TO_LINEAR.astype(np.float64) * 65535).astype(np.uint16)
_ALPHA16 = (np.arange(256, dtype=np.uint32) * 257).astype(np.uint16)
_NEGLIGIBLE_SHADOW: Final = np.float32(2**-26)
"""A shadow this faint transmits ``1 - s == 1.0`` exactly in float32 (half of its 2**-24
rounding step below 1), so the rows where the contact shadow stays under it need no pass."""


@dataclass(frozen=True)
class CompositeOptions:
    """Per-call overrides of the theme's layout and shadow."""

    margins: Margins | None = None
    shadow: Shadow | None = None
    placement: Literal["centre", "floor"] | None = None
    max_upscale: float = 4.0
    """Never enlarge a small cutout more than this (it would only look soft)."""


@dataclass(frozen=True)
class Placement:
    """Where the product's bounding box lands on the canvas, in pixels."""

    x: int
    y: int
    width: int
    height: int
    scale: float
    on_floor: bool

    @property
    def bottom(self) -> int:
        return self.y + self.height


@dataclass(frozen=True)
class PreparedCutout:
    """Everything of a composite that depends only on the cutout, the theme's layout and
    shadow, and the canvas size, not on the background's pixels.

    Made once per (cutout, canvas size) by :func:`prepare_composite` and applied to each
    background variant by :func:`apply_composite`; the arrays are read-only so a shared one
    cannot be changed by a caller.
    """

    canvas: tuple[int, int]
    """``(width, height)`` of the backgrounds this applies to."""
    place: Placement
    region: tuple[int, int, int, int]
    """``(x0, y0, x1, y1)``: the part of the canvas the product and its shadows touch."""
    light: FloatImage
    """Per pixel of the region, how much of the background's light still shows: the cast and
    contact shadows' transmissions times what the product leaves uncovered."""
    premult: FloatImage
    """The product, premultiplied linear RGB, ``place.height x place.width x 3``."""
    origin: tuple[int, int]
    """Where the product's top-left lies inside the region."""
    light3: FloatImage | None = None
    """``light`` repeated over three channels, so each variant multiplies with one SIMD pass
    (OpenCV) instead of NumPy broadcasting over a last axis of 3 (same float32 products)."""


def composite(
    cutout: RGBA,
    background: RGB,
    theme: Theme,
    options: CompositeOptions | None = None,
) -> RGB:
    """Composite ``cutout`` (straight-alpha RGBA) onto ``background``; same size as it.

    The product (cropped to its visible alpha) is scaled to fit inside the margins, centred,
    or stood on the theme's floor line for sweep themes; a soft cast shadow and a tight
    contact shadow are drawn under it.

    Several backgrounds of one canvas size: call :func:`prepare_composite` once and
    :func:`apply_composite` per background (same bytes, the cutout's work done once).
    """
    _check_inputs(cutout, background)
    canvas_h, canvas_w = background.shape[:2]
    return apply_composite(prepare_composite(cutout, (canvas_w, canvas_h), theme, options),
                           background)


def prepare_composite(
    cutout: RGBA,
    canvas: tuple[int, int],
    theme: Theme,
    options: CompositeOptions | None = None,
) -> PreparedCutout:
    """The background-independent part of :func:`composite` for a ``canvas = (w, h)``."""
    _check_cutout(cutout)
    opts = options or CompositeOptions()
    margins = opts.margins or theme.margins
    shadow = opts.shadow or theme.shadow
    on_floor = opts.placement == "floor" if opts.placement is not None else theme.stands_on_floor
    floor_line = theme.floor_line if theme.floor_line is not None else 1.0 - margins.bottom

    crop = _crop_to_visible(cutout)
    canvas_w, canvas_h = canvas
    place = place_product(
        (crop.shape[1], crop.shape[0]),
        (canvas_w, canvas_h),
        margins,
        floor_line if on_floor else None,
        max_upscale=opts.max_upscale,
    )
    premult, alpha = _resample_premultiplied(crop, place.width, place.height)

    x0, y0, x1, y1 = _region_of_interest(place, shadow, canvas_w, canvas_h)
    roi_alpha = np.zeros((y1 - y0, x1 - x0), np.float32)
    px, py = place.x - x0, place.y - y0
    roi_alpha[py : py + place.height, px : px + place.width] = alpha

    # Two occluders of the same light: transmissions multiply. The contact shadow and the
    # product only touch their own rows / rectangle; elsewhere their transmission is exactly 1.
    light = 1.0 - _cast_shadow(roi_alpha, place, shadow, (px, py))
    contact_rows, contact = _contact_shadow(alpha, place, shadow, (px, py), roi_alpha.shape)
    if contact is not None:
        light[contact_rows] *= 1.0 - contact
    # what of the background still shows through the product
    light[py : py + place.height, px : px + place.width] *= 1.0 - alpha
    light3 = np.asarray(cv2.merge([light, light, light]), np.float32)
    for array in (light, premult, light3):
        array.flags.writeable = False
    return PreparedCutout(
        (canvas_w, canvas_h), place, (x0, y0, x1, y1), light, premult, (px, py), light3
    )


def apply_composite(prepared: PreparedCutout, background: RGB) -> RGB:
    """Set a prepared cutout on ``background`` (which must be ``prepared.canvas`` in size)."""
    _check_background(background)
    canvas_h, canvas_w = background.shape[:2]
    if (canvas_w, canvas_h) != prepared.canvas:
        raise ValueError(
            f"background is {canvas_w}x{canvas_h}, the cutout was prepared for "
            f"{prepared.canvas[0]}x{prepared.canvas[1]}"
        )
    x0, y0, x1, y1 = prepared.region
    px, py = prepared.origin
    place = prepared.place
    out_linear = to_linear(background[y0:y1, x0:x1])
    if prepared.light3 is not None:
        out_linear = np.asarray(cv2.multiply(out_linear, prepared.light3), np.float32)
    else:
        out_linear *= prepared.light[..., None]
    out_linear[py : py + place.height, px : px + place.width] += prepared.premult

    result = background.copy()
    result[y0:y1, x0:x1] = to_srgb8_consuming(out_linear)
    return result


def composite_on_theme(
    cutout: RGBA,
    theme: Theme,
    variant: int = 0,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
    options: CompositeOptions | None = None,
) -> tuple[RGB, RGB]:
    """Render the theme's background ``variant`` at ``canvas`` and composite onto it.

    Returns ``(background, composite)``: both are stored artefacts.
    """
    background = render_background(theme, variant, canvas)
    return background, composite(cutout, background, theme, options)


def place_product(
    product_size: tuple[int, int],
    canvas_size: tuple[int, int],
    margins: Margins,
    floor_line: float | None,
    *,
    max_upscale: float = 4.0,
) -> Placement:
    """Fit ``product_size`` inside the margins; stand it on ``floor_line`` if given.

    For floor placement the available height runs from the top margin down to the floor line
    (the product's base sits exactly on it); otherwise it is centred in the margin box.
    """
    pw, ph = product_size
    cw, ch = canvas_size
    left, right = margins.left * cw, cw - margins.right * cw
    top = margins.top * ch
    bottom = floor_line * ch if floor_line is not None else ch - margins.bottom * ch
    box_w, box_h = max(1.0, right - left), max(1.0, bottom - top)
    scale = min(box_w / pw, box_h / ph, max_upscale)
    width = max(1, min(cw, round(pw * scale)))
    height = max(1, min(ch, round(ph * scale)))
    x = round(left + (box_w - width) / 2)
    centred_y = round(top + (box_h - height) / 2)
    y = round(bottom) - height if floor_line is not None else centred_y
    x = min(max(0, x), cw - width)
    y = min(max(0, y), ch - height)
    return Placement(x, y, width, height, scale, floor_line is not None)


def _check_inputs(cutout: RGBA, background: RGB) -> None:
    _check_cutout(cutout)
    _check_background(background)


def _check_cutout(cutout: RGBA) -> None:
    if cutout.dtype != np.uint8 or cutout.ndim != 3 or cutout.shape[2] != 4:
        raise ValueError(f"cutout must be HxWx4 uint8, got {cutout.dtype} {cutout.shape}")


def _check_background(background: RGB) -> None:
    if background.dtype != np.uint8 or background.ndim != 3 or background.shape[2] != 3:
        raise ValueError(
            f"background must be HxWx3 uint8, got {background.dtype} {background.shape}"
        )


def _crop_to_visible(cutout: RGBA) -> RGBA:
    visible = cutout[..., 3] > _VISIBLE_ALPHA
    rows = np.flatnonzero(visible.any(axis=1))
    if rows.size == 0:
        raise EmptyCutoutError(
            "the cutout is fully transparent: segmentation found no product to composite"
        )
    cols = np.flatnonzero(visible[rows[0] : rows[-1] + 1].any(axis=0))
    crop: RGBA = cutout[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return crop


def _resample_premultiplied(crop: RGBA, width: int, height: int) -> tuple[FloatImage, FloatImage]:
    """Resize in premultiplied linear light -> (premultiplied linear RGB, alpha), float32.

    One channel at a time, in uint16, with OpenCV's SIMD table lookup and saturating
    multiply: a big cutout costs ~8 bytes per pixel of working memory here, not the ~20 a
    stacked float/uint32 version needs (a 24 MP full-frame product would add ~480 MB).
    """
    shrinking = width < crop.shape[1] or height < crop.shape[0]
    # Area averaging for reduction (exact box integration, no ringing); bicubic for the rare
    # enlargement of a small supplier photo.
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    alpha8 = np.ascontiguousarray(crop[..., 3])
    alpha16 = np.asarray(cv2.LUT(alpha8, _ALPHA16), np.uint16)  # 0..65535
    planes = []
    for c in range(3):
        linear = cv2.LUT(np.ascontiguousarray(crop[..., c]), _LINEAR16)
        premult = cv2.multiply(linear, alpha16, scale=1 / 65535, dtype=cv2.CV_16U)
        planes.append(_resized_float(premult, width, height, interp))
    alpha = _resized_float(alpha16, width, height, interp)
    premult_rgb = np.dstack(planes)
    if not shrinking:
        # Bicubic may overshoot; premultiplied colour can never exceed its alpha. Area
        # averaging cannot: it is one weighted mean per pixel for colour and alpha alike, in
        # [0, 65535], and rounding is monotonic, so colour <= alpha holds already.
        np.clip(alpha, 0.0, 1.0, out=alpha)
        np.clip(premult_rgb, 0.0, alpha[..., None], out=premult_rgb)
    return premult_rgb, alpha


def _resized_float(plane: np.ndarray, width: int, height: int, interp: int) -> FloatImage:
    resized = cv2.resize(plane, (width, height), interpolation=interp)
    return as_float32(resized).reshape(height, width) * np.float32(1 / 65535)


def _region_of_interest(
    place: Placement, shadow: Shadow, canvas_w: int, canvas_h: int
) -> tuple[int, int, int, int]:
    """The product rectangle grown by everything the shadows can reach, clipped to canvas."""
    h = place.height
    reach = 3.0 * shadow.blur * h + 0.1 * place.width + 2
    dx, dy = shadow.offset_x * h, shadow.offset_y * h
    x0 = math.floor(place.x + min(0.0, dx) - reach)
    x1 = math.ceil(place.x + place.width + max(0.0, dx) + reach)
    y0 = math.floor(place.y + min(0.0, dy) - reach)
    y1 = math.ceil(place.bottom + max(0.0, dy) + reach + 4 * shadow.contact_height * h)
    return max(0, x0), max(0, y0), min(canvas_w, x1), min(canvas_h, y1)


def _cast_shadow(
    roi_alpha: FloatImage, place: Placement, shadow: Shadow, origin: tuple[int, int]
) -> FloatImage:
    """The product's silhouette, squashed onto the floor, offset and blurred, times opacity."""
    if shadow.opacity <= 0:
        return np.zeros_like(roi_alpha)
    px, py = origin
    h, w = place.height, place.width
    silhouette = roi_alpha[py : py + h, px : px + w]
    squashed_h = max(1, round(h * shadow.squash))
    if squashed_h != h:
        silhouette = as_float32(
            cv2.resize(silhouette, (w, squashed_h), interpolation=cv2.INTER_AREA)
        )
        silhouette = silhouette.reshape(squashed_h, w)
    mask = np.zeros_like(roi_alpha)
    # Anchored at the base: a laid-down shadow starts where the product touches the floor.
    top = py + h - squashed_h + round(shadow.offset_y * h)
    left = px + round(shadow.offset_x * h)
    _paste(mask, silhouette, left, top)
    sigma = shadow.blur * h
    return _blur(mask, sigma) * np.float32(shadow.opacity)


def _contact_shadow(
    alpha: FloatImage,
    place: Placement,
    shadow: Shadow,
    origin: tuple[int, int],
    roi_shape: tuple[int, ...],
) -> tuple[slice, FloatImage | None]:
    """A tight, dark, soft ellipse under the product's footprint (where it meets the floor).

    Returns the rows of the region it darkens and its strength there (``None``: none). Rows
    where it is under ``_NEGLIGIBLE_SHADOW`` are left out: ``1 - s`` is exactly 1 in float32
    there, so leaving them out changes no pixel and saves a pass over the whole region.
    """
    nothing = slice(0, 0), None
    if shadow.contact_strength <= 0:
        return nothing
    band = max(2, round(place.height * 0.02))
    footprint = np.flatnonzero(alpha[-band:].max(axis=0) > 0.5)
    if footprint.size == 0:
        footprint = np.flatnonzero(alpha.max(axis=0) > 0.5)
    if footprint.size == 0:
        return nothing
    px, py = origin
    cx = px + (footprint[0] + footprint[-1] + 1) / 2
    rx = max(2.0, (footprint[-1] + 1 - footprint[0]) / 2 * 1.08)
    ry = max(1.5, shadow.contact_height * place.height)
    cy = py + place.height - 0.25 * ry  # slightly tucked under the base
    ys = (np.arange(roi_shape[0], dtype=np.float32) - cy) / np.float32(ry)
    xs = (np.arange(roi_shape[1], dtype=np.float32) - cx) / np.float32(rx)
    # Gaussian across the short axis, a soft super-ellipse across the long one: dark and
    # tight along the base, fading quickly at the ends instead of a hard-edged disc.
    across = np.exp(-0.5 * (ys * ys))
    strength = np.float32(shadow.contact_strength)
    rows = np.flatnonzero(strength * across >= _NEGLIGIBLE_SHADOW)
    if rows.size == 0:
        return nothing
    keep = slice(int(rows[0]), int(rows[-1]) + 1)
    along = np.exp(-(np.abs(xs) ** 6))[None, :]
    return keep, np.asarray(strength * across[keep, None] * along, np.float32)


def _paste(dst: FloatImage, src: FloatImage, left: int, top: int) -> None:
    """Copy ``src`` into ``dst`` at (left, top), clipping whatever falls outside."""
    h, w = src.shape
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(dst.shape[0], top + h), min(dst.shape[1], left + w)
    if y1 > y0 and x1 > x0:
        dst[y0:y1, x0:x1] = src[y0 - top : y1 - top, x0 - left : x1 - left]


def _blur(mask: FloatImage, sigma: float) -> FloatImage:
    """Gaussian blur; a wide one is done on a reduced copy (same look, a fraction of the cost)."""
    if sigma < 0.5:
        return mask
    factor = max(1, int(sigma // 4))
    if factor == 1:
        return as_float32(cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT))
    h, w = mask.shape
    small = cv2.resize(
        mask, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor, borderType=cv2.BORDER_CONSTANT)
    return as_float32(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
