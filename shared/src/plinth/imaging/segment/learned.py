"""The ``learned`` provider: a salient-object model, refined to full resolution.

Pipeline (each step a small module with documented settings):

1. **Infer** (:class:`.saliency.SaliencyModel`): resize the photo to the model's input size
   (aspect ratio not kept, as the models were trained), normalise as its contract says, run,
   read the output as a 0..1 probability. Where the model found nothing, or its object runs
   into the frame's edge, it looks again at the photo set inside a margin of its backdrop
   (:mod:`.wider_look`), and that look is kept when it found what the first missed.
2. **Fuse** (:mod:`.fusion`): on a plain studio backdrop, fill what the backdrop model and the
   learned model both call product, so near-white bodies come out solid; where the learned
   model missed a clearly visible product, the backdrop model's cut-out is used.
3. **Refine** (:mod:`.refine`): a guided filter with the photo itself as guide lifts the
   working-resolution map to a full-resolution alpha with the photo's own edges.
4. **Decontaminate** (:mod:`.decontaminate`): edge pixels are unmixed from the old backdrop's
   colour, so no backdrop-coloured fringe is left; fully transparent pixels are black.
5. **Translucency** (:mod:`.translucency`): on a plain backdrop, a tinted glass body (its
   colour the rim's mixed towards the backdrop) gets its partial alpha and its own colour, so
   the new backdrop shows through it, not the old one; in the backdrop model's cut-out too,
   when fusion rule 3 hands the photo over.
6. **Confidence** (:mod:`.confidence`): how sure the cut-out is, recorded with it.

The model itself comes through the ``SaliencyModel`` port; nothing here reads a file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.base import RGB, Segmentation
from plinth.imaging.segment.bg_model import BackgroundModel, linear_to_srgb, srgb_to_linear
from plinth.imaging.segment.coarse import CoarseOptions, coarse_mask
from plinth.imaging.segment.confidence import confidence
from plinth.imaging.segment.decontaminate import decontaminate_edges, neighbourhood_colours
from plinth.imaging.segment.fusion import (
    BackdropView,
    Fused,
    FusionOptions,
    closely_explained,
    fuse,
    is_plain_backdrop,
)
from plinth.imaging.segment.local import LocalOptions, LocalSegmenter
from plinth.imaging.segment.refine import RefineOptions, refined_cutout
from plinth.imaging.segment.saliency import SaliencyModel
from plinth.imaging.segment.translucency import (
    TranslucencyOptions,
    Translucent,
    find_translucency,
    unmix_translucent,
)
from plinth.imaging.segment.wider_look import (
    WiderLookOptions,
    framed_input,
    needs_wider_look,
    wider_look_is_better,
)

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]
_SIDE_MULTIPLE = 32  # the networks halve the size five times
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass(frozen=True)
class LearnedOptions:
    work_side: int = 768
    """Long side of the working image the probability is fused and refined on (about the
    model's input side: the full-resolution detail comes from the guide, not from here)."""
    backdrop_side: int = 512
    """Long side the backdrop model is fitted at (the ``local`` provider's working size)."""
    decontaminate_side: int = 512
    """Long side of the neighbourhood colours used to unmix edge pixels."""
    min_product_share: float = 0.0005
    """Less product than this share of the frame means nothing was found."""
    wider_look: WiderLookOptions | None = field(default_factory=WiderLookOptions)
    """When the model finds nothing or its object runs into the frame's edge, it looks again
    at the photo inside a margin of its backdrop (:mod:`.wider_look`); ``None``: never."""
    fusion: FusionOptions | None = field(default_factory=FusionOptions)
    """``None`` runs the learned model alone, on every photo."""
    translucency: TranslucencyOptions | None = field(default_factory=TranslucencyOptions)
    """Partial alpha for a tinted glass body on a plain backdrop (:mod:`.translucency`);
    ``None``: every body the model calls product is opaque."""
    refine: RefineOptions = field(default_factory=RefineOptions)
    coarse: CoarseOptions = field(default_factory=CoarseOptions)


class LearnedSegmenter:
    """Background removal with a learned salient-object model."""

    name = "learned"

    def __init__(self, model: SaliencyModel, options: LearnedOptions | None = None) -> None:
        self.model = model
        self.options = options or LearnedOptions()
        self.input_size = model.fixed_size or _input_size(model.contract.input_side)

    def segment(self, rgb: RGB) -> Segmentation:
        _check_rgb(rgb)
        options = self.options
        started = time.perf_counter()
        height, width = rgb.shape[:2]
        work = _scaled(width, height, options.work_side)
        resized = _resize(rgb, self.input_size)
        first = self._probability_of(resized)
        model_seconds = time.perf_counter() - started

        # The working image is the model's input whenever the sizes agree (a square photo at
        # the default sides): one full-resolution resize instead of two.
        small = resized if work == self.input_size else _resize(rgb, work)
        probability = _at_size(first, work)
        backdrop: BackdropView | None = None
        fused: Fused | None = None
        if options.fusion is not None:
            backdrop, backdrop_rgb = self._backdrop_view(small, work)
            fused = self._fuse(probability, backdrop, options.fusion, resized, _whole)
        wider = False
        # A photo the fusion hands to the backdrop model has its product outlined already (on
        # a plain backdrop, the best cut-out there is); any other may get a wider look.
        reference = _classified_product(backdrop)
        if (options.wider_look is not None
                and needs_wider_look(probability, options.wider_look, reference)
                and (fused is None or fused.decision != "backdrop")):
            looked = time.perf_counter()
            framed = framed_input(resized, options.wider_look)
            look = _at_size(framed.crop(self._probability_of(framed.image)), work)
            model_seconds += time.perf_counter() - looked
            wider = wider_look_is_better(probability, look, reference, options.wider_look)
            if wider:
                probability = look
                if backdrop is not None and options.fusion is not None:
                    fused = self._fuse(look, backdrop, options.fusion, framed.image, framed.crop)

        fusion_meta: dict[str, Any] = {"decision": "learned", "plain_backdrop": False}
        agreement = None
        if fused is not None and backdrop is not None:
            fusion_meta = {"decision": fused.decision, "plain_backdrop": fused.plain_backdrop,
                           "backdrop_fit": round(backdrop.fit, 4),
                           "backdrop_noise": round(backdrop.noise, 4),
                           "backdrop_rgb": backdrop_rgb,
                           "filled_share": round(fused.filled_share, 4),
                           "trimmed_share": round(fused.trimmed_share, 4),
                           "second_look": fused.second_look,
                           "added_part": fused.added_part,
                           "reflection_share": round(fused.reflection_share, 4)}
            if fused.decision == "backdrop":
                glass = self._translucency(fused.probability, small, backdrop)
                return self._backdrop_cutout(rgb, fused, fusion_meta, wider, started, glass)
            probability, agreement = fused.probability, fused.agreement
        product_share = float((probability >= 0.5).mean())
        if product_share < options.min_product_share:
            raise SegmentationError(
                f"no product found: the {self.model.name} model saw no salient object")
        glass = self._translucency(probability, small, backdrop)
        alpha_map = probability if glass is None else glass.applied(probability)
        fused_at = time.perf_counter()  # the translucency counts with the fusion
        guide = small.astype(np.float32) / 255.0
        partial: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]] = []
        rgba = refined_cutout(rgb, guide, alpha_map, options.refine, partial)
        refined = time.perf_counter()

        self._decontaminate(rgba, small, probability, partial)
        if glass is not None:
            unmix_translucent(rgba, rgb, glass)
        score, factors = confidence(probability, agreement)
        finished = time.perf_counter()
        return Segmentation(
            cutout=rgba,
            mask=np.ascontiguousarray(rgba[..., 3]),
            provider=self.name,
            cost_usd=0.0,
            meta={
                "model": self.model.name,
                "model_sha256": self.model.sha256,
                "execution_provider": self.model.execution_provider,
                "input_size": list(self.input_size),
                "wider_look": wider,
                "translucent": _glass_meta(glass),
                "product_share": round(product_share, 4),
                "confidence": score,
                "confidence_factors": factors,
                "fusion": fusion_meta,
                "timings_ms": {
                    "inference": round(model_seconds * 1000, 1),
                    "fusion": round(_ms(started, fused_at) - model_seconds * 1000, 1),
                    "refine": _ms(fused_at, refined),
                    "decontaminate": _ms(refined, finished),
                },
            },
        )

    def _fuse(self, probability: F32, backdrop: BackdropView, options: FusionOptions,
              source: RGB, covering: Callable[[F32], F32]) -> Fused:
        """The fusion of ``probability`` (a look at ``source``, the model's input, of which
        ``covering`` keeps the part that shows the photo) with the backdrop model."""
        work = probability.shape[::-1]

        def mirrored() -> F32:
            """Fusion rule 4's second look: the model on the mirrored input."""
            flipped = self._probability_of(np.ascontiguousarray(source[:, ::-1]))[:, ::-1]
            return _at_size(covering(np.ascontiguousarray(flipped)), work)

        return fuse(probability, backdrop, options, mirrored)

    def _translucency(self, probability: F32, small: RGB, backdrop: BackdropView | None
                      ) -> Translucent | None:
        """The tinted glass body, where the backdrop is plain enough to see through it."""
        options = self.options.translucency
        if options is None or backdrop is None or backdrop.difference is None:
            return None
        return find_translucency(probability, small, backdrop.difference, options)

    def probability(self, rgb: RGB) -> F32:
        """The model's 0..1 map at its input size, before fusion and refinement."""
        return self._probability_of(_resize(rgb, self.input_size))

    def _probability_of(self, resized: RGB) -> F32:
        contract = self.model.contract
        mean = np.asarray(contract.mean, np.float32)
        std = np.asarray(contract.std, np.float32)
        normalised = (resized.astype(np.float32) - mean) / std
        batch = np.ascontiguousarray(normalised.transpose(2, 0, 1)[None], np.float32)
        raw = self.model.predict(batch)
        return to_probability(raw, contract.output)

    def _backdrop_view(self, small: RGB, work: tuple[int, int]) -> tuple[BackdropView, list[int]]:
        """The backdrop model's reading of the photo, scaled to the working size."""
        size = _scaled(work[0], work[1], self.options.backdrop_side)
        view = _resize(small, size)
        gate = self.options.fusion or FusionOptions()

        def readable(model: BackgroundModel, lightness: tuple[float, float] | None = None
                     ) -> bool:
            """Whether the backdrop model's pixels are classified: the gate of rule 1 (the
            backdrop's lightness at the centre) or rule 3's for a model that finds nothing
            (read at the frame's edge), less the share of the border the fit explains, so that
            the wider look can be judged on a product cut by the frame."""
            centre, edge = lightness or (_lightness(model.colour_srgb()),
                                         model.seen_lightness(view))
            return closely_explained(model.noise, max(centre, edge), gate)

        # Where the backdrop model does not explain the backdrop closely (a scene), the fusion
        # uses the learned map alone and the wider look is not judged: its pixels are then not
        # classified at all (about half its cost).
        coarse = coarse_mask(view, self.options.coarse, wanted=readable)
        colour = coarse.model.colour_srgb()
        centre, edge = _lightness(colour), coarse.model.seen_lightness(view)
        classified = readable(coarse.model, (centre, edge))
        if classified:
            background = coarse.background
            linear = srgb_to_linear(view)
            diff = np.abs(linear - background)
            largest = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])
            backdrop_luma = np.maximum(background @ _LUMA, 1e-3)
            contrast = (largest / backdrop_luma).astype(np.float32)
            shade = difference = None
            if is_plain_backdrop(coarse.model.inlier_share, coarse.model.noise,
                                 max(centre, edge), gate):
                if gate.shadow_band > 0:  # fusion rule 5 reads it
                    shade = np.asarray(cv2.resize(
                        (linear @ _LUMA / backdrop_luma).astype(np.float32), work,
                        interpolation=cv2.INTER_NEAREST), np.float32)
                # fusion rule 7 and the translucency read it
                if gate.reflection is not None or self.options.translucency is not None:
                    backdrop_srgb = cv2.resize(linear_to_srgb(np.clip(background, 0, 1)), work,
                                               interpolation=cv2.INTER_LINEAR)
                    difference = (np.asarray(small, np.float32) * np.float32(1 / 255)
                                  - backdrop_srgb)
            product = cv2.resize(coarse.product.astype(np.uint8), work,
                                 interpolation=cv2.INTER_NEAREST) > 0
            contrast = np.asarray(cv2.resize(contrast, work, interpolation=cv2.INTER_NEAREST),
                                  np.float32)
        else:
            shade = difference = None
            product = np.zeros((work[1], work[0]), bool)
            contrast = np.zeros((work[1], work[0]), np.float32)
        backdrop = BackdropView(
            product=product,
            contrast=contrast,
            fit=coarse.model.inlier_share,
            noise=coarse.model.noise,
            lightness=centre,
            edge_lightness=edge,
            classified=classified,
            shade=shade,
            difference=difference,
        )
        return backdrop, list(colour)

    def _backdrop_cutout(self, rgb: RGB, fused: Fused, fusion_meta: dict[str, Any],
                         wider: bool, started: float, glass: Translucent | None
                         ) -> Segmentation:
        """Fusion rule 3: the backdrop model's cut-out, recorded as this provider's decision,
        less the floor reflection rule 7 found in it; a glass body in it gets its partial alpha
        and colour as in the learned cut-out."""
        agreement = fused.agreement
        result = LocalSegmenter(LocalOptions(coarse=self.options.coarse)).segment(rgb)
        cutout, mask = result.cutout, result.mask
        if glass is not None or fused.cleared is not None:
            # The most alpha each pixel may keep: the glass body's opacity, and none on the
            # floor reflection rule 7 cleared (its line kept sharp, as the working map draws it).
            cutout = cutout.copy()
            size = (cutout.shape[1], cutout.shape[0])
            cap = np.ones(cutout.shape[:2], np.float32) if glass is None else \
                _at_size(glass.opacity_map(), size)
            if fused.cleared is not None:
                cap[cv2.resize(fused.cleared.astype(np.uint8), size,
                               interpolation=cv2.INTER_NEAREST) > 0] = 0
            np.minimum(cutout[..., 3], np.clip(cap * 255 + 0.5, 0, 255).astype(np.uint8),
                       out=cutout[..., 3])
            if glass is not None:
                unmix_translucent(cutout, rgb, glass)
            mask = np.ascontiguousarray(cutout[..., 3])
        factors = dict(result.meta.get("confidence_factors", {}))
        if agreement is not None:
            factors["agreement"] = round(float(np.sqrt(agreement)), 4)
        meta = {
            **result.meta,
            "model": self.model.name,
            "model_sha256": self.model.sha256,
            "execution_provider": self.model.execution_provider,
            "input_size": list(self.input_size),
            "wider_look": wider,
            "translucent": _glass_meta(glass),
            "confidence": round(float(np.prod(list(factors.values()))), 4),
            "confidence_factors": factors,
            "fusion": fusion_meta,
        }
        meta["timings_ms"] = {**result.meta.get("timings_ms", {}),
                              "total": _ms(started, time.perf_counter())}
        return Segmentation(cutout=cutout, mask=mask, provider=self.name, cost_usd=0.0,
                            meta=meta)

    def _decontaminate(self, rgba: npt.NDArray[np.uint8], small: RGB, probability: F32,
                       partial: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]
                       ) -> None:
        """Unmix the edge pixels from the backdrop (transparent ones are already black);
        ``partial`` lists where they are, as the refinement found them."""
        size = _scaled(small.shape[1], small.shape[0], self.options.decontaminate_side)
        colours = _resize(small, size).astype(np.float32) / 255.0
        small_probability = cv2.resize(probability, size, interpolation=cv2.INTER_AREA)
        inside, outside = neighbourhood_colours(colours, small_probability >= 0.5)
        where = ((np.concatenate([ys for ys, _ in partial]),
                  np.concatenate([xs for _, xs in partial])) if partial
                 else (np.zeros(0, np.intp), np.zeros(0, np.intp)))
        decontaminate_edges(rgba, inside, outside, where)


def _glass_meta(glass: Translucent | None) -> dict[str, float] | None:
    return None if glass is None else {"share": round(glass.share, 4),
                                       "opacity": round(glass.opacity, 3)}


def to_probability(raw: F32, output: str) -> F32:
    """The model's raw ``HxW`` output as a 0..1 probability, as its contract says."""
    if not np.isfinite(raw).all():
        raise SegmentationError("the model's output contains NaN or infinite values")
    values = np.asarray(raw, np.float32)
    if output == "sigmoid":
        values = (1.0 / (1.0 + np.exp(-values))).astype(np.float32)
    elif output == "minmax":
        low, high = float(values.min()), float(values.max())
        # A constant map carries no ranking to stretch; keep it as it is.
        if high - low > 1e-6:
            values = (values - low) / (high - low)
    result: F32 = np.clip(values, 0.0, 1.0).astype(np.float32)
    return result


def _classified_product(backdrop: BackdropView | None) -> BoolMap | None:
    """The backdrop model's product map where it classified the pixels, else ``None``: on a
    scene, what differs from a fitted surface says nothing about what is product."""
    return backdrop.product if backdrop is not None and backdrop.classified else None


def _at_size(look: F32, size: tuple[int, int]) -> F32:
    """``look`` resized to ``size`` (width, height), or itself when it is that size."""
    if look.shape[::-1] == size:
        return look
    return np.asarray(cv2.resize(look, size, interpolation=cv2.INTER_LINEAR), np.float32)


def _whole(look: F32) -> F32:
    """The part of a look at the photo itself that covers the photo: all of it."""
    return look


def _input_size(side: int) -> tuple[int, int]:
    rounded = max(_SIDE_MULTIPLE, round(side / _SIDE_MULTIPLE) * _SIDE_MULTIPLE)
    return (rounded, rounded)


def _scaled(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height))
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def _resize(rgb: RGB, size: tuple[int, int]) -> RGB:
    if size == (rgb.shape[1], rgb.shape[0]):
        return np.ascontiguousarray(rgb)
    shrinking = size[0] * size[1] < rgb.shape[0] * rgb.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(rgb, size, interpolation=interpolation), np.uint8)


def _lightness(colour: tuple[int, int, int]) -> float:
    return sum(colour) / (3 * 255)


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 1)


def _check_rgb(rgb: Any) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
        raise SegmentationError("the learned segmenter expects an HxWx3 uint8 array")
    if rgb.shape[2] != 3 or min(rgb.shape[:2]) < 4:
        raise SegmentationError(f"the learned segmenter expects HxWx3 RGB pixels, got {rgb.shape}")
