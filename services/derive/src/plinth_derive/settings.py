"""What the derive service reads: the worker's settings, the background mode (the manifest
names where its backgrounds came from) and the review threshold (the manifest step holds a
doubtful cut-out for a person). No vendor key, no webhook secret."""

from __future__ import annotations

from plinth.settings import BackgroundSettings
from plinth.worker.settings import WorkerSettings
from plinth_derive.review import ReviewSettings


class DeriveWorkerSettings(WorkerSettings, BackgroundSettings, ReviewSettings):
    pass
