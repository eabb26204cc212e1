"""The downloader's consumer group. Its consumer is the stage-worker runtime's
(:class:`plinth.worker.service.KafkaStageBinding`, wired in :mod:`plinth_ingest.runtime`)."""

from __future__ import annotations

from plinth.domain.states import Stage
from plinth.settings import Settings
from plinth.worker import service


def consumer_group(settings: Settings) -> str:
    """``{prefix}-ingest``: the name it had before the downloader moved onto the runtime."""
    return service.consumer_group(settings, Stage.DOWNLOAD)
