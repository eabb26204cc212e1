"""Fusing the learned mask with the backdrop model on studio photos.

The two segmenters fail in opposite places. The learned model knows what an object is, but on a
plain backdrop it can leave a near-white product (a white shirt on white) partly transparent.
The backdrop model (the ``local`` provider's classification, :mod:`.coarse`) knows exactly
which pixels differ from a plain backdrop, but keeps whatever is not backdrop: a table, a sheet
of paper, a reflection. So the fusion is small:

1. **Gate: a plain backdrop, white to mid-grey.** Only when the fitted backdrop explains at least
   ``min_backdrop_fit`` of the frame's border band, leaves a residual noise of at most
   ``max_backdrop_noise`` there (a scene's border is explained only loosely, a studio sweep's
   closely) and is at least ``min_backdrop_lightness`` light (the backdrop model is built for
   white to mid-grey studio backdrops, a grey seamless paper included; on a dark one a glow or
   a rim light reads as product to it). On any other photo the learned map is used alone.
2. **Fill what both call product.** Each connected region the backdrop model calls product is
   kept only where the learned model already covers at least ``min_overlap`` of it: a region the
   learned model does not recognise as part of the object (a table, a shadow, a prop) is never
   added. Inside a kept region, pixels at least ``edge_margin`` working pixels from its outline
   and where the learned map gives at least ``min_support`` are made opaque, so a faint, partly
   transparent body becomes solid; the outline itself stays the learned model's, whose edges
   are finer, and what the model sees as clear floor (a shadow or a reflection the backdrop
   model joined to the product) is never filled. Nor is a part of a kept region that lies
   beyond the learned mask (past ``part_margin``, at least ``part_min_share`` of the region)
   and fades into the backdrop with distance from it (rule 6's measure, far/near contrast
   below ``part_min_evenness``): a floor reflection the model supports faintly (0.05-0.3 on
   ``studio_extra``'s reflections, enough for the support floor) is not a faint body. Measured:
   4 of 30 reflections mended (0.66-0.81 -> 0.84-0.99); no photo of the synthetic seed ranges
   100000-099, 200000-099 and 300000-099 changed.

3. **Hand over to the backdrop model** when the learned model has missed the product: it found
   nothing, or it covers less than ``min_coverage`` of what the backdrop model calls product
   while the part it misses stands out clearly from the backdrop (median relative colour
   difference at least ``distinct_contrast``). A clearly visible object on a plain studio
   backdrop is the product; a faint region (a sheet of paper a shade off the backdrop, glare,
   a soft shadow) is not a reason to overrule the model. When the model found nothing at all,
   the backdrop's lightness is also read where the frame's edge shows it rather than at the
   centre: under a product that fills the frame above a strip of backdrop, the surface fitted
   on the strip extrapolates to near black at the centre, and "no product found" would be
   certain. (Read at the edge for every photo, it let a scene with a white sky through the
   gate: a hiker on a moor became the backdrop model's "everything but the sky".)

4. **A second look where they disagree.** When the support floor of rule 2 refuses a sizeable
   share (``second_look_share``) of the regions being filled, the two models disagree about a
   part of the object (typically a near-white sole or rim the model reads as floor, or a
   reflection the backdrop model joined to the product). The learned model's answer there is
   often unstable rather than certain: the same network on the mirrored photo may see the part
   (measured on synthetic shoes: 3 of 4 white soles the first look missed). So the model looks
   again at the mirrored photo and, where that look calls a pixel object (>= 0.5), rule 2 runs
   on the mean of the two looks if it is higher than the first (test-time augmentation, only
   where it can matter; it costs one more inference on those photos only). A trace of support
   is not enough: on floor reflections the mirrored look gave 0.25-0.3 (never 0.5; with the mean
   alone 2 of 17 reflections were filled), on the soles it found 0.5-1. A part the second look
   does not call object stays as the first look left it.

5. **Trim a shadow the model joined to the product.** The learned model often takes a dark
   contact shadow under a product's base for part of the product (on synthetic studio photos:
   up to 10-15 working pixels under a shoe, a bag, a jar), while the backdrop model, which
   grows the backdrop from the frame through backdrop- and shadow-coloured pixels and stops at
   crisp outlines, leaves it out. When the two agree on the object as a whole (the regions rule 2
   kept and the learned mask overlap by at least ``shadow_agreement``, IoU), a pixel near both
   outlines (within ``shadow_band``) that the backdrop model does not call product and that is
   at least ``shadow_darkening`` darker than the modelled backdrop is set clear (except the
   ``shadow_edge`` pixels just outside the backdrop model's product: the edge). Only darker
   pixels: a pale part of the product the backdrop model missed is not darker than the
   backdrop, so it keeps the learned edge; and nothing at all when the two disagree on the
   object (the backdrop model saw only the outline of a white mug, or a reflection joined to
   the product), since then its "not product" is no evidence of a shadow.

6. **Hand over when the backdrop model outlines a whole part the model left out.** Within the
   regions rule 2 keeps (those the model recognises: a table or a prop beside the product never
   counts), the learned mask lies inside the backdrop model's product (at least ``part_min_inside``
   of it), yet the backdrop model adds a sizeable part beyond the learned outline (at least
   ``part_min_share`` and at most ``part_max_share`` of its product, counting only pixels more than
   ``part_margin`` from the learned mask, so not edge jitter), and that part is as distinct from
   the backdrop far from the learned outline as near it (median contrast of its far half at least
   ``part_min_evenness`` of its near half's). A part of the product keeps its own colour all the
   way to its crisp outline (a near-white sole, a pale base): the backdrop model, which measures
   exactly which pixels differ from the plain backdrop, outlines it precisely while the learned
   model reads it as floor. A floor reflection also lies beyond the outline, but fades towards the
   backdrop with distance from the product (far/near 0.2-0.56 on 17 synthetic reflections,
   0.96-1.15 on the soles), and a shadow is never in the backdrop model's product. Then the
   backdrop model's cut-out is used, as in rule 3. What counts as seen by the model: what its first
   look supports inside a region rule 2 fills (a faint near-white body: rule 2 makes it solid with
   the learned edges), and what it calls object (>= 0.5) after rule 4's second look (on a synthetic
   shoe whose sole the second look saw, handing over scored 0.980 against 0.987). A part rule 2
   fills only thanks to the mean of the two looks does not count: there the learned map has no
   outline for it (soles filled that way scored 0.90-0.98, the hand-over 0.98-0.998).

7. **Clear a floor reflection** (:mod:`.reflection`). On a glossy floor the product stands on
   its own mirror image, which the model often keeps as object. Under the object's base, rows
   that repeat the rows above it (the photo's signed difference from the fitted backdrop, row
   ``i`` below as a scaled copy of row ``i`` above), fainter from the contact line on and fading
   with distance, are cleared. Measured on ``studio_extra``'s glossy floors (seeds 0-59):
   reflections 0.85 -> 0.96 IoU; on 300 synthetic studio photos without a reflection it never
   fired. The contact line may be a contact shadow, darker than a light base above it, and the
   highest axis that passes is taken, so the shadow goes with the reflection (seeds 0-119:
   0.9614 -> 0.9765). On a hand-over (rules 3 and 6) it reads the backdrop model's product,
   which joins a reflection to the product as readily as the model does, and clears it from
   that cut-out (one photo there: 0.647 -> 0.998), unless the product runs out of the frame
   sideways (a close-up, where a sole under the upper passed for a reflection of it).
   ``reflection=None`` turns it off.

Apart from rule 5's trim, rule 6's hand-over and rule 7's clearing, nothing is removed from the
learned map, and the backdrop model only adds where the two agree on the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.reflection import ReflectionOptions, floor_reflection
from plinth.imaging.segment.regions import depth

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]
Decision = Literal["learned", "filled", "backdrop"]


@dataclass(frozen=True)
class FusionOptions:
    min_backdrop_fit: float = 0.8
    """Share of the border band the backdrop model must explain for the photo to count as a
    studio photo on a plain backdrop."""
    max_backdrop_noise: float = 0.08
    """Largest robust residual (relative to the backdrop's light) of a plain backdrop: studio
    sweeps, papers and textures measure 0.00-0.07, scenes 0.1-1."""
    min_backdrop_lightness: float = 0.4
    """Least mean sRGB value (0..1) of the backdrop for the backdrop model to be trusted. A grey
    seamless paper is a common studio backdrop (an 18% grey card reads 0.46): at 0.5 the gate
    shut on synthetic studio photos re-lit on grey backdrops of 0.42-0.6, where the model alone
    lost near-white boxes and shoes cut by the frame. Measured at 0.5 -> 0.4 on 200 such
    photos (``segment_real.py --synth-backdrop grey``, seeds 640000-099 and 650000-099):
    0.9707 -> 0.9727 and 0.9689 -> 0.9771, single photos losing up to 0.04 where rule 2
    fills on grey. The real scenes that pass the fit and noise tests sit at 0.07 (a night
    sky) and 0.31 (a white sky over a moor, its centre extrapolated into grass)."""
    min_overlap: float = 0.5
    """A backdrop-model region is filled only where the learned map already covers this share."""
    edge_margin: int = 3
    """Working pixels inside a region's outline that are left to the learned map's edge."""
    min_support: float = 0.05
    """Pixels the learned map puts below this are never filled: a shadow or a floor reflection
    the backdrop model joined to the product stays out (so does a part the model dropped
    entirely, such as a white sole: measured, filling those added more reflections than it
    mended soles)."""
    min_coverage: float = 0.6
    """Below this share of the backdrop model's product covered by the learned mask, and ..."""
    distinct_contrast: float = 0.3
    """... with the missed part this distinct from the backdrop, the backdrop model takes over.
    A sheet of paper a shade off the backdrop measures about 0.05. Pale products the model
    mostly missed measured 0.33-0.37 (a near-white shoe on white, bags a grey close to a grey
    sweep's): at 0.4 they kept the model's sliver (0.07-0.44 IoU), at 0.3 the backdrop model's
    cut-out (0.98-1.0). Nothing else changed on 420 replayed and 350 live synthetic photos or
    the 45 real ones."""
    second_look_share: float = 0.02
    """Rule 4: when the support floor refuses at least this share of the regions being filled
    (inside their outline, so not edge jitter: the two models really disagree there), the
    learned model looks again at the mirrored photo; 0 < share, 1.0 or more turns it off."""
    shadow_band: int = 16
    """Rule 5: working pixels either side of the learned outline (and of the backdrop model's)
    within which a shadow is trimmed: a contact shadow joined to a base reaches 10-15 px at the
    768 px working size; a disagreement farther from the outline is not about a shadow under
    the edge. 0 turns rule 5 off."""
    shadow_darkening: float = 0.3
    """Rule 5: least darkening of a trimmed pixel (1 - its luminance relative to the modelled
    backdrop): the trimmed contact shadows under a shoe, a bag, a jar and a box measured a
    median of 0.5-0.73; a pale product part is not darker than the backdrop."""
    shadow_edge: int = 1
    """Rule 5 leaves this many working pixels just outside the backdrop model's product to the
    learned edge: the backdrop model's outline is drawn at 2/3 of the working size, and the
    mixed edge pixel of a dark product is darker than the backdrop too (measured: clearing it
    cost dark boxes, cans and bottles 0.004-0.009 IoU each)."""
    shadow_agreement: float = 0.9
    """Rule 5 trims only when the learned mask and the regions kept by rule 2 overlap at least
    this well (IoU): on synthetic studio photos 0.92-1.0 where the only disagreement is a
    shadow or an edge; a white mug whose outline alone the backdrop model saw measured 0.32,
    shoes with a sole the model missed 0.8-0.87."""
    part_min_inside: float = 0.95
    """Rule 6 applies only when at least this share of the learned mask lies inside the backdrop
    model's product (the model saw a subset of it: 0.99-1.0 on the synthetic shoes whose sole it
    missed; 0.33 on a white mug whose outline alone the backdrop model saw). Above 1 turns rule 6
    off."""
    part_margin: int = 3
    """Rule 6 counts only the backdrop model's pixels more than this many working pixels from the
    learned mask: nearer, the two outlines merely differ by their edge (jitter, a mixed pixel)."""
    part_min_share: float = 0.12
    """Rule 6: least share of the backdrop model's product that lies beyond the learned mask (past
    ``part_margin``). Chosen on synthetic seeds 100000-100099: the soles the model missed measured
    0.16-0.26 of the shoe; a mug whose handle region the backdrop model over-reached (where its
    cut-out is worse) measured 0.095, edge-only differences 0.03-0.08."""
    part_max_share: float = 0.5
    """Rule 6: most share of the backdrop model's product that may lie beyond the learned mask:
    the model must have seen the greater part of the object. More, and the backdrop model's
    product is rather the object's setting (a sheet of paper a shade off the backdrop under a
    small object) than a part the model missed (soles: 0.16-0.26 of the shoe on seeds
    100000-100099)."""
    part_min_evenness: float = 0.8
    """Rule 6: least ratio of the added part's median contrast (to the backdrop) in its half far
    from the learned outline to that in its near half. A part of the product is as distinct far
    from the outline as near it (soles on seeds 100000-100099: 0.90-1.04); a floor reflection
    fades into the backdrop (0.2-0.56 on ``studio_extra``'s reflections, which seeds
    100000-100099 lack: the threshold sits between, below every sole's)."""
    reflection: ReflectionOptions | None = field(default_factory=ReflectionOptions)
    """Rule 7's settings (:mod:`.reflection`); ``None`` turns it off."""


@dataclass(frozen=True)
class BackdropView:
    """What the backdrop model says about a photo, at the learned map's working size."""

    product: BoolMap
    """Pixels that differ from the backdrop and are not its shadow."""
    contrast: F32
    """Per-pixel colour difference from the modelled backdrop, relative to its luminance."""
    fit: float
    """Share of the frame's border band the backdrop explains."""
    noise: float
    """Robust residual of the backdrop fit on the border."""
    lightness: float
    """Mean sRGB value (0..1) of the backdrop at the frame's centre."""
    edge_lightness: float | None = None
    """Mean sRGB value (0..1) of the backdrop where the frame's edge shows it, for rule 3 when
    the model found nothing (``None``: as ``lightness``)."""
    difference: F32 | None = None
    """The photo minus the modelled backdrop (``HxWx3``, sRGB 0..1, signed), for rule 7;
    ``None`` turns rule 7 off."""
    classified: bool = True
    """Whether the backdrop model classified the pixels (``product`` and ``contrast`` are empty
    otherwise): where it explains the backdrop closely (:func:`closely_explained`)."""
    shade: F32 | None = None
    """Per-pixel luminance relative to the modelled backdrop (1: as light, 0.6: a shadow taking
    40% of the light), for rule 5; ``None`` turns rule 5 off."""


@dataclass(frozen=True)
class Fused:
    probability: F32
    decision: Decision
    plain_backdrop: bool
    agreement: float | None
    """IoU of the two masks when the backdrop is plain, else ``None``."""
    filled_share: float
    """Share of the frame the fill made more opaque (0 when nothing changed)."""
    second_look: bool = False
    """Whether rule 4 looked again (a second inference, on the mirrored photo)."""
    trimmed_share: float = 0.0
    """Share of the frame rule 5 cleared as shadow."""
    added_part: bool = False
    """Whether rule 6 handed over (the backdrop model outlined a part the model left out)."""
    reflection_share: float = 0.0
    """Share of the frame rule 7 cleared as a floor reflection."""
    cleared: BoolMap | None = None
    """On a hand-over, the floor reflection rule 7 found in the backdrop model's product
    (working size), to clear from its cut-out."""


def plain_backdrop(backdrop: BackdropView, options: FusionOptions) -> bool:
    """Whether the photo is a studio photo on a plain backdrop, white to mid-grey (rule 1)."""
    return is_plain_backdrop(backdrop.fit, backdrop.noise, backdrop.lightness, options)


def is_plain_backdrop(fit: float, noise: float, lightness: float, options: FusionOptions
                      ) -> bool:
    """Rule 1 on the backdrop fit's own figures (asked before its pixels are classified)."""
    return fit >= options.min_backdrop_fit and closely_explained(noise, lightness, options)


def closely_explained(noise: float, lightness: float, options: FusionOptions) -> bool:
    """Rule 1 less its fit test: the backdrop model explains the backdrop it sees closely and
    it is light enough (a product covering much of the frame's border lowers the share of the
    border the fit explains, not how closely it explains the rest)."""
    return noise <= options.max_backdrop_noise and lightness >= options.min_backdrop_lightness


def fuse(learned: F32, backdrop: BackdropView, options: FusionOptions,
         second_look: Callable[[], F32] | None = None) -> Fused:
    """Fuse ``learned`` (0..1) with the backdrop model's view; see the module docstring.

    ``second_look``, when given, returns the learned model's map of the mirrored photo
    (mirrored back), for rule 4; it is called at most once, and only when that rule applies.
    """
    solid = learned >= 0.5
    if not plain_backdrop(backdrop, options):
        if not solid.any() and backdrop.product.any() and backdrop.edge_lightness is not None \
                and is_plain_backdrop(backdrop.fit, backdrop.noise, backdrop.edge_lightness,
                                      options):
            # Rule 3 for a model that found nothing: the backdrop read at the frame's edge.
            return _handed_over(backdrop, options, 0.0)
        return Fused(learned, "learned", False, None, 0.0)
    product = backdrop.product
    both = np.logical_and(solid, product)
    union = np.logical_or(solid, product).sum()
    agreement = float(both.sum() / union) if union else 1.0
    if _learned_missed_the_product(solid, product, both, backdrop.contrast, options):
        return _handed_over(backdrop, options, agreement)

    count, labels = cv2.connectedComponents(product.astype(np.uint8), connectivity=8)
    if count <= 1:
        return Fused(learned, "learned", True, agreement, 0.0)
    sizes = np.bincount(labels.ravel(), minlength=count)
    covered = np.bincount(labels.ravel(), weights=solid.ravel(), minlength=count)
    keep = covered >= options.min_overlap * np.maximum(sizes, 1)
    keep[0] = False
    kept = keep[labels]
    regions = kept.copy()
    if options.edge_margin > 0:
        side = 2 * options.edge_margin + 1
        kernel = np.ones((side, side), np.uint8)
        kept = cv2.erode(kept.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE) > 0
    refused = kept & (learned < options.min_support)
    supported = kept & ~refused  # what rule 2 fills on the first look alone
    looked_again = False
    if (second_look is not None and kept.any()
            and refused.sum() >= options.second_look_share * kept.sum()):
        # Rule 4: the two models disagree over a part of the object; look again with the
        # mirrored photo. Where that look calls a pixel object (>= 0.5) the mean of both looks
        # is used if higher (test-time augmentation); a mere trace of support is not enough.
        second = second_look()
        mean = (learned + second) * np.float32(0.5)
        learned = np.where(second >= 0.5, np.maximum(learned, mean), learned).astype(np.float32)
        looked_again = True
    kept &= learned >= options.min_support
    kept &= ~_fading_beyond(kept, learned >= 0.5, backdrop.contrast, options)
    fused = np.where(kept, np.float32(1.0), learned).astype(np.float32)
    # Rule 6: a part the model supports (rule 2 fills it) or the second look calls object keeps
    # the learned edges; one only the mean of the two looks lets rule 2 fill does not count.
    seen = (learned >= 0.5) | supported
    if _learned_left_out_a_part(seen, regions, np.logical_and(seen, regions), backdrop.contrast,
                                options):
        return _handed_over(backdrop, options, agreement, second_look=looked_again,
                            added_part=True)
    filled = float((fused - learned > 0.1).mean())
    shadow = _joined_shadow(fused, regions, backdrop, options)
    trimmed = 0.0
    if shadow is not None:
        trimmed = float(np.count_nonzero(fused[shadow] > 0.1)) / fused.size
        fused[shadow] = 0.0
    reflected = 0.0
    if options.reflection is not None and backdrop.difference is not None:
        reflection = floor_reflection(fused >= 0.5, backdrop.difference, options.reflection)
        if reflection is not None:
            reflection &= fused > 0
            reflected = float(np.count_nonzero(fused[reflection] > 0.1)) / fused.size
            fused[reflection] = 0.0
    return Fused(fused, "filled" if filled > 0 else "learned", True, agreement, filled,
                 looked_again, trimmed, reflection_share=reflected)


def _handed_over(backdrop: BackdropView, options: FusionOptions, agreement: float,
                 second_look: bool = False, added_part: bool = False) -> Fused:
    """Rules 3 and 6: the backdrop model's product, less a floor reflection it joined to the
    product (rule 7, read on its outline: it keeps a reflection as readily as the model)."""
    product = backdrop.product
    cleared = None
    if options.reflection is not None and backdrop.difference is not None:
        cleared = floor_reflection(product, backdrop.difference, options.reflection)
    share = 0.0
    if cleared is not None:
        # All of the cut is cleared from the cut-out, whose full-resolution edges reach a
        # little past the working product's outline.
        share = float(np.count_nonzero(cleared & product)) / cleared.size
        product = product & ~cleared
    return Fused(product.astype(np.float32), "backdrop", True, agreement, 0.0,
                 second_look=second_look, added_part=added_part, reflection_share=share,
                 cleared=cleared)


def _joined_shadow(fused: F32, regions: BoolMap, backdrop: BackdropView,
                   options: FusionOptions) -> BoolMap | None:
    """Rule 5: the pixels of a shadow the learned model joined to the product, or ``None``."""
    if backdrop.shade is None or options.shadow_band <= 0 or not regions.any():
        return None
    solid = fused >= 0.5
    union = int(np.logical_or(regions, solid).sum())
    if np.logical_and(regions, solid).sum() < options.shadow_agreement * union:
        return None
    product = backdrop.product
    if options.shadow_edge > 0:
        side = 2 * options.shadow_edge + 1
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
        product = cv2.dilate(product.astype(np.uint8), disk) > 0
    shadow = ~product & (backdrop.shade <= 1.0 - options.shadow_darkening) & (fused > 0)
    if not shadow.any():
        return None
    # Near both outlines: the rings are computed only around the candidates (a margin of the
    # band and one pixel keeps them exact there), since wide morphology over the whole
    # working frame costs tens of milliseconds. Every candidate lies inside that crop.
    ys, xs = np.nonzero(shadow)
    pad = options.shadow_band + 1
    top, left = max(0, int(ys.min()) - pad), max(0, int(xs.min()) - pad)
    crop = (slice(top, int(ys.max()) + pad + 1), slice(left, int(xs.max()) + pad + 1))
    shadow[crop] &= _ring(solid[crop], options.shadow_band) & _ring(regions[crop],
                                                                     options.shadow_band)
    return shadow if shadow.any() else None


def _ring(mask: BoolMap, width: int) -> BoolMap:
    """Pixels within ``width`` of ``mask``'s outline, either side."""
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    grown = cv2.dilate(mask.astype(np.uint8), disk) > 0
    shrunk = cv2.erode(mask.astype(np.uint8), disk, borderType=cv2.BORDER_REPLICATE) > 0
    return np.asarray(grown & ~shrunk, bool)


def _fading_beyond(kept: BoolMap, solid: BoolMap, contrast: F32, options: FusionOptions
                   ) -> BoolMap:
    """Rule 2's exception: the parts of the regions to fill that lie beyond the learned mask
    (past ``part_margin``, each at least ``part_min_share`` of the regions) and fade into the
    backdrop with distance from it (a floor reflection the backdrop model joined to the
    product, which the model supports only faintly); rule 6's measure of a fade."""
    none = np.zeros_like(kept)
    if options.part_min_evenness <= 0 or not solid.any():
        return none
    outside = kept & ~solid
    if np.count_nonzero(outside) < options.part_min_share * np.count_nonzero(kept):
        return none
    distance = depth(~solid)  # from the learned mask
    beyond = outside & (distance > options.part_margin)
    least = options.part_min_share * np.count_nonzero(kept)
    if np.count_nonzero(beyond) < least:
        return none
    # Each part on its own: a pale cap the model half believes in may sit beside a reflection.
    count, labels = cv2.connectedComponents(beyond.astype(np.uint8), connectivity=8)
    sizes = np.bincount(labels.ravel(), minlength=count)
    fading = np.zeros(count, bool)
    for label in range(1, count):
        if sizes[label] >= least:
            evenness = _evenness(labels == label, distance, contrast)
            fading[label] = evenness is not None and evenness < options.part_min_evenness
    return fading[labels] if fading.any() else none


def _evenness(part: BoolMap, distance: F32, contrast: F32) -> float | None:
    """Median contrast of ``part``'s half far from the learned outline over its near half's
    (``distance`` from it): about 1 for a part of the product, well below for a reflection
    fading into the backdrop; ``None`` when it cannot be measured."""
    far_from = distance[part]
    part_contrast = contrast[part]
    middle = float(np.median(far_from))
    near_level = float(np.median(part_contrast[far_from <= middle]))
    far = part_contrast[far_from > middle]
    if far.size == 0 or near_level <= 0:  # every pixel at one distance: no fade to measure
        return None
    return float(np.median(far)) / near_level


def _learned_left_out_a_part(solid: BoolMap, product: BoolMap, both: BoolMap, contrast: F32,
                             options: FusionOptions) -> bool:
    """Rule 6: the learned mask lies inside the backdrop model's product, which adds a sizeable
    part beyond it that does not fade with distance from it (a part, not a reflection)."""
    solid_pixels = int(solid.sum())
    product_pixels = int(product.sum())
    inside = int(both.sum())
    if solid_pixels == 0 or product_pixels == 0:
        return False
    if inside < options.part_min_inside * solid_pixels:
        return False
    least = options.part_min_share * product_pixels
    if product_pixels - inside < least:  # a cheap bound before any distance is computed
        return False
    distance = depth(~solid)  # from the learned mask
    part = product & (distance > options.part_margin)
    if not least <= int(part.sum()) <= options.part_max_share * product_pixels:
        return False
    evenness = _evenness(part, distance, contrast)
    return evenness is not None and evenness >= options.part_min_evenness


def _learned_missed_the_product(solid: BoolMap, product: BoolMap, both: BoolMap, contrast: F32,
                                options: FusionOptions) -> bool:
    """Rule 3: nothing found, or a clearly visible part of the product left out."""
    product_pixels = int(product.sum())
    if product_pixels == 0:
        return False
    if not solid.any():
        return True
    if both.sum() >= options.min_coverage * product_pixels:
        return False
    missed = product & ~solid
    return float(np.median(contrast[missed])) >= options.distinct_contrast
