from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from plinth_dashboard_api.settings import DashboardSettings, Role
from plinth_dashboard_api.stats import percentile, summarise_window

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0.5) == 25.0
    assert percentile(values, 0.95) == pytest.approx(38.5)
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None


def test_window_buckets_by_hour_and_keeps_done_costs_only() -> None:
    docs = [
        {
            "status": "DONE",
            "created_at": NOW - timedelta(minutes=10),
            "completed_at": NOW - timedelta(minutes=9),
            "cost_usd": 0.5,
            "timings": {"download_ms": 100, "publish_ms": None},
        },
        {"status": "FAILED", "created_at": NOW - timedelta(hours=2), "cost_usd": 9.0},
        {"status": "NEW", "created_at": NOW - timedelta(hours=2, minutes=5)},
    ]
    window = summarise_window(docs, NOW)
    assert len(window.buckets) == 24
    buckets = list(window.buckets.values())
    assert buckets[-1].hour == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert (buckets[-1].total, buckets[-1].done) == (1, 1)
    assert (buckets[-3].total, buckets[-3].failed) == (2, 1)
    assert window.costs == [0.5]
    assert window.processing_ms == [60_000.0]
    assert window.steps["download_ms"] == [100.0]
    assert window.steps["publish_ms"] == []


def test_api_keys_map_to_named_roles() -> None:
    settings = DashboardSettings(
        dashboard_api_keys={"k1": "alice:operator", "k2": "viewer"}  # type: ignore[dict-item]
    )
    assert settings.principal_for("k1") == ("alice", Role.OPERATOR)
    name, role = settings.principal_for("k2") or ("", None)
    assert role is Role.VIEWER and name.startswith("key-")
    assert settings.principal_for("k3") is None
    assert settings.principal_for("") is None


def test_unknown_role_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="unknown role 'admin'"):
        DashboardSettings(dashboard_api_keys={"k": "admin"})  # type: ignore[dict-item]
