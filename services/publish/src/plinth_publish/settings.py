"""What the publish service reads: the worker's settings and the Shopify store's. No Freepik key,
no webhook secret."""

from __future__ import annotations

from plinth.settings import ShopifySettings
from plinth.worker.settings import WorkerSettings


class PublishWorkerSettings(WorkerSettings, ShopifySettings):
    pass
