"""Typed errors raised by the pure image stages.

Each carries a stable ``code`` so services can write it onto the job document and the CLI can
print it; ``permanent`` tells a worker whether retrying could ever help.
"""

from __future__ import annotations


class ImagingError(Exception):
    """Base class for every error an image stage raises on purpose."""

    code = "imaging_error"
    permanent = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAnImageError(ImagingError):
    code = "not_an_image"


class UnsupportedFormatError(ImagingError):
    code = "unsupported_format"


class TruncatedImageError(ImagingError):
    code = "truncated_image"


class DecompressionBombError(ImagingError):
    code = "decompression_bomb"


class ImageTooLargeError(ImagingError):
    code = "image_too_large"


class SegmentationError(ImagingError):
    code = "segmentation_failed"


class ProviderError(ImagingError):
    """A third-party provider (Freepik, ...) failed; transient unless said otherwise."""

    code = "provider_error"
    permanent = False

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ThemeError(ImagingError):
    code = "invalid_theme"


class EmptyCutoutError(ImagingError):
    """The cutout has no visible pixels, so there is nothing to composite."""

    code = "empty_cutout"
