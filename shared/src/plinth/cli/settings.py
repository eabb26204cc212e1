"""What the ``plinth`` command reads: it runs the pipeline on local files, with no Kafka, document
store, S3 or vendor, so it composes segmentation and the image limits only (same ``PLINTH_*``
variables as the services; procedural backgrounds read ``PLINTH_BACKGROUND_CACHE_MB`` through
:func:`plinth.stages.background_cache`)."""

from __future__ import annotations

from functools import lru_cache

from plinth.settings import ImageLimitSettings, SegmentSettings


class CliSettings(SegmentSettings, ImageLimitSettings):
    pass


@lru_cache(maxsize=1)
def get_cli_settings() -> CliSettings:
    """The command's settings, read once from the environment."""
    return CliSettings()
