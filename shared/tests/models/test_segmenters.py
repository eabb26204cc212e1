"""``build_segmenter``/``config_from_settings``: provider names, installed models, model files.

No real model is used: "installed" models are tiny ONNX files placed in a temporary model
directory, registered under a fake spec; an empty temporary directory stands for a machine
where nothing is installed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.learned import LearnedSegmenter
from plinth.imaging.segment.local import LocalOptions, LocalSegmenter
from plinth.imaging.segment.saliency import ModelContract
from plinth.models import registry, segmenters
from plinth.models.install import clear_verification_cache
from plinth.models.onnx_runtime import RuntimeOptions
from plinth.models.segmenters import (
    DEFAULT_INPUT_SIDE,
    PROVIDERS,
    SegmenterConfig,
    build_segmenter,
    config_from_settings,
)
from plinth.settings import SegmentSettings

CPU = RuntimeOptions(threads=1, use_cuda=False)
LOGGER = "plinth.models.segmenters"


def tiny_onnx(path: Path, gain: float = 10.0) -> Path:
    """sigmoid(gain * (0.5 - mean_c(x))) with free height and width."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
         helper.make_node("Sub", ["half", "m"], ["d"]),
         helper.make_node("Mul", ["d", "gain"], ["z"]),
         helper.make_node("Sigmoid", ["z"], ["saliency"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, "h", "w"])],
        initializer=[helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
                     helper.make_tensor("gain", TensorProto.FLOAT, [], [gain])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def no_plinth_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test alone, not from the machine's PLINTH_* variables."""
    for name in SegmentSettings.model_fields:
        monkeypatch.delenv(f"PLINTH_{name.upper()}", raising=False)


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "models"
    directory.mkdir()
    return directory


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "tiny.onnx")


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, registry.ModelSpec]:
    """A model directory where a fake ``tiny-net`` is installed, registered (for this test) as
    the only known model."""
    directory = tmp_path / "installed"
    directory.mkdir()
    path = tiny_onnx(directory / "tiny-net.onnx")
    contract = ModelContract(input_side=1024, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0),
                             output="clamp")
    spec = dataclasses.replace(registry.ISNET_SMALL, name="tiny-net", size=path.stat().st_size,
                               sha256=sha(path), chunks=(sha(path),), contract=contract)
    models = {spec.name: spec}
    monkeypatch.setattr(registry, "MODELS", models)
    monkeypatch.setattr(segmenters, "MODELS", models)
    clear_verification_cache()
    return directory, spec


# --- auto, learned, onnx -----------------------------------------------------------------------


def test_auto_without_an_installed_model_falls_back_to_local_with_a_warning(
    empty_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        provider = build_segmenter(SegmenterConfig(provider="auto", model_dir=empty_dir))
    assert isinstance(provider, LocalSegmenter) and provider.name == "local"
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "plinth models install isnet-medium" in message
    assert str(empty_dir) in message and "local provider" in message


def test_auto_passes_the_local_configuration_on(empty_dir: Path) -> None:
    options = LocalOptions(work_side=320)
    provider = build_segmenter(SegmenterConfig(model_dir=empty_dir), options=options)
    assert isinstance(provider, LocalSegmenter) and provider.options is options


def test_learned_without_an_installed_model_is_an_error_naming_the_install_command(
    empty_dir: Path,
) -> None:
    with pytest.raises(SegmentationError, match="`uv run plinth models install isnet-small`"):
        build_segmenter(SegmenterConfig(provider="learned", model="isnet-small",
                                        model_dir=empty_dir))
    with pytest.raises(SegmentationError, match="plinth models install isnet-medium"):
        build_segmenter(SegmenterConfig(provider=" Learned ", model_dir=empty_dir))


@pytest.mark.parametrize("provider", ["onnx", "learned", " ONNX "])
def test_a_model_file_builds_the_learned_provider(model_file: Path, provider: str) -> None:
    config = SegmenterConfig(provider=provider, model=str(model_file), runtime=CPU)
    segmenter = build_segmenter(config)
    assert isinstance(segmenter, LearnedSegmenter) and segmenter.name == "learned"
    model = segmenter.model
    assert model.sha256 == sha(model_file)
    assert model.name == "tiny.onnx"
    assert model.contract == ModelContract(), "a file gets the default contract"
    assert segmenter.input_size == (1024, 1024)
    assert segmenter.options.fusion is not None
    assert segmenter.options.wider_look is not None


def test_the_wider_look_can_be_turned_off(model_file: Path) -> None:
    config = SegmenterConfig(provider="learned", model=str(model_file), wider_look=False,
                             runtime=CPU)
    segmenter = build_segmenter(config)
    assert isinstance(segmenter, LearnedSegmenter)
    assert segmenter.options.wider_look is None
    assert segmenter.options.fusion is not None, "the fusion stays on"


def test_the_glass_reading_can_be_turned_off(model_file: Path) -> None:
    config = SegmenterConfig(provider="learned", model=str(model_file), translucency=False,
                             runtime=CPU)
    segmenter = build_segmenter(config)
    assert isinstance(segmenter, LearnedSegmenter)
    assert segmenter.options.translucency is None
    assert segmenter.options.fusion is not None and segmenter.options.wider_look is not None


def test_auto_uses_a_model_file_too(model_file: Path, empty_dir: Path) -> None:
    config = SegmenterConfig(provider="auto", model=str(model_file), model_dir=empty_dir,
                             runtime=CPU)
    assert isinstance(build_segmenter(config), LearnedSegmenter)


def test_a_model_files_contract_comes_from_the_configuration(model_file: Path) -> None:
    config = SegmenterConfig(provider="onnx", model=str(model_file), input_side=200,
                             mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0), output="sigmoid",
                             fusion=False, runtime=CPU)
    segmenter = build_segmenter(config)
    assert isinstance(segmenter, LearnedSegmenter)
    assert segmenter.model.contract == ModelContract(
        input_side=200, mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0), output="sigmoid")
    assert segmenter.input_size == (192, 192), "rounded to a multiple of 32"
    assert segmenter.options.fusion is None


def test_a_model_path_with_a_tilde_is_expanded(
    model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(model_file.parent))
    segmenter = build_segmenter(SegmenterConfig(provider="onnx", model="~/tiny.onnx",
                                                runtime=CPU))
    assert isinstance(segmenter, LearnedSegmenter)
    assert segmenter.model.sha256 == sha(model_file)


@pytest.mark.parametrize("provider", ["onnx", "learned"])
def test_an_unknown_model_that_is_not_a_file_lists_the_known_names(
    provider: str, tmp_path: Path
) -> None:
    with pytest.raises(SegmentationError) as caught:
        build_segmenter(SegmenterConfig(provider=provider, model=str(tmp_path / "nope.onnx")))
    message = str(caught.value)
    assert "neither an installed model" in message
    assert "isnet-small" in message and "isnet-medium" in message
    assert "nope.onnx" in message


def test_auto_with_an_unknown_model_falls_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        provider = build_segmenter(SegmenterConfig(model="no-such-net", model_dir=tmp_path))
    assert provider.name == "local"
    assert "no-such-net" in caplog.text and "isnet-medium" in caplog.text


def test_a_model_file_that_is_no_model_is_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(SegmentationError, match="cannot load onnx model"):
        build_segmenter(SegmenterConfig(provider="onnx", model=str(junk)))


def test_an_installed_model_is_loaded_by_name_with_its_own_contract(
    installed: tuple[Path, registry.ModelSpec],
) -> None:
    directory, spec = installed
    for provider in ("learned", "auto", "onnx"):
        segmenter = build_segmenter(SegmenterConfig(provider=provider, model="tiny-net",
                                                    model_dir=directory, runtime=CPU))
        assert isinstance(segmenter, LearnedSegmenter), provider
        model = segmenter.model
        assert (model.name, model.sha256) == ("tiny-net", spec.sha256)
        assert model.contract == dataclasses.replace(spec.contract,
                                                     input_side=DEFAULT_INPUT_SIDE)
        assert segmenter.input_size == (DEFAULT_INPUT_SIDE, DEFAULT_INPUT_SIDE)
    chosen = build_segmenter(SegmenterConfig(provider="learned", model="tiny-net",
                                             model_dir=directory, input_side=512, runtime=CPU))
    assert isinstance(chosen, LearnedSegmenter) and chosen.input_size == (512, 512)


def test_a_corrupt_installed_model_is_refused_by_learned_and_skipped_by_auto(
    installed: tuple[Path, registry.ModelSpec], caplog: pytest.LogCaptureFixture
) -> None:
    directory, _ = installed
    path = directory / "tiny-net.onnx"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    clear_verification_cache()
    with pytest.raises(SegmentationError, match="reinstall it with `uv run plinth models install"):
        build_segmenter(SegmenterConfig(provider="learned", model="tiny-net",
                                        model_dir=directory))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        provider = build_segmenter(SegmenterConfig(model="tiny-net", model_dir=directory))
    assert provider.name == "local" and "sha256" in caplog.text


# --- local, freepik, unknown names -------------------------------------------------------------


def test_local_and_freepik_are_built_by_name(empty_dir: Path) -> None:
    assert build_segmenter(SegmenterConfig(provider="local", model_dir=empty_dir)).name == "local"
    freepik = build_segmenter(SegmenterConfig(provider="Freepik"), api_key="k")
    assert freepik.name == "freepik"
    with pytest.raises(SegmentationError, match="bad configuration for segment provider 'local'"):
        build_segmenter(SegmenterConfig(provider="local"), colour="red")


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(SegmentationError, match="unknown segment provider 'photoshop'"):
        build_segmenter(SegmenterConfig(provider="photoshop"))


@pytest.mark.parametrize("provider", ["photoshop", "", "local2"])
def test_an_unknown_provider_error_lists_every_provider(provider: str) -> None:
    with pytest.raises(SegmentationError) as caught:
        build_segmenter(SegmenterConfig(provider=provider))
    message = str(caught.value)
    assert f"unknown segment provider {provider!r}" in message
    assert "choose one of auto, learned, onnx, local, freepik" in message
    for name in PROVIDERS:
        assert name in message
    assert PROVIDERS == ("auto", "learned", "onnx", "local", "freepik")


@pytest.mark.parametrize("provider", ["onnx", "learned"])
@pytest.mark.parametrize(
    ("contract", "message"),
    [({"std": (0.0, 1.0, 1.0)}, "positive stds"), ({"input_side": 4}, "input_side 4 is too small")],
)
def test_an_invalid_configured_contract_is_a_segmentation_error(
    model_file: Path, provider: str, contract: dict[str, Any], message: str
) -> None:
    config = dataclasses.replace(SegmenterConfig(provider=provider, model=str(model_file),
                                                 runtime=CPU), **contract)
    with pytest.raises(SegmentationError, match=message) as caught:
        build_segmenter(config)
    assert str(model_file) in str(caught.value), "the message names the model"


def test_auto_with_an_invalid_configured_contract_falls_back_to_local_with_a_warning(
    model_file: Path, empty_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = SegmenterConfig(provider="auto", model=str(model_file), std=(0.0, 1.0, 1.0),
                             model_dir=empty_dir, runtime=CPU)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        provider = build_segmenter(config)
    assert isinstance(provider, LocalSegmenter)
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "positive stds" in warnings[0].getMessage()
    assert "local provider" in warnings[0].getMessage()


# --- settings ---------------------------------------------------------------------------------


def test_config_from_settings_maps_every_segment_setting(tmp_path: Path) -> None:
    settings = SegmentSettings(
        segment_provider="learned",
        segment_model="isnet-small",
        segment_input_side=640,
        segment_model_mean=(1.0, 2.0, 3.0),
        segment_model_std=(4.0, 5.0, 6.0),
        segment_model_output="minmax",
        segment_fusion=False,
        segment_threads=3,
        segment_use_cuda=False,
        segment_use_openvino=True,
        segment_graph_optimisation="basic",
        segment_memory_arena=True,
        model_dir=str(tmp_path),
    )
    assert config_from_settings(settings) == SegmenterConfig(
        provider="learned",
        model="isnet-small",
        input_side=640,
        mean=(1.0, 2.0, 3.0),
        std=(4.0, 5.0, 6.0),
        output="minmax",
        fusion=False,
        runtime=RuntimeOptions(threads=3, use_cuda=False, use_openvino=True,
                               graph_optimisation="basic", memory_arena=True),
        model_dir=tmp_path,
    )
    segment_fields = {name for name in SegmentSettings.model_fields if name.startswith("segment_")}
    assert segment_fields == {
        "segment_provider", "segment_model", "segment_input_side", "segment_model_mean",
        "segment_model_std", "segment_model_output", "segment_fusion", "segment_threads",
        "segment_use_cuda", "segment_use_openvino", "segment_graph_optimisation",
        "segment_memory_arena",
    }, "a new PLINTH_SEGMENT_* setting needs a mapping (and a line in this test)"


def test_config_from_settings_defaults() -> None:
    config = config_from_settings(SegmentSettings())
    assert config == SegmenterConfig()
    assert (config.provider, config.model, config.model_dir) == ("auto", "isnet-medium", None)


def test_config_from_settings_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "PLINTH_SEGMENT_PROVIDER": "onnx",
        "PLINTH_SEGMENT_MODEL": "/models/u2net.onnx",
        "PLINTH_SEGMENT_INPUT_SIDE": "320",
        "PLINTH_SEGMENT_MODEL_MEAN": "[123.675, 116.28, 103.53]",
        "PLINTH_SEGMENT_MODEL_STD": "[58.395, 57.12, 57.375]",
        "PLINTH_SEGMENT_MODEL_OUTPUT": "sigmoid",
        "PLINTH_SEGMENT_FUSION": "false",
        "PLINTH_SEGMENT_THREADS": "2",
        "PLINTH_SEGMENT_USE_CUDA": "0",
        "PLINTH_SEGMENT_USE_OPENVINO": "1",
        "PLINTH_SEGMENT_GRAPH_OPTIMISATION": "off",
        "PLINTH_SEGMENT_MEMORY_ARENA": "true",
        "PLINTH_MODEL_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    config = config_from_settings(SegmentSettings())
    assert config == SegmenterConfig(
        provider="onnx", model="/models/u2net.onnx", input_side=320,
        mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), output="sigmoid",
        fusion=False, runtime=RuntimeOptions(threads=2, use_cuda=False, use_openvino=True,
                                             graph_optimisation="off", memory_arena=True),
        model_dir=tmp_path)


def test_the_older_onnx_model_path_setting_names_the_onnx_providers_file() -> None:
    onnx_settings = SegmentSettings(segment_provider="ONNX", onnx_model_path="/old/model.onnx")
    assert config_from_settings(onnx_settings).model == "/old/model.onnx"
    learned = SegmentSettings(segment_provider="learned", onnx_model_path="/old/model.onnx")
    assert config_from_settings(learned).model == "isnet-medium", "only for the onnx provider"


def test_config_from_settings_overrides_win(tmp_path: Path) -> None:
    settings = SegmentSettings(segment_provider="learned", segment_model="isnet-small")
    config = config_from_settings(settings, provider="local", model=str(tmp_path / "x.onnx"))
    assert (config.provider, config.model) == ("local", str(tmp_path / "x.onnx"))
    assert config.runtime == RuntimeOptions()
