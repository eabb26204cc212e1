"""The part of the Admin GraphQL schema (2026-10) the fake serves, as SDL.

Names of types, fields, arguments, inputs and enum values are Shopify's, so a document that
validates here uses the real API's shapes; anything Plinth does not use is left out, and so is
refused like an unknown field.
"""

from __future__ import annotations

from graphql import GraphQLSchema, build_schema

SCHEMA_SDL = """
schema { query: QueryRoot mutation: Mutation }

scalar URL
scalar UnsignedInt64

interface Node { id: ID! }

enum MediaStatus { UPLOADED PROCESSING READY FAILED }
enum FileStatus { UPLOADED PROCESSING READY FAILED }
enum MediaContentType { EXTERNAL_VIDEO IMAGE MODEL_3D VIDEO }
enum MediaErrorCode {
  UNKNOWN INVALID_SIGNED_URL IMAGE_DOWNLOAD_FAILURE IMAGE_PROCESSING_FAILURE
  MEDIA_TIMEOUT_ERROR UNSUPPORTED_IMAGE_FILE_TYPE INVALID_IMAGE_FILE_SIZE
}
enum MediaPreviewImageStatus { UPLOADED PROCESSING READY FAILED }

type MediaError { code: MediaErrorCode! details: String message: String! }
type Image { id: ID url: URL! altText: String width: Int height: Int }
type MediaPreviewImage { image: Image status: MediaPreviewImageStatus! }

interface Media {
  alt: String
  id: ID!
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  preview: MediaPreviewImage
  status: MediaStatus!
}

interface File {
  alt: String
  fileStatus: FileStatus!
  id: ID!
  preview: MediaPreviewImage
}

type MediaImage implements File & Media & Node {
  alt: String
  fileStatus: FileStatus!
  id: ID!
  image: Image
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  mimeType: String
  preview: MediaPreviewImage
  status: MediaStatus!
}

type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

type MediaEdge { cursor: String! node: Media! }
type MediaConnection { edges: [MediaEdge!]! nodes: [Media!]! pageInfo: PageInfo! }

type ProductVariant implements Node {
  id: ID!
  displayName: String!
  media(first: Int, after: String, last: Int, before: String,
        reverse: Boolean = false): MediaConnection!
  product: Product!
  sku: String
  title: String!
}
type ProductVariantEdge { cursor: String! node: ProductVariant! }
type ProductVariantConnection {
  edges: [ProductVariantEdge!]!
  nodes: [ProductVariant!]!
  pageInfo: PageInfo!
}

type Product implements Node {
  handle: String!
  id: ID!
  media(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
        query: String): MediaConnection!
  title: String!
  variants(first: Int, after: String, last: Int, before: String,
           reverse: Boolean = false): ProductVariantConnection!
}

type QueryRoot {
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  product(id: ID, handle: String): Product
  productVariant(id: ID!): ProductVariant
  productVariants(first: Int, after: String, last: Int, before: String,
                  reverse: Boolean = false, query: String): ProductVariantConnection!
}

enum StagedUploadTargetGenerateUploadResource {
  BULK_MUTATION_VARIABLES COLLECTION_IMAGE FILE IMAGE MODEL_3D PRODUCT_IMAGE SHOP_IMAGE VIDEO
  RETURN_LABEL URL_REDIRECT_IMPORT DISPUTE_FILE_UPLOAD
}
enum StagedUploadHttpMethodType { POST PUT }

input StagedUploadInput {
  filename: String!
  fileSize: UnsignedInt64
  httpMethod: StagedUploadHttpMethodType = PUT
  mimeType: String!
  resource: StagedUploadTargetGenerateUploadResource!
}
input CreateMediaInput {
  alt: String
  mediaContentType: MediaContentType!
  originalSource: String!
}
input ProductUpdateInput {
  id: ID
  title: String
  handle: String
  descriptionHtml: String
  vendor: String
  productType: String
  tags: [String!]
}

input ProductVariantAppendMediaInput { mediaIds: [ID!]! variantId: ID! }
input ProductVariantDetachMediaInput { mediaIds: [ID!]! variantId: ID! }
input FileUpdateInput {
  alt: String
  filename: String
  id: ID!
  originalSource: String
  previewImageSource: String
  referencesToAdd: [ID!]
  referencesToRemove: [ID!]
}

type StagedUploadParameter { name: String! value: String! }
type StagedMediaUploadTarget {
  parameters: [StagedUploadParameter!]!
  resourceUrl: URL
  url: URL
}
type UserError { field: [String!] message: String! }
enum FilesErrorCode {
  ALT_VALUE_LIMIT_EXCEEDED FILE_DOES_NOT_EXIST FILE_LOCKED INVALID INVALID_FAILED_MEDIA_STATE
  TOO_MANY_ARGUMENTS MISSING_ARGUMENTS
}
enum MediaUserErrorCode {
  BLANK INVALID INVALID_MEDIA_TYPE MAXIMUM_VARIANT_MEDIA_PAIRS_EXCEEDED MEDIA_CANNOT_BE_MODIFIED
  MEDIA_DOES_NOT_EXIST MEDIA_DOES_NOT_EXIST_ON_PRODUCT MEDIA_IS_NOT_ATTACHED_TO_VARIANT
  MISSING_ARGUMENTS MODEL3D_THROTTLE_EXCEEDED MODEL3D_VALIDATION_ERROR NON_READY_MEDIA
  PRODUCT_DOES_NOT_EXIST PRODUCT_MEDIA_LIMIT_EXCEEDED PRODUCT_SUSPENDED
  PRODUCT_VARIANT_ALREADY_HAS_MEDIA PRODUCT_VARIANT_DOES_NOT_EXIST_ON_PRODUCT
  PRODUCT_VARIANT_SPECIFIED_MULTIPLE_TIMES SHOP_MEDIA_LIMIT_EXCEEDED TOO_MANY_MEDIA_PER_INPUT_PAIR
  VIDEO_THROTTLE_EXCEEDED VIDEO_VALIDATION_ERROR
}
type MediaUserError { code: MediaUserErrorCode field: [String!] message: String! }
type FilesUserError { code: FilesErrorCode field: [String!] message: String! }

type StagedUploadsCreatePayload {
  stagedTargets: [StagedMediaUploadTarget!]
  userErrors: [UserError!]!
}
type ProductUpdatePayload { product: Product userErrors: [UserError!]! }
type FileDeletePayload { deletedFileIds: [ID!] userErrors: [FilesUserError!]! }
type FileUpdatePayload { files: [File!] userErrors: [FilesUserError!]! }
type ProductVariantAppendMediaPayload {
  product: Product
  productVariants: [ProductVariant!]
  userErrors: [MediaUserError!]!
}
type ProductVariantDetachMediaPayload {
  product: Product
  productVariants: [ProductVariant!]
  userErrors: [MediaUserError!]!
}

type Mutation {
  fileDelete(fileIds: [ID!]!): FileDeletePayload
  fileUpdate(files: [FileUpdateInput!]!): FileUpdatePayload
  productUpdate(product: ProductUpdateInput, media: [CreateMediaInput!]): ProductUpdatePayload
  productVariantAppendMedia(productId: ID!, variantMedia: [ProductVariantAppendMediaInput!]!
                            ): ProductVariantAppendMediaPayload
  productVariantDetachMedia(productId: ID!, variantMedia: [ProductVariantDetachMediaInput!]!
                            ): ProductVariantDetachMediaPayload
  stagedUploadsCreate(input: [StagedUploadInput!]!): StagedUploadsCreatePayload
}
"""

SCHEMA: GraphQLSchema = build_schema(SCHEMA_SDL)
