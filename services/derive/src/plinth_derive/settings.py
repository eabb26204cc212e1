"""What the derive service reads: the worker's settings and the background mode (the manifest
names where its backgrounds came from). No vendor key, no webhook secret."""

from __future__ import annotations

from plinth.settings import BackgroundSettings
from plinth.worker.settings import WorkerSettings


class DeriveWorkerSettings(WorkerSettings, BackgroundSettings):
    pass
