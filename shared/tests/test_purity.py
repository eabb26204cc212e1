"""The rooms say what they hold: the pure core does no I/O, and test code stays out of production.

Read from the source with :mod:`ast`, so nothing here is imported and a lazy import inside a
function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "shared" / "src"
PLINTH = SRC / "plinth"

PURE_PACKAGES = ("plinth/imaging", "plinth/domain")
"""Bytes/arrays in, bytes/arrays out: no network, no storage, no processes, no runtimes."""

IO_MODULES = (
    # network clients and servers
    "httpx", "aiohttp", "requests", "urllib.request", "http.client", "http.server", "socket",
    "ssl", "litestar", "uvicorn",
    # storage and messaging
    "aioboto3", "boto3", "botocore", "pymongo", "motor", "aiokafka", "faststream",
    # model runtimes, processes
    "onnxruntime", "subprocess",
    # Plinth's own rooms that do I/O
    "plinth.adapters", "plinth.vendors", "plinth.models", "plinth.net", "plinth.worker",
    "plinth.messaging", "plinth.telemetry", "plinth.cli",
    # test code
    "plinth_testkit",
)

TEST_ONLY = ("plinth_testkit", "graphql")
"""Packages the library must never import: the test kit, and the fake Shopify's GraphQL engine."""

TEST_ONLY_DISTRIBUTIONS = {"plinth-testkit", "graphql-core"}


def modules(folder: Path) -> Iterator[Path]:
    yield from sorted(folder.rglob("*.py"))


def imported_names(path: Path, root: Path = SRC) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, as absolute dotted names, with its line.

    ``from a import b`` yields both ``a`` and ``a.b`` (``b`` may be a submodule);
    relative imports are resolved against the module's own package (``root`` is the folder the
    top-level package is in); ``importlib.import_module("x")`` and ``__import__("x")`` with a
    literal count too.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    # a/b/c.py and a/b/__init__.py both resolve relative imports against package a.b
    package = list(path.relative_to(root).parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{module}.{alias.name}"
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (name in ("import_module", "__import__") and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                yield node.lineno, node.args[0].value


def is_within(name: str, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


def violations(folder: Path, forbidden: tuple[str, ...], root: Path = SRC) -> list[str]:
    found: dict[tuple[str, int, str], str] = {}
    for path in modules(folder):
        where = str(path.relative_to(root))
        for line, name in imported_names(path, root):
            hit = is_within(name, forbidden)
            if hit is not None:  # one report per import statement and forbidden module
                found.setdefault((where, line, hit), f"{where}:{line} imports {name} ({hit})")
    return sorted(found.values())


def test_the_pure_packages_exist() -> None:
    for package in PURE_PACKAGES:
        assert list(modules(SRC / package)), f"no modules under {package}: did it move?"


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_core_imports_no_io(package: str) -> None:
    found = violations(SRC / package, IO_MODULES)
    assert not found, (
        f"{package} is the pure core (no network, storage, processes or model runtimes); "
        "move the I/O to plinth.vendors, plinth.adapters or a service:\n" + "\n".join(found)
    )


def test_the_library_never_imports_test_code() -> None:
    found = violations(PLINTH, TEST_ONLY)
    assert not found, (
        "the plinth library must not import test code (plinth_testkit is a dev-only workspace "
        "member):\n" + "\n".join(found)
    )


def runtime_requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    names = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        names.extend(extra)
    return names


def distribution(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;@(]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


RUNTIME_PYPROJECTS = sorted(
    [ROOT / "pyproject.toml", ROOT / "shared" / "pyproject.toml",
     *ROOT.glob("services/*/pyproject.toml")]
)


@pytest.mark.parametrize(
    "pyproject", RUNTIME_PYPROJECTS, ids=[str(p.relative_to(ROOT)) for p in RUNTIME_PYPROJECTS]
)
def test_no_runtime_dependency_on_test_code(pyproject: Path) -> None:
    listed = {distribution(r) for r in runtime_requirements(pyproject)}
    assert not listed & TEST_ONLY_DISTRIBUTIONS, (
        f"{pyproject.relative_to(ROOT)} lists {sorted(listed & TEST_ONLY_DISTRIBUTIONS)} as a "
        "runtime dependency; they belong to the dev group (the plinth-testkit member)"
    )


def test_every_service_pyproject_is_checked() -> None:
    services = [p for p in RUNTIME_PYPROJECTS if p.parent.parent.name == "services"]
    assert len(services) >= 7, services


def test_the_checker_sees_imports(tmp_path: Path) -> None:
    """The AST walk itself: absolute, from-, relative, lazy and importlib imports all count."""
    folder = tmp_path / "plinth" / "imaging"
    folder.mkdir(parents=True)
    (folder / "clean.py").write_text("import numpy\nfrom . import colour\n", encoding="utf-8")
    (folder / "probe.py").write_text(
        "import importlib\n"
        "from urllib import request\n"
        "from .. import vendors\n"
        "def later():\n"
        "    import httpx.something\n"
        "    importlib.import_module('boto3')\n",
        encoding="utf-8",
    )
    found = violations(folder, IO_MODULES, root=tmp_path)
    assert all(line.startswith("plinth/imaging/probe.py:") for line in found), found
    assert {line.split(" imports ")[1].split(" ")[0] for line in found} == {
        "urllib.request", "plinth.vendors", "httpx.something", "boto3"
    }, found
