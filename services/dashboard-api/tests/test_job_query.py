from datetime import UTC, datetime

import pytest

from plinth.domain.states import JobStatus
from plinth_dashboard_api.job_query import (
    InvalidQuery,
    build_query,
    mongo_filter,
    mongo_sort,
)


def test_statuses_accept_repeats_and_commas_and_deduplicate() -> None:
    query = build_query(status=["failed,DONE", "FAILED"])
    assert query.statuses == (JobStatus.FAILED, JobStatus.DONE)
    assert mongo_filter(query) == {"status": {"$in": ["FAILED", "DONE"]}}


def test_single_status_is_an_equality_match() -> None:
    assert mongo_filter(build_query(status=["NEW"])) == {"status": "NEW"}


def test_unknown_status_is_refused_with_the_valid_ones_named() -> None:
    with pytest.raises(InvalidQuery, match=r"unknown status 'NOPE'.*FAILED"):
        build_query(status=["NOPE"])


def test_sku_prefix_is_an_anchored_escaped_regex() -> None:
    flt = mongo_filter(build_query(sku="AB.1*"))
    assert flt == {"sku": {"$regex": r"^AB\.1\*"}}


def test_ranges_and_theme() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    flt = mongo_filter(
        build_query(theme="studio", created_from=start, created_to=end, cost_min=0.1, cost_max=2)
    )
    assert flt == {
        "theme": "studio",
        "created_at": {"$gte": start, "$lte": end},
        "cost_usd": {"$gte": 0.1, "$lte": 2},
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page": 0}, "page must be between 1 and"),
        ({"page_size": 500}, "page_size"),
        ({"cost_min": 3, "cost_max": 1}, "cost_min"),
        (
            {
                "created_from": datetime(2026, 2, 1, tzinfo=UTC),
                "created_to": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "created_from",
        ),
        ({"sort": "-image_url"}, "cannot sort"),
        ({"max_confidence": 1.5}, "max_confidence must be between 0 and 1"),
        ({"min_confidence": 0.9, "max_confidence": 0.2}, "min_confidence is greater"),
    ],
)
def test_bad_queries_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidQuery, match=message):
        build_query(**kwargs)  # type: ignore[arg-type]


def test_sort_has_a_stable_tiebreak_and_paging_skips() -> None:
    query = build_query(sort="cost_usd", page=3, page_size=20)
    assert mongo_sort(query) == [("cost_usd", 1), ("_id", 1)]
    assert query.skip == 40
    assert mongo_sort(build_query()) == [("created_at", -1), ("_id", -1)]


def test_confidence_bounds_filter_the_top_level_field() -> None:
    flt = mongo_filter(build_query(min_confidence=0.2, max_confidence=0.8))
    assert flt == {"segment_confidence": {"$gte": 0.2, "$lte": 0.8}}
    assert mongo_filter(build_query(max_confidence=0.8)) == {"segment_confidence": {"$lte": 0.8}}


def test_least_certain_first_lists_only_jobs_with_a_confidence() -> None:
    query = build_query(sort="confidence")
    assert mongo_sort(query) == [("segment_confidence", 1), ("_id", 1)]
    assert mongo_filter(query) == {"segment_confidence": {"$gte": 0.0}}
    bounded = build_query(sort="confidence", max_confidence=0.5)
    assert mongo_filter(bounded) == {"segment_confidence": {"$lte": 0.5}}
    assert build_query(sort="-cost_usd").min_confidence is None


def test_page_is_bounded() -> None:
    """An unbounded page made (page - 1) * page_size overflow the store's 64-bit skip: a 500."""
    from plinth_dashboard_api.job_query import MAX_PAGE

    assert build_query(page=MAX_PAGE).skip == (MAX_PAGE - 1) * 25
    for page in (0, MAX_PAGE + 1, 10**20):
        with pytest.raises(InvalidQuery, match="page must be between 1 and"):
            build_query(page=page)
