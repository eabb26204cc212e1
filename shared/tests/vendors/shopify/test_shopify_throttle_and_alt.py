"""Pure parts of the client: the cost-bucket model and the alt text / marker."""

from __future__ import annotations

import pytest

from plinth.vendors.shopify.client import sku_search
from plinth.vendors.shopify.media import ALT_MAX_CHARS, alt_marker, alt_text, is_plinth_media
from plinth.vendors.shopify.throttle import DEFAULT_EXPECTED_COST, CostBudget, ThrottleStatus


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cost(requested: float, available: float, maximum: float = 1000.0, rate: float = 50.0):
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": requested,
        "throttleStatus": {
            "maximumAvailable": maximum,
            "currentlyAvailable": available,
            "restoreRate": rate,
        },
    }


def test_no_status_yet_means_no_wait() -> None:
    budget = CostBudget(Clock())
    assert budget.wait_before("Q") == 0.0
    assert budget.expected_cost("Q") == DEFAULT_EXPECTED_COST


def test_waits_for_exactly_the_missing_points_at_the_restore_rate() -> None:
    clock = Clock()
    budget = CostBudget(clock)
    budget.observe("Q", cost(requested=110, available=10))
    assert budget.wait_before("Q") == pytest.approx((110 - 10) / 50)
    clock.now += 1.0  # 50 points came back
    assert budget.wait_before("Q") == pytest.approx((110 - 60) / 50)
    clock.now += 60.0
    assert budget.wait_before("Q") == 0.0
    assert budget.available_now() == 1000.0  # never above the bucket's size


def test_a_cost_above_the_bucket_waits_for_a_full_bucket_not_forever() -> None:
    budget = CostBudget(Clock())
    budget.observe("Huge", cost(requested=5000, available=0, maximum=1000, rate=100))
    assert budget.wait_before("Huge") == pytest.approx(10.0)


def test_wait_after_throttle_uses_the_throttled_answers_status() -> None:
    budget = CostBudget(Clock())
    budget.observe("Q", cost(requested=42, available=2, rate=20))
    assert budget.wait_after_throttle("Q") == pytest.approx(2.0)
    budget.observe("Q", cost(requested=42, available=100, rate=20))
    assert budget.wait_after_throttle("Q") > 0  # throttled anyway (shared bucket): a short wait


def test_malformed_cost_extensions_are_ignored() -> None:
    assert ThrottleStatus.from_cost(None) is None
    assert ThrottleStatus.from_cost({"throttleStatus": {"maximumAvailable": "x"}}) is None
    budget = CostBudget(Clock())
    budget.observe("Q", {"requestedQueryCost": None, "throttleStatus": None})
    assert budget.status is None and budget.wait_before("Q") == 0.0


def test_alt_text_reads_naturally_and_carries_the_marker() -> None:
    alt = alt_text("Blue Mug", "MUG-1", "studio_white")
    assert alt == "Blue Mug – studio white [plinth:MUG-1/studio_white]"
    assert is_plinth_media(alt, "MUG-1", "studio_white")
    assert not is_plinth_media(alt, "MUG-1", "white")
    assert not is_plinth_media(alt, "MUG", "studio_white")
    assert not is_plinth_media("Blue Mug by the merchant", "MUG-1", "studio_white")
    assert not is_plinth_media(None, "MUG-1", "studio_white")


def test_long_titles_are_cut_so_the_marker_survives() -> None:
    alt = alt_text("x" * 2000, "SKU-9", "marble")
    assert len(alt) <= ALT_MAX_CHARS
    assert alt.endswith(alt_marker("SKU-9", "marble"))


def test_sku_search_quotes_and_escapes() -> None:
    assert sku_search("MUG-1") == 'sku:"MUG-1"'
    assert sku_search('A"B\\C') == 'sku:"A\\"B\\\\C"'
