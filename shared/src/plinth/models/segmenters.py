"""Build the configured segmentation provider, loading a learned model when one is asked for.

This is where the provider names of the settings meet the files on disk:

- ``auto`` (the default): the ``learned`` provider with the configured model when that model is
  installed, else ``local`` with one warning at start-up naming the command that installs it;
- ``learned``: the learned provider; a missing or corrupt model is an error naming that command;
- ``onnx``: the learned provider on any ONNX file with a compatible contract (``model`` is then
  a path, and ``mean``/``std``/``output`` describe the model's pre- and post-processing);
- ``local``: the backdrop model, through :func:`plinth.imaging.segment.get_provider`;
- ``freepik``: Freepik's remove-background API (:mod:`plinth.vendors.freepik.segmenter`,
  imported only when asked for).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment import SegmentProvider, get_provider
from plinth.imaging.segment.learned import LearnedOptions, LearnedSegmenter
from plinth.imaging.segment.saliency import ModelContract, OutputKind
from plinth.models.errors import ModelError
from plinth.models.install import resolve
from plinth.models.onnx_runtime import OnnxSaliencyModel, RuntimeOptions
from plinth.models.registry import DEFAULT_MODEL, MODELS

if TYPE_CHECKING:
    from plinth.settings import SegmentSettings

log = logging.getLogger(__name__)

PROVIDERS = ("auto", "learned", "onnx", "local", "freepik")

DEFAULT_INPUT_SIDE = 768
"""Inference side for the installed IS-Net models. Measured on the real development photos:
768 scores as 1024 does (mean IoU 0.820 vs 0.815) at 0.56x the inference time (0.73 s vs 1.3 s
on two CPU threads); 640 loses 0.02. See bench/segment_real.py."""


@dataclass(frozen=True)
class SegmenterConfig:
    """What a process needs to build its segmentation provider (from ``plinth.settings``)."""

    provider: str = "auto"
    model: str = DEFAULT_MODEL
    """An installed model's name (``plinth models list``) or, for ``onnx``, a file path."""
    input_side: int | None = None
    """Inference side; ``None``: :data:`DEFAULT_INPUT_SIDE` for installed models, the
    contract's side for a configured file."""
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    output: OutputKind | None = None
    """Pre/post-processing of a model configured by path; installed models carry their own."""
    fusion: bool = True
    """Fuse with the backdrop model on plain studio backdrops."""
    wider_look: bool = True
    """Look again at the photo inside a margin where the model found nothing or its object
    runs into the frame (:mod:`plinth.imaging.segment.wider_look`)."""
    translucency: bool = True
    """Give a tinted glass body on a plain backdrop partial alpha
    (:mod:`plinth.imaging.segment.translucency`)."""
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    model_dir: Path | None = None


def build_segmenter(config: SegmenterConfig, **provider_config: Any) -> SegmentProvider:
    """The provider ``config`` names. ``provider_config`` goes to ``local``/``freepik``."""
    name = config.provider.strip().lower()
    if name not in PROVIDERS:
        raise SegmentationError(
            f"unknown segment provider {config.provider!r}; choose one of {', '.join(PROVIDERS)}")
    if name == "auto":
        try:
            return learned_segmenter(config)
        except ModelError as exc:
            log.warning("segment provider auto: %s; using the local provider instead", exc.message)
            return get_provider("local", **provider_config)
    if name in ("learned", "onnx"):
        try:
            return learned_segmenter(config)
        except ModelError as exc:
            raise SegmentationError(exc.message) from exc
    if name == "freepik":
        return freepik_segmenter(**provider_config)
    return get_provider(name, **provider_config)


def freepik_segmenter(**config: Any) -> SegmentProvider:
    """Freepik's remove-background provider; ``config`` as :class:`FreepikSegmenter` takes it
    (``api_key``, ``uploader``, ``unit_price_usd`` and HTTP settings)."""
    from plinth.vendors.freepik.segmenter import FreepikSegmenter

    try:
        return FreepikSegmenter(**config)
    except TypeError as exc:
        # A misspelt or missing setting: say which provider and what it said.
        raise SegmentationError(f"bad configuration for segment provider 'freepik': {exc}") from exc


def learned_segmenter(config: SegmenterConfig) -> LearnedSegmenter:
    """The learned provider on the configured model; raises ``ModelError`` when it is missing."""
    spec = MODELS.get(config.model)
    if spec is not None:
        path = resolve(spec.name, config.model_dir)
        contract = replace(spec.contract, input_side=config.input_side or DEFAULT_INPUT_SIDE)
        model = OnnxSaliencyModel(path, contract, name=spec.name, sha256=spec.sha256,
                                  options=config.runtime)
    else:
        path = Path(config.model).expanduser()
        if not path.is_file():
            known = ", ".join(MODELS)
            raise ModelError(f"segment model {config.model!r} is neither an installed model "
                             f"({known}) nor an ONNX file")
        try:
            contract = ModelContract(
                input_side=config.input_side or ModelContract.input_side,
                mean=config.mean or ModelContract.mean,
                std=config.std or ModelContract.std,
                output=config.output or ModelContract.output,
            )
        except ValueError as exc:
            raise ModelError(f"segment model {config.model}: {exc}") from exc
        model = OnnxSaliencyModel(path, contract, options=config.runtime)
    options = LearnedOptions()
    if not config.fusion:
        options = replace(options, fusion=None)
    if not config.wider_look:
        options = replace(options, wider_look=None)
    if not config.translucency:
        options = replace(options, translucency=None)
    return LearnedSegmenter(model, options)


def config_from_settings(settings: SegmentSettings, **overrides: Any) -> SegmenterConfig:
    """A :class:`SegmenterConfig` from ``plinth.settings.SegmentSettings`` (``overrides`` win)."""
    model = settings.segment_model
    if settings.segment_provider.strip().lower() == "onnx" and settings.onnx_model_path:
        model = settings.onnx_model_path
    config = SegmenterConfig(
        provider=settings.segment_provider,
        model=model,
        input_side=settings.segment_input_side,
        mean=settings.segment_model_mean,
        std=settings.segment_model_std,
        output=settings.segment_model_output,
        fusion=settings.segment_fusion,
        runtime=RuntimeOptions(
            threads=settings.segment_threads,
            use_cuda=settings.segment_use_cuda,
            use_openvino=settings.segment_use_openvino,
            graph_optimisation=settings.segment_graph_optimisation,
            memory_arena=settings.segment_memory_arena,
        ),
        model_dir=Path(settings.model_dir) if settings.model_dir else None,
    )
    return replace(config, **overrides)
