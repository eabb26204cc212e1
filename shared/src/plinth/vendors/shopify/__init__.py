"""Shopify Admin GraphQL: the client Plinth publishes product media with (pure, httpx async)."""

from plinth.vendors.shopify.client import MediaRef, PublishedImage, ShopifyClient, VariantRef
from plinth.vendors.shopify.config import ShopifyConfig, ShopifyNotConfigured
from plinth.vendors.shopify.errors import (
    MediaFailed,
    MediaNotReady,
    MediaVanished,
    ShopifyAuthError,
    ShopifyError,
    ShopifyPermanentError,
    ShopifyThrottled,
    ShopifyTransientError,
    ShopifyUserError,
    SkuNotFound,
)

__all__ = [
    "MediaFailed",
    "MediaNotReady",
    "MediaRef",
    "MediaVanished",
    "PublishedImage",
    "ShopifyAuthError",
    "ShopifyClient",
    "ShopifyConfig",
    "ShopifyError",
    "ShopifyNotConfigured",
    "ShopifyPermanentError",
    "ShopifyThrottled",
    "ShopifyTransientError",
    "ShopifyUserError",
    "SkuNotFound",
    "VariantRef",
]
