"""The GraphQL documents Plinth sends to the Admin API (pinned version: see ``settings``).

Chosen from the current Admin GraphQL reference (shopify.dev/docs/api/admin-graphql, 2026-10):
``productCreateMedia``/``productDeleteMedia`` are deprecated there in favour of ``productUpdate``
with its ``media`` argument and of the Files API (``fileUpdate``/``fileDelete``), and
``productUpdate(input:)`` in favour of ``productUpdate(product:)``. Files are staged with
``stagedUploadsCreate`` and the returned ``resourceUrl`` becomes the media's ``originalSource``.
Operation names are prefixed ``Plinth`` so that they are easy to find in Shopify's API logs.
"""

from __future__ import annotations

from typing import Final

FIND_VARIANT: Final = """
query PlinthFindVariant($query: String!) {
  productVariants(first: 5, query: $query) {
    nodes { id sku product { id title } }
  }
}
"""

PRODUCT_MEDIA: Final = """
query PlinthProductMedia($id: ID!, $after: String) {
  product(id: $id) {
    id
    media(first: 50, after: $after) {
      nodes { id alt status mediaContentType }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

STAGED_UPLOAD: Final = """
mutation PlinthStagedUpload($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}
"""

ATTACH_MEDIA: Final = """
mutation PlinthAttachMedia($product: ProductUpdateInput!, $media: [CreateMediaInput!]) {
  productUpdate(product: $product, media: $media) {
    product {
      id
      media(last: 10) { nodes { id alt status } }
    }
    userErrors { field message }
  }
}
"""

MEDIA_STATUS: Final = """
query PlinthMediaStatus($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on Media { status mediaErrors { code message details } }
  }
}
"""

DELETE_FILES: Final = """
mutation PlinthDeleteFiles($fileIds: [ID!]!) {
  fileDelete(fileIds: $fileIds) {
    deletedFileIds
    userErrors { field message code }
  }
}
"""

VARIANT_MEDIA: Final = """
query PlinthVariantMedia($id: ID!) {
  productVariant(id: $id) {
    id
    media(first: 10) { nodes { id } }
  }
}
"""

# At most MAX_VARIANT_MEDIA_PAIRS (variant, media) pairs per call (MediaUserErrorCode
# MAXIMUM_VARIANT_MEDIA_PAIRS_EXCEEDED); media must be READY (else NON_READY_MEDIA).
APPEND_VARIANT_MEDIA: Final = """
mutation PlinthAppendVariantMedia($productId: ID!,
                                  $variantMedia: [ProductVariantAppendMediaInput!]!) {
  productVariantAppendMedia(productId: $productId, variantMedia: $variantMedia) {
    productVariants { id }
    userErrors { field message code }
  }
}
"""

DETACH_VARIANT_MEDIA: Final = """
mutation PlinthDetachVariantMedia($productId: ID!,
                                  $variantMedia: [ProductVariantDetachMediaInput!]!) {
  productVariantDetachMedia(productId: $productId, variantMedia: $variantMedia) {
    productVariants { id }
    userErrors { field message code }
  }
}
"""

# Alt text of existing (READY) media: the Files API, productUpdateMedia being deprecated.
UPDATE_FILES: Final = """
mutation PlinthUpdateFiles($files: [FileUpdateInput!]!) {
  fileUpdate(files: $files) {
    files { id alt }
    userErrors { field message code }
  }
}
"""

MAX_VARIANT_MEDIA_PAIRS: Final = 100
