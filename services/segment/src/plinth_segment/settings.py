"""What the segment service reads: the worker's settings, the segmentation provider's, Freepik's
(for the ``freepik`` provider) and the image limits. No Shopify token, no webhook secret."""

from __future__ import annotations

from plinth.settings import FreepikSettings, ImageLimitSettings, SegmentSettings
from plinth.worker.settings import WorkerSettings


class SegmentWorkerSettings(WorkerSettings, SegmentSettings, FreepikSettings, ImageLimitSettings):
    pass
