"""What the background service reads: the worker's settings, the background mode and cache, and
Freepik's (for ``PLINTH_BACKGROUND_MODE=ai``). No Shopify token, no webhook secret."""

from __future__ import annotations

from plinth.settings import BackgroundSettings, FreepikSettings
from plinth.worker.settings import WorkerSettings


class BackgroundWorkerSettings(WorkerSettings, BackgroundSettings, FreepikSettings):
    pass
