"""Tinted glass: partial alpha for a translucent body, read against the fitted backdrop.

A salient-object model outlines a glass bottle whole and calls its body product at full
strength, so the cut-out would carry the old backdrop, seen through the glass, onto every new
one. On a plain backdrop the photo itself says how much of it shows through. A translucent body
of colour ``F`` and opacity ``a`` over the backdrop ``B`` shows ``C = a·F + (1 - a)·B``. Where
the glass is thickest, along its outline, it is (nearly) opaque and shows ``F`` itself; inside,
the difference from the backdrop ``C - B`` is then ``a·(F - B)``: the same direction as the
rim's, shorter by ``a``. An opaque body lit more brightly in its middle shows ``C = s·F``
instead (shading scales a colour; it does not mix it towards the backdrop).

Each pixel well inside the product is compared with the rim's colour nearest to it (the rim
pixel that differs most from the backdrop, where the glass is thickest). It is a candidate when

- the rim differs from the backdrop clearly (``min_rim_contrast``) and in colour, not only in
  lightness (``min_rim_chroma``): a grey rim cannot tell mixing from shading, so grey and white
  products are never made translucent (a near-white shirt on white keeps its solid body);
- the pixel's difference is the rim's scaled by one opacity (``max_residual``), within
  ``min_opacity``..``max_opacity``;
- shading explains it clearly worse than mixing (``shading_margin``).

The candidates (pieces of at least ``min_part`` of the product) must cover ``min_share`` of the
product: a glass body is most of a glass product, while a small print of a lighter tint on a
coloured box is not taken. The body is then grown over the pixels the rim test could not reach
(under a cap's rim, beside a label) that show the glass as expected: its own colour mixed with
the backdrop behind each pixel, so a graded backdrop seen through it does not stop the growth.
Light changes glass evenly in every channel: a highlight, or the floor's shadow seen through
its base, lightens or darkens it in grey. Such streaks are grown over too when thin
(``light_width``) and inside the body's convex hull, while a label or cap in a grey of the
body's lightness, which is wide or outside the body, stays opaque. The body is given one
opacity: the candidates' median unmixing weight (on ``studio_extra``'s glass 0.026 below the
true opacity on average, 0.073 at worst: a shaded rim is darker than the glass beside it). Its
colour is unmixed to ``F`` so that the new backdrop, not the old one, shows through.

Clear and grey glass stay opaque: on a white backdrop they look exactly like a grey or white
opaque body, and a near-white product must never get a hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.decontaminate import unmix
from plinth.imaging.segment.guided import sample_bilinear
from plinth.imaging.segment.regions import depth

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]
RGB8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class TranslucencyOptions:
    rim_band: float = 6.0
    """Working pixels inside the outline searched for the rim's colour."""
    rim_width: float = 4.0
    """Working pixels along the outline that stay opaque: the rim itself."""
    interior: float = 6.0
    """Pixels closer than this to the outline are never candidates (rim, or mixed with it)."""
    min_rim_contrast: float = 0.25
    """Least sRGB distance (0..1 per channel) of the rim from the backdrop."""
    min_rim_chroma: float = 0.07
    """Least spread between the channels of the rim's difference from the backdrop: mixing
    towards the backdrop and shading differ only in colour, so a grey rim is never read. (At
    0.1, faintly tinted glass sat at the threshold: whether it was read depended on the JPEG
    quality, as compression dulls a thin rim's colour by about 8%.)"""
    min_opacity: float = 0.08
    max_opacity: float = 0.8
    """Unmixing weights read as translucent: nearer 1 is the rim's own colour (opaque)."""
    max_residual: float = 0.05
    """Most sRGB distance between a pixel's difference and the scaled rim's."""
    shading_margin: float = 2.0
    """Shading (the rim's colour scaled) must leave at least this many times mixing's residual
    (plus 0.02) unexplained."""
    min_part: float = 0.01
    """Least share of the product a connected piece of candidates must cover to count."""
    min_share: float = 0.15
    """Least share of the product the candidates must cover together."""
    grow_tolerance: float = 0.06
    """Most sRGB difference (any channel) from the glass's expected colour (its own colour
    mixed with the backdrop behind the pixel) for growing over a pixel."""
    light_shift: float = 0.3
    """Most even shift (the mean over channels) from that expected colour also grown over, when
    every channel shifts alike (within ``grow_tolerance``): a highlight on the glass, or the
    floor's shadow seen through it, lightens or darkens the body in grey, not in colour."""
    light_width: float = 0.15
    """Widest an evenly shifted streak may be, as a share of the body's convex hull's width: a
    highlight on glass, or the floor's shadow seen through its base, is a thin streak, while a
    label in a lighter or darker grey of the body's colour is a wide band (it stays opaque)."""
    floor: float = 0.15
    """Least opacity given: clear glass stays visible, never a hole."""


@dataclass(frozen=True)
class Translucent:
    region: BoolMap
    """The translucent body, at working size."""
    opacity: float
    share: float
    """The body's share of the product."""
    backdrop: F32
    """The fitted backdrop it was read against (``HxWx3``, sRGB 0..1, working size), which
    the body's colour is unmixed from."""

    def opacity_map(self) -> F32:
        """The most alpha each working pixel may keep: the opacity on the body, 1 elsewhere."""
        return np.where(self.region, np.float32(self.opacity), np.float32(1)).astype(np.float32)

    def applied(self, probability: F32) -> F32:
        """``probability`` with the body capped at its opacity."""
        return np.minimum(probability, self.opacity_map())


def find_translucency(probability: F32, photo: RGB8, difference: F32,
                      options: TranslucencyOptions) -> Translucent | None:
    """The translucent body of the product ``probability >= 0.5`` outlines, if it has one.

    ``photo`` is the working image (sRGB, 8-bit) and ``difference`` the photo minus the fitted
    backdrop (sRGB 0..1, signed), both at the probability's size.
    """
    solid_whole = probability >= 0.5
    area = int(solid_whole.sum())
    if area == 0:
        return None
    # Only the product's box is read (with a margin for the distance transform's border).
    x, y, w, h = cv2.boundingRect(solid_whole.astype(np.uint8))
    box = (slice(max(y - 2, 0), y + h + 2), slice(max(x - 2, 0), x + w + 2))
    solid = solid_whole[box]
    colour = photo[box].astype(np.float32) * np.float32(1 / 255)
    difference_whole, difference = difference, difference[box]
    backdrop = colour - difference
    distance = depth(solid)
    rim = _rim_colour(colour, difference, solid, distance, options.rim_band)
    if rim is None:
        return None
    rim_diff = rim - backdrop
    channels = [rim_diff[..., i] for i in range(3)]
    spread = (np.maximum(np.maximum(channels[0], channels[1]), channels[2])
              - np.minimum(np.minimum(channels[0], channels[1]), channels[2]))
    power = np.maximum(_dot(rim_diff, rim_diff), np.float32(1e-6))
    weight = np.asarray(_dot(difference, rim_diff) / power, np.float32)
    mixing_residual = _norm(difference - weight[..., None] * rim_diff)
    scale = np.asarray(_dot(colour, rim) / np.maximum(_dot(rim, rim), np.float32(1e-6)),
                       np.float32)
    shading_residual = _norm(colour - scale[..., None] * rim)
    candidate = ((distance > options.interior)
                 & (power >= options.min_rim_contrast ** 2)
                 & (spread >= options.min_rim_chroma)
                 & (weight >= options.min_opacity) & (weight <= options.max_opacity)
                 & (mixing_residual <= options.max_residual)
                 & (shading_residual >= options.shading_margin * mixing_residual + 0.02))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8),
                                                               connectivity=8)
    pieces = [i for i in range(1, count)
              if stats[i, cv2.CC_STAT_AREA] >= options.min_part * area]
    if sum(int(stats[i, cv2.CC_STAT_AREA]) for i in pieces) < options.min_share * area:
        return None
    seeds = np.isin(labels, pieces)
    opacity = max(float(np.median(weight[seeds])), options.floor)
    # The glass as the photo would show it everywhere: its own colour mixed with the backdrop
    # behind each pixel (a shaded or graded backdrop shows through it).
    own = np.median(unmix(colour[seeds], np.full((1, 1), opacity, np.float32), backdrop[seeds]),
                    axis=0)
    expected = np.float32(opacity) * own + np.float32(1 - opacity) * backdrop
    body = _grown(seeds, photo[box], expected, solid & (distance > options.rim_width), options)
    region = np.zeros_like(solid_whole)
    region[box] = body
    whole_backdrop = photo.astype(np.float32) * np.float32(1 / 255) - difference_whole
    return Translucent(region=region, opacity=opacity, share=float(body.sum() / area),
                       backdrop=whole_backdrop)


def unmix_translucent(rgba: RGB8, photo: RGB8, glass: Translucent) -> None:
    """Rewrite, in place, the full-resolution cut-out ``rgba`` on ``glass``'s body: its colour
    becomes the body's own, ``F = (C - (1 - a)·B) / a``, with ``C`` the ``photo``'s colour,
    ``a`` the cut-out's alpha and ``B`` the backdrop it was read against."""
    height, width = rgba.shape[:2]
    region = cv2.resize(glass.region.astype(np.uint8), (width, height),
                        interpolation=cv2.INTER_NEAREST) > 0
    region &= rgba[..., 3] > 0
    ys, xs = np.nonzero(region)
    if len(ys) == 0:
        return
    a = rgba[ys, xs, 3].astype(np.float32)[:, None] * np.float32(1 / 255)
    seen = photo[ys, xs].astype(np.float32) * np.float32(1 / 255)
    backdrop = sample_bilinear(glass.backdrop, ys, xs, height, width)
    rgba[ys, xs, :3] = np.clip(unmix(seen, a, backdrop) * 255 + 0.5, 0, 255).astype(np.uint8)


def _rim_colour(colour: F32, difference: F32, solid: BoolMap, distance: F32,
                band: float) -> F32 | None:
    """For every pixel, the colour of the nearest rim pixel: within ``band`` of the outline,
    the pixel that differs most from the backdrop in its 5x5 neighbourhood (the thickest
    glass, nearest the body's own colour)."""
    strength = np.where(solid & (distance <= band), _norm(difference), 0).astype(np.float32)
    peak = cv2.dilate(strength, np.ones((5, 5), np.uint8))
    rim = (strength > 0) & (strength >= peak)
    if not rim.any():
        return None
    _, nearest = cv2.distanceTransformWithLabels((~rim).astype(np.uint8), cv2.DIST_L2, 3,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(rim)
    table = np.zeros((int(nearest.max()) + 1, 3), np.float32)
    table[nearest[ys, xs]] = colour[ys, xs]
    return np.asarray(table[nearest], np.float32)


def _grown(seeds: BoolMap, photo: RGB8, expected: F32, allowed: BoolMap,
           options: TranslucencyOptions) -> BoolMap:
    """``seeds`` grown over the connected ``allowed`` pixels of the ``expected`` colour (the
    photo median-filtered over 3x3, so that noise and JPEG blocks do not stop the growth; a
    5x5 median would also erase the 2 px line that parts a cap from the glass), then over the
    thin streaks of it lightened or darkened evenly (highlights, a shadow seen through) inside
    that body's convex hull."""
    smooth = cv2.medianBlur(np.ascontiguousarray(photo), 3).astype(np.float32) / 255
    shift = smooth - expected
    similar = allowed & (np.abs(shift).max(-1) <= options.grow_tolerance)
    body = _connected_to(seeds, similar)
    even = shift - shift.mean(-1, keepdims=True)
    # The hull reaches out by the rim band: the glass darkens as it thickens towards the rim.
    reach = 2 * int(options.rim_band) + 1
    hull = cv2.dilate(_hull(body).astype(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    lit = (allowed & ~similar & hull
           & (np.abs(even).max(-1) <= options.grow_tolerance)
           & (np.abs(shift.mean(-1)) <= options.light_shift))
    body |= _thin(_connected_to(body, lit | body) & lit, hull, options.light_width)
    closed = cv2.morphologyEx(body.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return (closed > 0) & allowed


def _connected_to(seeds: BoolMap, allowed: BoolMap) -> BoolMap:
    """``seeds`` with the connected pieces of ``allowed`` they touch."""
    _, labels = cv2.connectedComponents(allowed.astype(np.uint8), connectivity=8)
    touched = np.unique(labels[seeds & allowed])
    return seeds | np.isin(labels, touched[touched > 0])


def _hull(region: BoolMap) -> BoolMap:
    """The convex hull of ``region``, filled (from its outer outlines' points)."""
    outlines, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(region.shape, np.uint8)
    if outlines:
        cv2.fillConvexPoly(filled, cv2.convexHull(np.concatenate(outlines)), 1)
    return filled > 0


def _thin(pieces: BoolMap, whole: BoolMap, width: float) -> BoolMap:
    """The connected ``pieces`` whose widest point is at most ``width`` times ``whole``'s."""
    limit = width * float(depth(whole).max())
    count, found = cv2.connectedComponents(pieces.astype(np.uint8), connectivity=8)
    labels = np.asarray(found, np.int32)
    widest = np.zeros(count, np.float32)
    np.maximum.at(widest, labels[pieces], depth(pieces)[pieces])
    keep = widest <= limit
    keep[0] = False
    return np.asarray(keep[labels], np.bool_)


def _dot(a: F32, b: F32) -> F32:
    """Per-pixel dot product of two ``HxWx3`` maps."""
    return np.asarray(np.einsum("ijk,ijk->ij", a, b), np.float32)


def _norm(values: F32) -> F32:
    return np.sqrt(_dot(values, values))
