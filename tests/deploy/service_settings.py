"""Which settings class each Plinth service reads: its package's ``settings`` module defines
one composition of concerns (``plinth_segment.settings.SegmentWorkerSettings``, ...); a stage
service without one (composite) runs on :class:`plinth.worker.settings.WorkerSettings`."""

from __future__ import annotations

import importlib
from pathlib import Path

from plinth.settings import PlinthSettings
from plinth.worker.settings import WorkerSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/pyproject.toml"))


def service_settings(service: str) -> type[PlinthSettings]:
    """The class ``service`` (``segment``, ``dashboard-api``, or its script ``plinth-segment``)
    composes."""
    service = service.removeprefix("plinth-")
    module_name = f"plinth_{service.replace('-', '_')}.settings"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return WorkerSettings
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, PlinthSettings)
        and obj.__module__ == module_name  # defined here, not imported (e.g. its base class)
    ]
    assert len(found) == 1, f"{module_name}: expected one settings class, found {found}"
    return found[0]
