"""Exponential backoff for transient failures."""

from __future__ import annotations

from datetime import datetime, timedelta

from plinth.settings import RetrySettings


def retry_delay_s(settings: RetrySettings, attempt: int) -> float:
    """Delay before attempt ``attempt + 1`` after attempt ``attempt`` failed (attempt >= 1)."""
    delay = settings.retry_base_delay_s * (2 ** max(attempt - 1, 0))
    return float(min(delay, settings.retry_max_delay_s))


def not_before(settings: RetrySettings, attempt: int, now: datetime) -> datetime:
    return now + timedelta(seconds=retry_delay_s(settings, attempt))
