"""The hard product mask at working resolution, from a background model and a shadow model.

A pixel is *background-like* when its colour matches the fitted background within the noise, and
*shadow-like* when it is darker than the background but keeps the background's chromaticity (a
shadow scales the light falling on the sweep; it does not change its colour). Grey and near-white
products look exactly like shadows by colour alone; what tells them apart is their outline:
products have crisp edges, shadows fade out. So the background is grown from the frame through
background- and shadow-like pixels, and crisp edges stop the growth (so do straight outlines too
faint to see pixel by pixel, found by averaging the gradient along lines). Whatever it cannot
reach is product, except enclosed pockets that show the plain background (a mug handle). A pale
product's outline has short gaps the growth slips through; growing again with those gaps closed
seals such a body off, and a sealed region that is neither a hole nor plain backdrop is product
(or it is plain, but sits on the product's own shadow, or is a shaded island with a crisp
rim: wholly of the backdrop's colour, it is the backdrop seen through a thin, pale handle),
unless it is darker than the backdrop and fades into it (a patch of shadow cut off by a stray
line). A handle's hole can hide inside a region judged product as a whole, behind gaps in the
handle's inner outline; a pocket closed off by a long rim completed across a highlight, with
backdrop beyond the rim, is inside the product, not a hole through it. The growth starts
only from the stretches of the frame's border that are backdrop: a stretch between two
outlines meeting the frame is a product cut by the frame. A fringe of backdrop that
JPEG tinted next to a colourful product is peeled off last; straight slits through a striped
product are closed and faded specks of JPEG ringing dropped. Deep darkness is a dark product,
unless it is a wide, low band that fades into the floor (a contact shadow under a product
filling the frame); patches far brighter than the backdrop could be are lit product; a
handle sealed off together with its hole is product, and a shaded pocket outlined all round
is a hole even with some backdrop beyond a thin handle. A pocket with no outline round it is
shading, not a hole; a sealed region outlined nearly all round may show the backdrop's colour
in good part and still be product; and a thin sealed region along the frame counts the frame as
backdrop beyond it. A pale handle's hole whose inner outline faded is found by its colour
inside a region judged product, a thick hole outlined all round may lie deep in shadow, and a
shadow on mottled paper need only be darker in part. In a JPEG, the tinted fringe is looked for
up to a chroma block out. A product told from textured paper by its smoothness alone is grown
back to its edge, which the grain measure falls short of.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.bg_model import (
    BackgroundModel,
    fit_background,
    relative_residual,
    srgb_to_linear,
)

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass(frozen=True)
class CoarseOptions:
    denoise_sigma: float = 1.0
    """Gaussian blur (working pixels) before colour tests: sensor noise, JPEG, fine texture."""
    colour_tolerance: float = 4.0
    """Background-like if within this many noise deviations of the model."""
    shadow_min_ratio: float = 0.1
    """Darkest a shadow may be, as a share of the background's linear luminance."""
    chroma_floor: float = 0.006
    """Least chromaticity tolerance."""
    max_brightening: float = 2.5
    """Brightest a backdrop pixel may be relative to the model (uneven sweeps, hot spots)."""
    shadow_chroma_slack: float = 0.02
    """Extra chromaticity tolerance for shadow pixels (JPEG and sensor noise grow in the dark)."""
    edge_sharpness: float = 0.3
    """Gradient / local contrast ratio above which an edge counts as a crisp product outline."""
    edge_bridge: float = 0.16
    """Longest gap (share of the working long side) bridged along a straight horizontal outline
    (the rim of a white mug or jar, whose highlight meets a white backdrop)."""
    edge_bridge_long: float = 0.3
    """Longest gap bridged between two horizontal outline pieces that are each at least
    ``edge_bridge_piece`` long: a long rim is one line, however wide its highlight..."""
    edge_bridge_piece: float = 0.06
    """... (share of the working long side); shorter pieces (the top of a handle's arc) are
    not joined so far."""
    edge_bridge_vertical: float = 0.08
    """The same along vertical outlines: shorter, so a bag's vertical stripes are not joined to
    its handle."""
    edge_window: int = 7
    """Window (working pixels) over which an edge's contrast is measured."""
    line_length: int = 15
    """Working pixels along which the gradient is averaged to find faint straight outlines
    (a pale box's side against a pale, textured backdrop); 0 turns that search off."""
    line_orientations: int = 8
    """Directions searched for faint straight outlines (8: every 22.5 degrees)."""
    line_min_sine: float = 0.6
    """Only directions at least this steep (sine of the angle to the horizontal): nearly
    level faint edges are mostly the rims of contact shadows on the floor."""
    line_strength: float = 2.0
    """A faint outline's averaged gradient must be this many times the backdrop's 99th
    percentile of the same measure..."""
    line_min_step: float = 0.0053
    """... and at least this (an edge of about 3 levels in 8-bit: the quantisation steps of
    a smooth shadow are sharp too)."""
    line_min_extent: int = 20
    """Faint outlines shorter than this (working pixels) are noise or JPEG blocks."""
    smooth_ratio: float = 0.5
    """On a textured backdrop (paper grain, weave), thick regions with less than this share of
    the backdrop's fine texture are product surfaces, however close their colour..."""
    smooth_min_texture: float = 0.004
    """... when the backdrop's texture (relative fine-detail energy along the frame) is at
    least this; sensor noise alone stays below it, and it is on the product as well."""
    smooth_edge: int = 5
    """Working pixels the product grows back from such a smooth region over pixels of the
    backdrop's colour, up to an outline: the grain is measured over a few pixels, so the
    smooth region stops that short of an edge the paper's colour hides; 0: no growth."""
    dark_ratio: float = 0.4
    """Luminance ratio to the backdrop below which a thick region is not a shadow."""
    dark_window: float = 0.04
    """How thick (share of the working image's long side) such a region must be."""
    dark_band_thickness: float = 0.12
    """Such a region is still a shadow when it is a wide, low band (at least three times as
    wide as high) thinner than this (share of the long side) ...; 0: never..."""
    dark_band_soft: float = 0.3
    """... and at least this share of its rim (off the frame) fades into backdrop that the
    growth reaches from the frame (a contact shadow under a product filling the frame)."""
    fringe_steps: int = 6
    """Working pixels of tinted fringe the backdrop may take back next to the product."""
    fringe_chroma_factor: float = 3.0
    """How much looser than the shadow test the fringe's chromaticity test is."""
    jpeg_block: float = 0.0
    """Size (working pixels) of a JPEG chroma block when the photo shows JPEG's block seams,
    else 0. Chroma ringing fills the block that holds an edge, so the tinted fringe is then
    looked for up to a block from colourful pixels, not just ``fringe_steps``."""
    close_slits: int = 3
    """Slits of backdrop inside the product up to about twice this (working pixels) wide are
    filled."""
    stripe_slits: float = 0.03
    """Straight horizontal or vertical slits of backdrop inside the product up to this
    share of the long side wide are filled (pale stripes of a striped bag or shoe that the
    growth reached through a gap)."""
    faded_piece_share: float = 0.8
    """Pieces besides the largest are dropped when this share of them barely differs from
    the backdrop (JPEG ringing around a colourful product on a tinted backdrop)."""
    sliver_thickness: float = 0.03
    """Pieces touching the frame thinner than this (share of the long side) are backdrop:
    a sweep's horizon or a seam in the paper, not a product."""
    refit_below: float = 0.005
    """When less than this share of the frame is product, the backdrop is fitted again on the
    part of the border the first fit did not explain."""
    refit_min_share: float = 0.1
    """... if that part is at least this share of the border band."""
    min_component_share: float = 0.01
    """Drop product pieces smaller than this share of the largest piece (specks, dust)."""
    hole_ratio_tolerance: float = 0.4
    """A hole pixel may be this much darker than the backdrop (shadow inside a handle)."""
    hole_plain_share: float = 0.5
    """An enclosed pocket is a hole showing the backdrop if this share of it matches the model."""
    hole_backdrop_beyond: float = 0.07
    """An enclosed pocket with more backdrop than this share just beyond its outline is a pale
    product, not a hole: a hole (handle, strap) has product all around it."""
    hole_outlined_rim: float = 0.5
    """A shaded pocket with an outline along at least this share of its rim, on all four
    sides, ..."""
    hole_outlined_beyond: float = 0.15
    """... is a hole with up to this share of backdrop just beyond its outline: a thin
    handle's hole with a shadow across it shows the backdrop beyond the handle."""
    hole_min_outline: float = 0.1
    """An enclosed pocket is a hole only if an outline runs along at least this share of its
    rim: a hole shows the backdrop past the product's edge; a pocket with no outline round it
    is shading on the product (a soft grey band down a pale jar); 0: any pocket."""
    hole_outlined_thickness: float = 0.04
    """An enclosed pocket darker than a hole's shadow may be (less than ``hole_plain_share``
    of it within ``hole_ratio_tolerance``) is still a hole when it is thicker than this share
    of the long side and outlined all round (as ``hole_outlined_rim`` asks): a handle's hole
    deep in the wall's shadow, not a grey stripe or part of the product; 0: never."""
    gap_radius: int = 1
    """Gaps in a product outline up to about twice this (working pixels) do not leak."""
    reclaim_steps: int = 3
    """Working pixels the background may re-grow into the widened edge band."""
    sealed_gap: float = 0.035
    """Outline gaps up to about twice this (share of the working long side) are closed to find
    pale product that the backdrop leaked into; 0 turns the test off."""
    sealed_min_share: float = 0.0025
    """Sealed-off regions smaller than this share of the frame stay backdrop."""
    sealed_min_thickness: float = 0.02
    """So do thinner ones (share of the long side): slivers of shadow along a product."""
    sealed_soft_contact: float = 0.1
    """Thinner regions are still product when less than this share of their rim meets the
    backdrop without a crisp edge (the shaded side of a white bottle, not a shadow)."""
    sealed_island_beyond: float = 0.8
    """A sealed-off region of the backdrop's colour is still product when at least this share
    of what lies just beyond its outline is backdrop (a white mug alone on white)..."""
    sealed_island_soft: float = 0.3
    """... and less than this share of its rim meets the backdrop without a crisp edge (an
    outline with gaps, not a patch of backdrop that the gap closing happened to cut off)."""
    sealed_island_exact: float = 0.85
    """... and at most this share of it has the backdrop's exact colour: a product's body is
    shaded; a region almost wholly of the backdrop's colour is the backdrop seen through a
    hole framed by a thin, pale handle; 1: no limit."""
    sealed_outlined_soft: float = 0.15
    """A sealed-off region of the backdrop's colour is product, whatever lies beyond it, when
    it holds a hole, is not the backdrop's colour without it, and less than this share of its
    rim meets the backdrop without a crisp edge: a grey handle crossed by a highlight, sealed
    off together with the hole it frames; 0: never."""
    sealed_shadow_soft: float = 0.3
    """A sealed-off region darker than the backdrop is shadow, however thick, when at least
    this share of its rim meets the backdrop without a crisp edge; 0: never."""
    sealed_shadow_darker: float = 0.4
    """A region counts as darker there when more than this share of it is clearly darker than
    the backdrop (mottled paper leaves parts of a faint shadow within the backdrop's range)."""
    sealed_frame_share: float = 0.3
    """A sealed-off region thinner than twice ``sealed_min_thickness`` that runs along the
    frame: beyond the frame counts as backdrop in the tests of soft contact, and with at least
    this share of its rim on the frame (and not brighter than the backdrop) it is backdrop, a
    strip between the product and the frame closed off by the product's outlines completed
    to the frame; 0: the frame counts for nothing."""
    sealed_min_thickness_bright: float = 0.006
    """The same for regions brighter than the backdrop, which cannot be shadow."""
    inner_hole_rim: float = 0.3
    """A pocket inside a region judged product (a handle together with the hole it frames,
    joined through gaps in the handle's inner outline) is a hole when it is away from the
    backdrop outside, at least this share of its rim is outline and the outline runs along all
    four of its sides; 0: never."""
    sealed_max_exact: float = 0.3
    """A sealed-off region is product only if at most this share matches the backdrop exactly
    (a bay of plain backdrop between product parts is not)."""
    sealed_outlined_exact: float = 0.5
    """... or at most this share when an outline runs along at least ``sealed_outlined_rim``
    of its rim: a pale bottle's body shaded to the backdrop's colour down its middle, reached
    only through a gap at its neck, is no bay of the backdrop between product parts; 0: the
    same limit for all."""
    sealed_outlined_rim: float = 0.85
    """(See ``sealed_outlined_exact``.)"""
    hole_by_colour: float = 0.1
    """In a sealed-off region judged product where no outlined hole was found, a pocket of the
    backdrop's exact colour with no backdrop from outside near it and an outline along at
    least this share of its rim is a hole: a pale handle's hole whose inner outline faded
    where the handle's shading meets the backdrop's colour; 0: never."""
    pale_base_on_frame: bool = True
    """A stretch of the frame's border between two outlines with the backdrop's exact colour
    is still product when shadow lies just past one of its ends (a white sole cut by the
    frame, standing on its contact shadow)."""
    bright_patch: float = 0.2
    """Patches that the growth reached, away from the frame, at least this much brighter than
    the backdrop model (and than the backdrop around them) are product: the lit top of a mug
    under a dim sweep; 0: never."""


@dataclass(frozen=True)
class CoarseMask:
    product: BoolMap
    """True where the product is, at working resolution."""
    model: BackgroundModel
    background: F32
    """Modelled background colour, linear light, ``hxwx3``."""
    shadow_share: float
    """Share of the frame that was judged shadow (for metadata)."""


def coarse_mask(small: npt.NDArray[np.uint8], options: CoarseOptions,
                wanted: Callable[[BackgroundModel], bool] | None = None) -> CoarseMask:
    """Classify each pixel of the working-resolution image ``small`` (``hxwx3`` uint8 sRGB).

    ``wanted``, when given, is asked about the fitted backdrop first: if it says no (the
    learned provider's fusion gate: not a plain studio backdrop), the pixels are not classified
    and the mask comes back empty, since nobody will read it.
    """
    h, w = small.shape[:2]
    linear = srgb_to_linear(small)
    if options.denoise_sigma > 0:
        linear = np.asarray(cv2.GaussianBlur(linear, (0, 0), options.denoise_sigma), np.float32)
    model = fit_background(linear)
    background = np.maximum(model.predict_grid(h, w), 1e-3)
    if wanted is not None and not wanted(model):
        return CoarseMask(np.zeros((h, w), bool), model, background, 0.0)
    product, shadow_share = _classify(small, linear, background, options)
    if product.mean() < options.refit_below:
        # Nothing found: the "backdrop" may be a pale product filling most of the frame's
        # border. Fit the backdrop again on the rest of the border and keep that reading if it
        # finds a product.
        explained = relative_residual(linear, background) < max(3 * model.noise, 0.02)
        frame = _frame_band(h, w)
        rest = frame & ~explained
        if rest.sum() >= options.refit_min_share * frame.sum():
            other = fit_background(linear, exclude=explained)
            other_background = np.maximum(other.predict_grid(h, w), 1e-3)
            # A surface fitted on a short stretch of the border can run wild across the rest
            # of the frame; a backdrop stays within the photo's range of light.
            if float(other_background.max()) > 1.2 * max(float(linear.max()), 1e-3):
                return CoarseMask(product, model, background, shadow_share)
            other_product, other_shadow = _classify(small, linear, other_background, options)
            if options.refit_below <= other_product.mean() <= 1 - options.refit_below:
                return CoarseMask(other_product, other, other_background, other_shadow)
    return CoarseMask(product, model, background, shadow_share)


def _classify(small: npt.NDArray[np.uint8], linear: F32, background: F32,
              options: CoarseOptions) -> tuple[BoolMap, float]:
    h, w = small.shape[:2]
    ratio = np.asarray((linear @ _LUMA) / (background @ _LUMA), np.float32)
    chroma = _chromaticity(linear) - _chromaticity(background)
    chroma *= chroma
    chroma_dist = np.sqrt(chroma[..., 0] + chroma[..., 1] + chroma[..., 2])

    explained = np.abs(ratio - 1) < 0.05
    if explained.sum() < 20:
        explained = np.ones_like(explained)
    ratio_noise = float(1.4826 * np.median(np.abs(ratio[explained] - 1))) + 1e-4
    chroma_noise = float(1.4826 * np.median(chroma_dist[explained])) + 1e-4
    ratio_tol = max(options.colour_tolerance * ratio_noise, 0.02)
    # JPEG quantises a smooth backdrop into faint tinted bands: the tolerance must cover the
    # spread of the backdrop's chromaticity along the frame, not just its typical noise.
    frame = _frame_band(h, w) & explained
    # Where a product touches the frame with the backdrop's brightness but not its colour, it
    # is no sample of the backdrop's tint bands: leave out what is far off in chromaticity.
    frame &= chroma_dist < max(20 * chroma_noise, 0.01)
    spread = float(np.percentile(chroma_dist[frame], 97)) if frame.sum() > 20 else 0.0
    chroma_tol = max(options.colour_tolerance * chroma_noise, 1.25 * spread,
                     options.chroma_floor)

    background_like = (np.abs(ratio - 1) < ratio_tol) & (chroma_dist < chroma_tol)
    shadow_chroma_tol = chroma_tol + options.shadow_chroma_slack * np.abs(1 - ratio)
    # Darker with the backdrop's chromaticity: a shadow. Somewhat brighter with it: the sweep
    # or the light fall-off departs from the smooth model; both are backdrop if reachable.
    neutral = chroma_dist < shadow_chroma_tol
    shadow_like = (ratio < options.max_brightening) & (ratio > options.shadow_min_ratio) & neutral

    crisp, observed, faint, rims = _crisp_edges(small, background_like, options)
    # Deep darkness filling a whole neighbourhood is a dark product, not a shadow: cast shadows
    # are mild and the dark core of a contact shadow is thin, so only a product's body holds a
    # full window of it. Without this a dark product standing in its contact shadow would be
    # reached through that shadow and lost.
    window = max(5, round(options.dark_window * max(h, w))) | 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (window, window))
    dark = ((ratio < options.dark_ratio) & neutral).astype(np.uint8)
    dark_core = cv2.morphologyEx(dark, cv2.MORPH_OPEN, disk).astype(bool)
    outline = crisp | faint
    passable = (background_like | shadow_like) & ~outline
    smooth = np.zeros((h, w), bool)
    if options.smooth_ratio > 0:
        # A pale product on textured paper can match its colour exactly, but not its grain.
        smooth = _smoother_than_backdrop(small, background_like, options.smooth_ratio,
                                         options.smooth_min_texture)
        passable &= ~smooth
    # Open the passable region first so the growth cannot squeeze through small gaps in an
    # outline, then give the eroded rim back.
    gap = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * options.gap_radius + 1,) * 2)
    opened = cv2.erode((passable & ~dark_core).astype(np.uint8), gap,
                       borderType=cv2.BORDER_REPLICATE)
    darker = ratio < 1 - 3 * ratio_tol
    seeds = _frame_seeds(observed, background_like,
                         darker if options.pale_base_on_frame else None)
    if options.dark_band_thickness > 0 and dark_core.any():
        # The dark core of a contact shadow under a large product can be thick, but it is a
        # band that fades into the floor the growth reaches; a dark product, or the dark side
        # of a grey one, is thicker or fades into the product's own lighter shading.
        floor = _reclaim_edge_band(_frame_connected(opened.astype(bool), seeds),
                                   passable & ~dark_core, options.gap_radius + 1)
        dark_core &= ~_dark_shadow_bands(dark_core & ~outline, floor,
                                         options.dark_band_thickness * max(h, w),
                                         options.dark_band_soft)
        opened = cv2.erode((passable & ~dark_core).astype(np.uint8), gap,
                           borderType=cv2.BORDER_REPLICATE)
    passable &= ~dark_core
    # A hole shows the backdrop, often with some shadow in it, not darker than a mild shadow.
    plain = shadow_like & (ratio > 1 - max(3 * ratio_tol, options.hole_ratio_tolerance))
    sealed_radius = round(options.sealed_gap * max(h, w))
    reached = _reachable_background(opened.astype(bool), seeds, plain, background_like, outline,
                                    faint & ~crisp, rims, sealed_radius // 2, options)
    reached = _reclaim_edge_band(reached, passable, options.gap_radius + 1)
    if sealed_radius > options.gap_radius:
        brighter = ratio > 1 + 2 * ratio_tol
        reached &= ~_sealed_pockets(reached, passable, seeds, brighter, darker, background_like,
                                    outline, sealed_radius, options)
        if options.bright_patch > 0:
            # Far brighter than the backdrop model: lit product, not a hot spot on the sweep.
            lit = ratio > 1 + max(2 * ratio_tol, options.bright_patch)
            reached &= ~_bright_patches(reached, _frame_connected(reached, seeds), lit,
                                        round(options.sealed_min_share * reached.size))
    reached = _reclaim_edge_band(reached, background_like | shadow_like, options.reclaim_steps)
    # JPEG's chroma subsampling tints the backdrop next to a colourful product, so a fringe of
    # it fails the colour tests. Peel that fringe off with a looser colour test, only next to
    # colourful pixels (a pale product's body must not be peeled), never across a crisp
    # outline and only a few pixels deep.
    loose_tol = options.fringe_chroma_factor * shadow_chroma_tol
    colourful = (chroma_dist > loose_tol).astype(np.uint8)
    near_colour = cv2.dilate(colourful, cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * _fringe_reach(options) + 1,) * 2)).astype(bool)
    loose = ((ratio > options.shadow_min_ratio) & (ratio < options.max_brightening)
             & (chroma_dist < loose_tol))
    reached = _reclaim_edge_band(reached, loose & near_colour & ~crisp, options.fringe_steps)
    product = ~reached
    if options.smooth_edge > 0 and smooth.any():
        # The grain is measured over a few pixels: grow the smooth product back to its edge.
        grown = product & smooth
        for _ in range(options.smooth_edge):
            grown = (cv2.dilate(grown.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
                     & ~outline & background_like)
        product |= grown
    if dark_core.any():
        # Give back the dark product's rim that the window could not vouch for: pixels as
        # dark as the core next to them, up to half a window away.
        product = _grow_dark_product(product, dark_core, ratio, neutral, crisp, window // 2 + 1)
    if options.close_slits > 0:
        # A slit of backdrop a few pixels wide inside the product is the edge of a highlight
        # that the growth slipped along, not a real gap.
        slit = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * options.close_slits + 1,) * 2)
        product = cv2.morphologyEx(product.astype(np.uint8), cv2.MORPH_CLOSE, slit).astype(bool)
    if options.stripe_slits > 0:
        # Pale stripes of a striped product pass for backdrop and are reached through a gap in
        # its outline; close straight slits across them.
        length = round(options.stripe_slits * max(h, w)) | 1
        body = product.astype(np.uint8)
        product = np.maximum(
            cv2.morphologyEx(body, cv2.MORPH_CLOSE, np.ones((1, length), np.uint8)),
            cv2.morphologyEx(body, cv2.MORPH_CLOSE, np.ones((length, 1), np.uint8))).astype(bool)
    product = _drop_frame_slivers(product, options.sliver_thickness)
    product = _drop_specks(product, options.min_component_share)
    # A piece that is mostly near the backdrop's colour is JPEG ringing, unless it is the
    # product itself (a pale product is the largest piece).
    faded = (np.abs(ratio - 1) < 3 * ratio_tol) & (chroma_dist < loose_tol)
    product = _drop_faded_pieces(product, faded, options.faded_piece_share)
    shadow_share = float(np.mean(shadow_like & ~background_like & ~product))
    return product, shadow_share


def _fringe_reach(options: CoarseOptions) -> int:
    """How far (working pixels) from a colourful pixel JPEG may have tinted the backdrop."""
    reach = options.fringe_steps + 1
    if options.jpeg_block > 0:
        # Chroma is coded in blocks (16 px for 4:2:0): ringing fills the block that holds the
        # edge, so it reaches up to a block beyond it (and the outline sits a pixel or two off).
        reach = max(reach, int(np.ceil(options.jpeg_block)) + 2)
    return reach


def _smoother_than_backdrop(small: npt.NDArray[np.uint8], background_like: BoolMap,
                            ratio: float, min_texture: float) -> BoolMap:
    """Thick regions much smoother than the backdrop's own texture (paper grain, weave)."""
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    base = cv2.GaussianBlur(grey, (0, 0), 1.0)
    detail = grey - base
    energy = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), 2.5))
    relative = energy / (base + 0.02)
    h, w = grey.shape
    frame = _frame_band(h, w) & background_like
    if frame.sum() < 50:
        return np.zeros((h, w), bool)
    texture = float(np.median(relative[frame]))
    if texture < min_texture:
        return np.zeros((h, w), bool)
    smooth = (relative < ratio * texture).astype(np.uint8)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    return cv2.morphologyEx(smooth, cv2.MORPH_OPEN, disk).astype(bool)


def _frame_band(h: int, w: int, fraction: float = 0.03) -> BoolMap:
    """The band along the frame's four sides, ``fraction`` of the short side deep."""
    band = max(1, round(fraction * min(h, w)))
    frame = np.zeros((h, w), bool)
    frame[:band] = frame[-band:] = True
    frame[:, :band] = frame[:, -band:] = True
    return frame


def _chromaticity(linear: F32) -> F32:
    # Channel by channel: numpy's reductions over a last axis of 3 are slow.
    total = linear[..., 0] + linear[..., 1] + linear[..., 2] + 1e-4
    return np.asarray(linear / total[..., None], np.float32)


def _crisp_edges(small: npt.NDArray[np.uint8], background_like: BoolMap,
                 options: CoarseOptions) -> tuple[BoolMap, BoolMap, BoolMap, BoolMap]:
    """Edges that are sharp for their contrast (product outlines), above background texture.

    Returns the outline map with straight gaps bridged; the edges as observed (without the
    bridges: where an outline meets the frame is a fact, not a guess); the faint straight
    outlines that only show when the gradient is averaged along a line; and the long rims
    completed across gaps wider than the ordinary bridges."""
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    grey = np.asarray(cv2.GaussianBlur(grey, (0, 0), 0.7), np.float32)
    gx = np.asarray(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, scale=0.125), np.float32)
    gy = np.asarray(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, scale=0.125), np.float32)
    gradient = np.sqrt(gx * gx + gy * gy)
    kernel = np.ones((options.edge_window, options.edge_window), np.uint8)
    contrast = cv2.dilate(grey, kernel) - cv2.erode(grey, kernel)
    sharpness = gradient / (contrast + 1e-3)
    # Background texture and noise set the floor: an outline must stand out of it.
    texture = float(np.percentile(contrast[background_like], 95)) if background_like.any() else 0.0
    floor = max(1.5 * texture, 0.012)
    sharp = sharpness > options.edge_sharpness
    strong = sharp & (contrast > floor)
    # Hysteresis: weaker sharp edges count where they continue a strong outline (the bottom of a
    # product standing in its own contact shadow has less contrast than its sides).
    weak = sharp & (contrast > max(0.4 * floor, 0.006))
    count, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    anchored = np.zeros(count, bool)
    anchored[np.unique(labels[strong])] = True
    anchored[0] = False
    crisp = anchored[labels].astype(np.uint8)
    faint = np.zeros(crisp.shape, bool)
    if options.line_length > 1:
        faint = cv2.dilate(_faint_straight_edges(gx, gy, background_like, options),
                           np.ones((3, 3), np.uint8)).astype(bool)
    observed = cv2.dilate(crisp, np.ones((3, 3), np.uint8)).astype(bool)
    bridge = round(options.edge_bridge * max(grey.shape))
    bridge_vertical = round(options.edge_bridge_vertical * max(grey.shape))
    seen = crisp.copy()
    if bridge > 2:
        crisp |= _bridge_straight_edges(crisp, gx, gy, bridge, bridge_vertical)
    rims = np.zeros(crisp.shape, bool)
    long_bridge = round(options.edge_bridge_long * max(grey.shape))
    if long_bridge > max(bridge, 2):
        joined = _bridge_long_rims(seen, gx, gy, long_bridge,
                                   round(options.edge_bridge_piece * max(grey.shape)))
        # Only where no outline runs nearby: gaps wider than the ordinary bridges close.
        rims = (joined > 0) & (cv2.dilate(crisp, np.ones((5, 5), np.uint8)) == 0)
        crisp |= joined
    closed = cv2.dilate(crisp, np.ones((3, 3), np.uint8))
    return closed.astype(bool), observed, faint, rims


def _half_line_kernel(theta: float, length: int) -> tuple[npt.NDArray[np.float32], tuple[int, int]]:
    """An averaging kernel along direction ``theta`` from the anchor pixel, ``length`` long."""
    dx, dy = np.cos(theta), np.sin(theta)
    steps = np.arange(length)
    xs, ys = np.round(steps * dx).astype(int), np.round(steps * dy).astype(int)
    x0, y0 = xs.min(), ys.min()
    kernel = np.zeros((ys.max() - y0 + 1, xs.max() - x0 + 1), np.float32)
    kernel[ys - y0, xs - x0] = 1
    return np.asarray(kernel / kernel.sum(), np.float32), (int(-x0), int(-y0))


def _faint_straight_edges(gx: F32, gy: F32, background_like: BoolMap, options: CoarseOptions
                          ) -> npt.NDArray[np.uint8]:
    """Straight outlines too faint for the pixel-wise test, found by averaging along lines.

    The gradient across each of several directions is averaged along it, separately ahead of
    and behind each pixel: both halves must agree, so a line stops where the outline stops
    instead of running on past a corner.
    """
    found = np.zeros(gx.shape, np.uint8)
    sample = background_like[::3, ::3]
    if sample.sum() < 100:
        return found
    half = options.line_length // 2 + 1
    for i in range(options.line_orientations):
        theta = np.pi * i / options.line_orientations
        if abs(np.sin(theta)) < options.line_min_sine:
            continue
        across = np.asarray(np.cos(theta) * gy - np.sin(theta) * gx, np.float32)
        kernel, anchor = _half_line_kernel(theta, half)
        ahead = cv2.filter2D(across, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REPLICATE)
        kernel, anchor = _half_line_kernel(theta + np.pi, half)
        behind = cv2.filter2D(across, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REPLICATE)
        agreed = np.where(ahead * behind > 0, np.minimum(np.abs(ahead), np.abs(behind)), 0)
        # Sharp for its contrast: most of the change across happens at this pixel.
        centred = _centred_line_kernel(theta + np.pi / 2, options.edge_window)
        change = np.abs(cv2.filter2D((ahead + behind) * 0.5, -1, centred,
                                     borderType=cv2.BORDER_REPLICATE)) * options.edge_window
        # 8-bit steps of a smooth shadow are sharp too: an outline must span a few levels.
        floor = max(float(np.percentile(agreed[::3, ::3][sample], 99)),
                    options.line_min_step / options.line_strength)
        found |= ((agreed > options.line_strength * floor)
                  & (agreed > options.edge_sharpness * (change + 1e-3))).astype(np.uint8)
    # Noise and JPEG blocks give short pieces; an outline runs on.
    _, labels, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=8)
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    keep = extent >= options.line_min_extent
    keep[0] = False
    return np.asarray(keep[labels], np.uint8)


def _centred_line_kernel(theta: float, length: int) -> npt.NDArray[np.float32]:
    """An averaging kernel along direction ``theta`` centred on the anchor pixel."""
    centre = length // 2
    steps = np.arange(length) - centre
    kernel = np.zeros((length, length), np.float32)
    kernel[np.round(centre + steps * np.sin(theta)).astype(int),
           np.round(centre + steps * np.cos(theta)).astype(int)] = 1
    return np.asarray(kernel / kernel.sum(), np.float32)


def _bridge_straight_edges(crisp: npt.NDArray[np.uint8], gx: F32, gy: F32, length: int,
                           length_vertical: int) -> npt.NDArray[np.uint8]:
    """Join collinear pieces of horizontal and of vertical outline across a gap.

    A white product's outline vanishes where its highlight meets a white backdrop (the middle
    of a mug's rim); the eye completes the straight line, and so does this. Only pieces running
    along the bridging direction are joined, so the inside of a handle is not closed over.
    """
    horizontal = _line_pieces(crisp, gx, gy, horizontal=True)
    vertical = _line_pieces(crisp, gx, gy, horizontal=False)
    joined_h = cv2.morphologyEx(horizontal, cv2.MORPH_CLOSE, np.ones((1, length), np.uint8))
    joined_v = cv2.morphologyEx(vertical, cv2.MORPH_CLOSE,
                                np.ones((max(length_vertical, 1), 1), np.uint8))
    return np.asarray(np.maximum(joined_h, joined_v), np.uint8)


def _line_pieces(crisp: npt.NDArray[np.uint8], gx: F32, gy: F32, horizontal: bool
                 ) -> npt.NDArray[np.uint8]:
    """The outline pixels running horizontally (or vertically), thickened across the line so
    slightly slanted or stepped pieces share a row (or column)."""
    along, across = (np.abs(gy), np.abs(gx)) if horizontal else (np.abs(gx), np.abs(gy))
    pieces = (crisp & (along > 2 * across)).astype(np.uint8)
    kernel = np.ones((3, 1) if horizontal else (1, 3), np.uint8)
    return np.asarray(cv2.dilate(pieces, kernel), np.uint8)


def _bridge_long_rims(crisp: npt.NDArray[np.uint8], gx: F32, gy: F32, length: int,
                      min_piece: int) -> npt.NDArray[np.uint8]:
    """Join long collinear pieces of horizontal outline across a wide gap (a white mug's rim
    whose highlight band, as wide as the gap, meets a white backdrop); only the joins."""
    horizontal = _line_pieces(crisp, gx, gy, horizontal=True)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(horizontal, connectivity=8)
    # Long thin lines only: a thick pile of short pieces (the inside of a handle) is no rim.
    width, height = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    long_enough = (width >= min_piece) & (height <= np.maximum(6, width // 8))
    long_enough[0] = False
    pieces = long_enough[labels].astype(np.uint8)
    # Zero beyond the frame: a piece must not be drawn on to the frame's edge.
    joined = cv2.morphologyEx(pieces, cv2.MORPH_CLOSE, np.ones((1, length), np.uint8),
                              borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray((joined > 0) & (pieces == 0), np.uint8)


def _reachable_background(passable: BoolMap, seeds: BoolMap, background_like: BoolMap,
                          exact: BoolMap, crisp: BoolMap, faint: BoolMap, rims: BoolMap,
                          inner_gap: int, options: CoarseOptions, ring: int = 10) -> BoolMap:
    """Passable regions connected to the frame, plus holes through the product.

    An enclosed pocket that looks like the backdrop is a hole (mug handle, bag strap) when the
    product surrounds it. When the backdrop itself lies just beyond the pocket's outline, the
    pocket is a pale product standing on the backdrop (a white carton), not a hole. A pocket
    that shows the backdrop's exact colour needs product only in a narrower ring around it: a
    thin handle has the backdrop again just beyond it.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        passable.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros_like(passable)
    is_background = np.zeros(count, bool)
    is_background[np.unique(labels[seeds])] = True
    is_background[0] = False
    frame_background = is_background[labels]
    sizes = stats[:, cv2.CC_STAT_AREA]
    plain = np.bincount(labels.ravel(), weights=background_like.ravel(), minlength=count)
    min_hole = max(4, passable.size // 20_000)
    plain_enough = plain >= options.hole_plain_share * sizes
    candidates = np.nonzero(~is_background & (sizes >= min_hole)
                            & (plain_enough | (options.hole_outlined_thickness > 0)))
    exact_share = np.bincount(labels.ravel(), weights=exact.ravel(), minlength=count)
    h, w = passable.shape
    for label in candidates[0]:
        if label == 0:
            continue
        width = 3 if exact_share[label] >= 0.5 * sizes[label] else ring
        x0, y0, x1, y1 = _padded_box(stats[label], ring + 1, h, w)
        pocket = (labels[y0:y1, x0:x1] == label).astype(np.uint8)
        # Mostly darker than any shadow in a hole: a hole only if thick and outlined all
        # round (the wall's shadow through a handle), not a grey stripe or part.
        if not plain_enough[label] and (
                _thickness(pocket > 0) < options.hole_outlined_thickness * max(h, w)
                or not _outlined_all_round(pocket > 0, crisp[y0:y1, x0:x1],
                                           options.hole_outlined_rim)):
            continue
        # A pocket of the exact colour is looked at in a narrow ring, with the plain limit.
        beyond_limit = (options.hole_backdrop_beyond if width < ring
                        else _hole_beyond_limit(pocket > 0, crisp[y0:y1, x0:x1], options))
        if width < ring:
            # A pocket bounded in good part by faint outlines is a part of a pale product
            # (between a bottle's highlight and its side), not a thin handle's hole.
            rim = _outer_rim(pocket > 0, 2)
            if np.mean(faint[y0:y1, x0:x1][rim]) > 0.2:
                width = ring
        # A pocket closed off by a long rim completed across a gap, with the backdrop beyond
        # that rim, is inside the product (a highlight band running down a white mug), not a
        # hole through it.
        if _closed_by_rim(pocket > 0, rims[y0:y1, x0:x1], frame_background[y0:y1, x0:x1]):
            continue
        # A hole shows the backdrop past the product's edge; a pocket with no outline round
        # it is shading on the product.
        if (options.hole_min_outline > 0
                and np.mean(crisp[y0:y1, x0:x1][_outer_rim(pocket > 0, 3)])
                < options.hole_min_outline):
            continue
        # Look past the outline itself: what lies beyond it, product or backdrop?
        kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
        around = (cv2.dilate(pocket, kernel) > 0) & (pocket == 0) & ~crisp[y0:y1, x0:x1]
        if not around.any() or np.mean(frame_background[y0:y1, x0:x1][around]) < beyond_limit:
            is_background[label] = True
    reached = np.asarray(is_background[labels], bool)
    if options.inner_hole_rim > 0 and inner_gap > 0:
        for label in candidates[0]:
            if label == 0 or is_background[label]:
                continue
            x0, y0, x1, y1 = _padded_box(stats[label], ring + 1, h, w)
            reached[y0:y1, x0:x1] |= _holes_within(
                labels[y0:y1, x0:x1] == label, crisp[y0:y1, x0:x1],
                frame_background[y0:y1, x0:x1], options.inner_hole_rim, inner_gap)
    return reached


def _closed_by_rim(pocket: BoolMap, rims: BoolMap, backdrop: BoolMap, reach: int = 10
                   ) -> bool:
    """Whether a completed rim closes ``pocket`` off from the ``backdrop`` along a good
    stretch (at least a third of the pocket's width)."""
    touching = (cv2.dilate(pocket.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0) & rims
    ys, xs = np.nonzero(touching)
    if len(xs) == 0 or len(np.unique(xs)) < np.ptp(np.nonzero(pocket)[1]) / 3:
        return False
    h = pocket.shape[0]
    up, down = np.clip(ys - reach, 0, h - 1), np.clip(ys + reach, 0, h - 1)
    # Look across the rim, on the side away from the pocket.
    beyond = np.where(pocket[up, xs], down, up)
    return bool(np.mean(backdrop[beyond, xs]) > 0.5)


def _sealed_pockets(reached: BoolMap, passable: BoolMap, seeds: BoolMap, brighter: BoolMap,
                    darker: BoolMap, exact: BoolMap, crisp: BoolMap, radius: int,
                    options: CoarseOptions) -> BoolMap:
    """Regions the background reached only through a short gap in an outline, that are product.

    The outline of a pale product standing on a pale backdrop has small gaps (corners, where a
    highlight meets the backdrop) that the growth slips through. Growing again with wider gaps
    closed seals such a region off; it is product when it is not a hole (backdrop lies beyond
    its outline), not a sliver of shadow (thin, fading into the backdrop), and either its
    pixels do not match the backdrop exactly (a product's shaded body, not a bay of the
    backdrop itself) or it is a pale base on its own shadow or an island with a crisp rim.
    """
    gap = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    opened = cv2.erode(passable.astype(np.uint8), gap, borderType=cv2.BORDER_REPLICATE)
    # Only what joins the frame: pockets sealed off here are judged below, on their full extent
    # (the hole test above would look no further than the eroded rim).
    wide = _reclaim_edge_band(_frame_connected(opened.astype(bool), seeds), passable,
                              radius + 1)
    sealed = (reached & ~wide).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(sealed, connectivity=4)
    result = np.zeros_like(reached)
    if count <= 1:
        return result
    min_size = max(16, round(options.sealed_min_share * reached.size))
    ring = 10
    kernel = np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)
    h, w = reached.shape
    min_thickness = options.sealed_min_thickness * max(h, w)
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] < min_size:
            continue
        x0, y0, x1, y1 = _padded_box(stats[label], ring + 1, h, w)
        region = labels[y0:y1, x0:x1] == label
        # Shadows are darker than the backdrop; a thin region brighter than it (a white sole
        # on a grey sweep) is no shadow, so it need not be thick to be product.
        if np.mean(brighter[y0:y1, x0:x1][region]) > 0.5:
            needed = options.sealed_min_thickness_bright * max(h, w)
        else:
            needed = min_thickness
        thickness = _thickness(region)
        # Past the frame there is only backdrop as far as a thin region along it can tell: a
        # strip between the product and the frame, closed off by the product's outlines run
        # on to the frame, is backdrop.
        frame = ((y0 == 0, y1 == h, x0 == 0, x1 == w)
                 if options.sealed_frame_share > 0 and thickness < 2 * min_thickness
                 else (False,) * 4)
        if (any(frame) and np.mean(brighter[y0:y1, x0:x1][region]) <= 0.5
                and _rim_share_on_frame(region, frame) >= options.sealed_frame_share):
            continue
        if thickness < needed and _touches_backdrop_softly(
                region, wide[y0:y1, x0:x1], crisp[y0:y1, x0:x1], options.sealed_soft_contact,
                frame):
            continue
        # A patch of shadow cut off by a stray straight outline still fades into the backdrop
        # along much of its rim, however thick it is.
        if (options.sealed_shadow_soft > 0
                and np.mean(darker[y0:y1, x0:x1][region]) > options.sealed_shadow_darker
                and _touches_backdrop_softly(region, wide[y0:y1, x0:x1], crisp[y0:y1, x0:x1],
                                             options.sealed_shadow_soft, frame)):
            continue
        around = ((cv2.dilate(region.astype(np.uint8), kernel) > 0) & ~region
                  & ~crisp[y0:y1, x0:x1] & ~sealed[y0:y1, x0:x1].astype(bool))
        if not around.any():
            continue
        beyond = float(np.mean(wide[y0:y1, x0:x1][around]))
        if beyond < _hole_beyond_limit(region, crisp[y0:y1, x0:x1], options):
            continue  # product all around it: a hole, not a body
        # Much of it has the backdrop's exact colour: a bay of backdrop between product parts,
        # unless it is a pale product's base (product above, its shadow below) or an island:
        # an almost closed crisp outline with backdrop nearly all around is an object, if it
        # is shaded somewhere (the hole of a thin, pale handle is the backdrop throughout).
        exact_share = float(np.mean(exact[y0:y1, x0:x1][region]))
        island = (beyond >= options.sealed_island_beyond
                  and exact_share <= options.sealed_island_exact
                  and not _touches_backdrop_softly(region, wide[y0:y1, x0:x1],
                                                   crisp[y0:y1, x0:x1],
                                                   options.sealed_island_soft))
        holes = np.zeros_like(region)
        if options.inner_hole_rim > 0:
            holes = _holes_within(region, crisp[y0:y1, x0:x1], wide[y0:y1, x0:x1],
                                  options.inner_hole_rim, radius // 2)
        # A handle sealed off together with the hole it frames: outlined all round, and
        # without its hole it is not the backdrop's colour.
        handle = (options.sealed_outlined_soft > 0 and holes.any()
                  and np.mean(exact[y0:y1, x0:x1][region & ~holes]) <= options.sealed_max_exact
                  and not _touches_backdrop_softly(region, wide[y0:y1, x0:x1],
                                                   crisp[y0:y1, x0:x1],
                                                   options.sealed_outlined_soft))
        max_exact = options.sealed_max_exact
        if (options.sealed_outlined_exact > 0 and np.mean(
                crisp[y0:y1, x0:x1][_outer_rim(region, 1)]) >= options.sealed_outlined_rim):
            max_exact = options.sealed_outlined_exact
        if (exact_share > max_exact
                and not island and not handle
                and not _between_product_and_shadow(region, reached[y0:y1, x0:x1],
                                                    darker[y0:y1, x0:x1],
                                                    crisp[y0:y1, x0:x1])):
            continue
        if not holes.any() and options.hole_by_colour > 0:
            holes = _backdrop_coloured_holes(region, exact[y0:y1, x0:x1], crisp[y0:y1, x0:x1],
                                             wide[y0:y1, x0:x1], radius // 2,
                                             options.hole_by_colour)
        region &= ~holes
        result[y0:y1, x0:x1] |= region
    return result


def _bright_patches(reached: BoolMap, backdrop: BoolMap, brighter: BoolMap, min_size: int,
                    ring: int = 15, frame_share: float = 0.01) -> BoolMap:
    """Thick patches of reached pixels brighter than the backdrop model, away from the frame,
    where the ``backdrop`` around them is not as bright (a hole in a bright spot of the
    backdrop is as bright as the backdrop beside the product)."""
    patch = cv2.morphologyEx((reached & brighter).astype(np.uint8), cv2.MORPH_OPEN,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(patch, connectivity=4)
    result = np.zeros_like(reached)
    h, w = reached.shape
    on_frame = np.bincount(labels[_frame_band(h, w)], minlength=count)
    for label in range(1, count):
        area = stats[label, cv2.CC_STAT_AREA]
        if area < min_size or on_frame[label] > frame_share * area:
            continue
        x0, y0, x1, y1 = _padded_box(stats[label], ring + 1, h, w)
        region = labels[y0:y1, x0:x1] == label
        around = _outer_rim(region, ring) & backdrop[y0:y1, x0:x1]
        if around.any() and np.mean(brighter[y0:y1, x0:x1][around]) >= 0.5:
            continue
        result[y0:y1, x0:x1] |= region
    return result


def _dark_shadow_bands(dark: BoolMap, fading: BoolMap, thickness: float, soft: float
                       ) -> BoolMap:
    """Wide, low pieces of ``dark`` thinner than ``thickness`` that fade into ``fading`` pixels
    along at least ``soft`` of their rim (the frame's edge not counted)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark.astype(np.uint8),
                                                               connectivity=4)
    result = np.zeros_like(dark)
    h, w = dark.shape
    for label in range(1, count):
        # A shadow on the floor lies flat: a wide, low band.
        if stats[label, cv2.CC_STAT_WIDTH] < 3 * stats[label, cv2.CC_STAT_HEIGHT]:
            continue
        x0, y0, x1, y1 = _padded_box(stats[label], 2, h, w)
        region = labels[y0:y1, x0:x1] == label
        if _thickness(region) >= thickness:
            continue
        rim = _outer_rim(region, 1)
        if rim.any() and np.mean(fading[y0:y1, x0:x1][rim]) >= soft:
            result[y0:y1, x0:x1] |= region
    return result


def _holes_within(region: BoolMap, crisp: BoolMap, wide: BoolMap, rim_share: float, gap: int
                  ) -> BoolMap:
    """Holes inside a region judged product as a whole: the hole of a handle.

    When a handle's inner outline has gaps, the handle and the hole it frames form one region
    (with the body too, if the region was sealed off). The hole still shows the backdrop,
    perhaps shaded; it is cut off from the rest once the gaps of its outline (up to about
    twice ``gap``) are closed, has no backdrop from outside around it, and is bounded in good
    part by an outline on all sides: a highlight on a pale product fades into its shading.
    """
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1,) * 2)
    unmarked = (region & ~crisp).astype(np.uint8)
    cores = cv2.erode(unmarked, disk)
    count, labels = cv2.connectedComponents(cores, connectivity=4)
    holes = np.zeros_like(region)
    total = int(region.sum())
    for label in range(1, count):
        # Only as far as the disk reaches: an opening, so nothing flows out through a gap.
        pocket = (cv2.dilate((labels == label).astype(np.uint8), disk) > 0) & (unmarked > 0)
        area = int(pocket.sum())
        if area < max(16, 0.05 * total) or area > 0.9 * total:
            continue
        ring = _outer_rim(pocket, gap + 1)
        if not ring.any() or np.mean(wide[ring]) > 0.02:
            continue
        if _outlined_all_round(pocket, crisp, rim_share):
            holes |= pocket
    return holes


def _backdrop_coloured_holes(region: BoolMap, exact: BoolMap, crisp: BoolMap, wide: BoolMap,
                             gap: int, outline_share: float) -> BoolMap:
    """Pockets of the backdrop's exact colour inside a region judged product, away from the
    backdrop outside and partly outlined: the hole of a pale handle whose inner outline has
    faded where the handle's shading meets it."""
    pale = cv2.morphologyEx((region & exact & ~crisp).astype(np.uint8), cv2.MORPH_OPEN,
                            np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(pale, connectivity=4)
    holes = np.zeros_like(region)
    total = int(region.sum())
    for label in range(1, count):
        area = int(stats[label, cv2.CC_STAT_AREA])
        if area < max(16, 0.05 * total) or area > 0.7 * total:
            continue
        pocket = labels == label
        ring = _outer_rim(pocket, gap + 1)
        if not ring.any() or np.mean(wide[ring]) > 0.02:
            continue
        if np.mean(crisp[_outer_rim(pocket, 3)]) >= outline_share:
            holes |= pocket
    return holes


def _hole_beyond_limit(pocket: BoolMap, outline: BoolMap, options: CoarseOptions) -> float:
    """The most backdrop that may lie just beyond a hole's outline: more for a pocket outlined
    all round, since a thin handle's hole with a shadow across it shows the backdrop beyond
    the handle."""
    if _outlined_all_round(pocket, outline, options.hole_outlined_rim):
        return options.hole_outlined_beyond
    return options.hole_backdrop_beyond


def _outlined_all_round(pocket: BoolMap, outline: BoolMap, share: float) -> bool:
    """Whether an outline runs along at least ``share`` of ``pocket``'s rim and along all four
    of its sides (a handle's hole; a pale product's shaded part fades into it somewhere);
    ``share`` 0: never."""
    if share <= 0:
        return False
    rim = _outer_rim(pocket, 3)
    return bool(np.mean(outline[rim]) >= share and _enclosed_by(pocket, rim, outline))


def _enclosed_by(pocket: BoolMap, rim: BoolMap, outline: BoolMap, share: float = 0.25
                 ) -> bool:
    """Whether ``outline`` runs along the ``rim`` of ``pocket`` on all four of its sides (up,
    down, left and right as seen from its centre), as around a hole, not just along one side
    as beside a pale product's shaded edge."""
    ys, xs = np.nonzero(pocket)
    rys, rxs = np.nonzero(rim)
    dy, dx = rys - ys.mean(), rxs - xs.mean()
    sector = np.where(np.abs(dx) >= np.abs(dy), np.where(dx >= 0, 0, 1), np.where(dy >= 0, 2, 3))
    on_outline = outline[rys, rxs]
    return all((sector == side).any() and np.mean(on_outline[sector == side]) >= share
               for side in range(4))


def _touches_backdrop_softly(region: BoolMap, wide: BoolMap, crisp: BoolMap, share: float,
                             frame: tuple[bool, bool, bool, bool] = (False,) * 4) -> bool:
    """Whether much of ``region``'s rim meets the backdrop with no crisp edge between.

    A sliver of shadow along a product fades into the backdrop along its outer side; the shaded
    side of a pale product is bounded there by the product's crisp outline. ``frame`` says
    which sides (top, bottom, left, right) of these crops are the photo's frame, to be counted
    as backdrop beyond it.
    """
    if any(frame):
        pad = _frame_pad(frame)
        region = np.pad(region, pad)
        wide = np.pad(wide, pad, constant_values=True)
        crisp = np.pad(crisp, pad)
    rim = _outer_rim(region, 1)
    return bool(rim.any() and np.mean(wide[rim] & ~crisp[rim]) >= share)


def _frame_pad(frame: tuple[bool, bool, bool, bool]) -> tuple[tuple[int, int], ...]:
    """``np.pad`` widths adding a pixel beyond each side of a crop that is the photo's frame
    (top, bottom, left, right)."""
    return ((int(frame[0]), int(frame[1])), (int(frame[2]), int(frame[3])))


def _rim_share_on_frame(region: BoolMap, frame: tuple[bool, bool, bool, bool]) -> float:
    """Share of ``region``'s rim that lies beyond the photo's frame (``frame`` as for
    :func:`_touches_backdrop_softly`)."""
    pad = _frame_pad(frame)
    rim = _outer_rim(np.pad(region, pad), 1)
    beyond = np.pad(np.zeros_like(region), pad, constant_values=True)
    return float(np.mean(beyond[rim])) if rim.any() else 0.0


def _between_product_and_shadow(region: BoolMap, reached: BoolMap, darker: BoolMap,
                                crisp: BoolMap, reach: int = 8) -> bool:
    """Whether ``region`` has product just above it and shadow just below it.

    A contact shadow touches what casts it: a strip of the backdrop's own colour with product
    above and shadow right below is the product's pale base (a white sole on a white floor),
    not floor showing between the product and its shadow.
    """
    above = np.zeros_like(region)
    for shift in range(2, reach + 1):
        above[:-shift] |= region[shift:]
    above &= ~region
    # The region's lower rim, and whether shadow lies within reach below each of its pixels.
    bottom = region.copy()
    bottom[:-1] &= ~region[1:]
    shadow = darker & reached & ~crisp
    shaded = np.zeros_like(region)
    for shift in range(1, reach + 1):
        shaded[:-shift] |= shadow[shift:]
    if above.sum() < 4 or bottom.sum() < 4:
        return False
    # The shadow is backdrop that the growth reached; a dark product part below (the lower
    # arc of a handle around a hole) is not.
    return bool(np.mean(~reached[above]) > 0.5 and np.mean(shaded[bottom]) > 0.65)


def _padded_box(stats: npt.NDArray[np.int32], pad: int, h: int, w: int
                ) -> tuple[int, int, int, int]:
    """A component's bounding box (a row of OpenCV's stats) grown by ``pad``, within the
    frame: x0, y0, x1, y1."""
    x, y, bw, bh = (int(v) for v in stats[:4])
    return max(0, x - pad), max(0, y - pad), min(w, x + bw + pad), min(h, y + bh + pad)


def _outer_rim(region: BoolMap, width: int) -> BoolMap:
    """The pixels within ``width`` (a square's half side) outside ``region``."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return np.asarray((cv2.dilate(region.astype(np.uint8), kernel) > 0) & ~region, bool)


def _frame_seeds(crisp: BoolMap, exact: BoolMap, darker: BoolMap | None = None,
                 exact_share: float = 0.9, reach: int = 8) -> BoolMap:
    """The frame's border pixels from which the backdrop may grow inwards.

    The border is cut into stretches where crisp outlines meet it. A stretch that holds a
    corner of the frame is backdrop (a product rarely fills a corner); a stretch between two
    outlines is where a product is cut by the frame unless it has the backdrop's exact colour
    throughout (a white mug running off the bottom of the frame is pale and shaded, not plain),
    or it has shadow (``darker``) just past one of its ends: a pale base on its shadow.
    """
    h, w = crisp.shape
    ys = np.concatenate([np.zeros(w, int), np.arange(h), np.full(w, h - 1), np.arange(h)[::-1]])
    xs = np.concatenate([np.arange(w), np.full(h, w - 1), np.arange(w)[::-1], np.zeros(h, int)])
    corners = np.zeros(len(ys), bool)
    corners[[0, w - 1, w, w + h - 1, w + h, 2 * w + h - 1, 2 * w + h, 2 * w + 2 * h - 1]] = True
    hits = crisp[ys, xs]
    seeds = np.zeros((h, w), bool)
    if not hits.any():
        seeds[ys, xs] = True
        return seeds
    # Walk the border loop from a crisp hit so no stretch wraps around the start.
    start = int(np.argmax(hits))
    order = np.roll(np.arange(len(ys)), -start)
    stretch = np.cumsum(hits[order])  # stretch index, changes at every crisp pixel
    stretch[hits[order]] = -1
    n = len(order)
    for label in np.unique(stretch[stretch >= 0]):
        where = np.nonzero(stretch == label)[0]
        members = order[where]
        if corners[members].any():
            seeds[ys[members], xs[members]] = True
        elif exact[ys[members], xs[members]].mean() >= exact_share:
            if darker is not None:
                # Past the crisp hits at either end, a few pixels along the border.
                past = order[np.concatenate([(where[0] - np.arange(2, reach)) % n,
                                             (where[-1] + np.arange(2, reach)) % n])]
                ends = darker[ys[past], xs[past]].reshape(2, -1).mean(axis=1)
                if ends.max() > 0.5:
                    continue
            seeds[ys[members], xs[members]] = True
    return seeds


def _frame_connected(passable: BoolMap, seeds: BoolMap) -> BoolMap:
    """The passable regions that hold a seed pixel of the frame."""
    count, labels = cv2.connectedComponents(passable.astype(np.uint8), connectivity=4)
    touching = np.zeros(count, bool)
    touching[np.unique(labels[seeds])] = True
    touching[0] = False
    return np.asarray(touching[labels], bool)


def _reclaim_edge_band(reached: BoolMap, matches: BoolMap, steps: int) -> BoolMap:
    """Let the background take back the widened edge band where it still looks like background."""
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    grown = reached.astype(np.uint8)
    allowed = matches.astype(np.uint8)
    for _ in range(steps):
        grown = np.maximum(grown, np.asarray(cv2.dilate(grown, kernel), np.uint8) & allowed)
    return grown.astype(bool)


def _grow_dark_product(product: BoolMap, core: BoolMap, ratio: F32, neutral: BoolMap,
                       crisp: BoolMap, steps: int) -> BoolMap:
    core_f = core.astype(np.float32)
    den = cv2.GaussianBlur(core_f, (0, 0), steps)
    local = cv2.GaussianBlur(np.log(np.maximum(ratio, 1e-3)) * core_f, (0, 0), steps)
    local = local / np.maximum(den, 1e-6)
    similar = (np.abs(np.log(np.maximum(ratio, 1e-3)) - local) < 0.35) & (den > 1e-3)
    allowed = (similar & neutral & ~crisp).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    grown = product.astype(np.uint8)
    for _ in range(steps):
        grown = np.maximum(grown, np.asarray(cv2.dilate(grown, kernel), np.uint8) & allowed)
    return grown.astype(bool)


def _thickness(region: BoolMap) -> float:
    """Diameter of the widest disk that fits in ``region`` (the frame counts as outside)."""
    padded = np.pad(region.astype(np.uint8), 1)
    return 2 * float(cv2.distanceTransform(padded, cv2.DIST_L2, 3).max())


def _drop_frame_slivers(product: BoolMap, thickness: float) -> BoolMap:
    """Drop pieces that touch the frame and are thinner than ``thickness`` x the long side."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        product.astype(np.uint8), connectivity=8)
    h, w = product.shape
    limit = thickness * max(h, w)
    result = product.copy()
    for label in range(1, count):
        x, y, bw, bh = stats[label, :4]
        if x > 0 and y > 0 and x + bw < w and y + bh < h:
            continue
        if _thickness(labels[y:y + bh, x:x + bw] == label) < limit:
            result[labels == label] = False
    return result


def _drop_faded_pieces(product: BoolMap, faded: BoolMap, share: float) -> BoolMap:
    """Drop pieces besides the largest that barely differ from the backdrop (JPEG ringing)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        product.astype(np.uint8), connectivity=8)
    if count <= 2:
        return product
    faded_count = np.bincount(labels.ravel(), weights=faded.ravel(), minlength=count)
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = faded_count < share * areas
    keep[np.argmax(areas[1:]) + 1] = True
    keep[0] = False
    return np.asarray(keep[labels], bool)


def _drop_specks(product: BoolMap, min_share: float) -> BoolMap:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        product.astype(np.uint8), connectivity=8)
    if count <= 1:
        return product
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, bool)
    keep[1:] = areas >= max(min_share * areas.max(), 4)
    return np.asarray(keep[labels], bool)
