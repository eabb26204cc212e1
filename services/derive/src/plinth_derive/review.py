"""The review hold's setting and the threshold that applies to a job.

The manifest step holds a job for a person (IN_REVIEW) when its cut-out's confidence is under the
threshold: the theme's ``review_threshold`` when it sets one, else ``PLINTH_REVIEW_THRESHOLD``.
0 never holds, 1 holds every job (see ``plinth.domain.transitions.hold_review``).

The default, 0.5, holds what is genuinely doubtful. Measured with the default learned segmenter
(isnet-medium) on the repository's photos: 16 synthetic studio products
(``bench/quality/synth.py`` seeds 100-115; the end-to-end test sends 100-107) score 0.62-0.96 and
all cut out right (IoU >= 0.99), so none is held; of the 45 real photos with reference masks
(``shared/realphotos``, mostly scenes, not studio shots) 14 score under 0.5 and 10 of those are
bad cut-outs (IoU < 0.8), against 5 bad in 12 between 0.5 and 0.7 and 1 in 19 above. A higher
threshold catches more of the bad ones but holds good studio shots too; a merchant who wants
that sets it per theme.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from plinth.settings import PlinthSettings

DEFAULT_REVIEW_THRESHOLD = 0.5


class ReviewSettings(PlinthSettings):
    """``PLINTH_REVIEW_THRESHOLD``: the global review threshold, 0..1 (part of
    ``plinth_derive.settings.DeriveWorkerSettings``)."""

    review_threshold: float = Field(
        default=DEFAULT_REVIEW_THRESHOLD, ge=0.0, le=1.0,
        description="hold a cut-out for review when its confidence is under this, unless its "
        "theme sets review_threshold; 0 never holds, 1 holds every job",
    )


@lru_cache(maxsize=1)
def review_settings() -> ReviewSettings:
    return ReviewSettings()


def global_threshold(settings: object) -> float:
    """The composed settings' threshold when they include :class:`ReviewSettings`, else the
    environment's (read once)."""
    if isinstance(settings, ReviewSettings):
        return settings.review_threshold
    return review_settings().review_threshold
