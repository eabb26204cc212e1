"""Field validation of deliveries and CSV reading, without any server."""

from __future__ import annotations

import pytest

from plinth_ingest.batch import CsvRefused, read_csv
from plinth_ingest.request import InvalidRequest, parse_image_request

THEMES = frozenset({"default", "warm_paper"})
SHA = "AB" * 32


def parse(data: object):  # type: ignore[no-untyped-def]
    return parse_image_request(data, known_themes=THEMES, max_themes=3)


def problems(data: object) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        parse(data)
    return {p.field: p.message for p in caught.value.problems}


def test_valid_request_is_normalised() -> None:
    request = parse(
        {"sku": "SKU-1", "image_url": " https://cdn.test/a.jpg ", "img_sha256": SHA,
         "themes": ["default", "warm_paper", "default"], "extra": "ignored"}
    )  # fmt: skip
    assert request.image_url == "https://cdn.test/a.jpg"
    assert request.img_sha256 == SHA.lower()
    assert request.themes == ("default", "warm_paper")


def test_singular_theme_is_accepted() -> None:
    assert parse({"sku": "S", "image_url": "http://a.test/x", "theme": "default"}).themes == (
        "default",
    )


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"image_url": "http://a.test/x", "theme": "default"}, "sku", "required"),
        ({"sku": "a/b", "image_url": "http://a.test/x", "theme": "default"}, "sku", "separator"),
        ({"sku": 12, "image_url": "http://a.test/x", "theme": "default"}, "sku", "string"),
        ({"sku": "S", "theme": "default"}, "image_url", "required"),
        ({"sku": "S", "image_url": "gopher://a.test/x", "theme": "default"}, "image_url", "gopher"),
        ({"sku": "S", "image_url": "http:///x", "theme": "default"}, "image_url", "no host"),
        ({"sku": "S", "image_url": "http://exa mple.test/x", "theme": "default"}, "image_url",
         "not a valid URL"),
        ({"sku": "S", "image_url": "http://a/x", "img_sha256": "zz", "theme": "default"},
         "img_sha256", "64 hexadecimal"),
        ({"sku": "S", "image_url": "http://a/x"}, "themes", "one or more"),
        ({"sku": "S", "image_url": "http://a/x", "themes": ["Bad Theme"]}, "themes", "a-z"),
        ({"sku": "S", "image_url": "http://a/x", "themes": ["nope"]}, "themes", "unknown theme"),
        ({"sku": "S", "image_url": "http://a/x", "themes": {"a": 1}}, "themes", "list"),
    ],
)  # fmt: skip
def test_each_problem_names_its_field(data: dict[str, object], field: str, fragment: str) -> None:
    found = problems(data)
    assert field in found, found
    assert fragment in found[field]


def test_not_an_object() -> None:
    assert problems([1, 2]) == {"body": "must be a JSON object"}


def test_csv_rows_keep_their_line_numbers() -> None:
    text = (
        "SKU,Image_URL,Theme\nA,http://a.test/1.jpg,default\n\nB,http://a.test/2.jpg,warm_paper\n"
    )
    rows = read_csv(text, max_rows=10)
    assert [(line, row["sku"]) for line, row in rows] == [(2, "A"), (4, "B")]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("sku,url\nA,b\n", "missing image_url, theme"),
        ("sku,image_url,theme\n", "no rows"),
        ("sku,image_url,theme\n" + "A,http://a/x,default\n" * 3, "more than 2 rows"),
    ],
)
def test_unusable_csv_is_refused_as_a_whole(text: str, fragment: str) -> None:
    with pytest.raises(CsvRefused, match=fragment):
        read_csv(text, max_rows=2)


def test_job_ids_are_derived_from_the_identity() -> None:
    from plinth_ingest.intake import identity_job_id

    one = identity_job_id("SKU-1", "a" * 64, "default")
    assert one == identity_job_id("SKU-1", "a" * 64, "default")
    assert len(one) == 32 and int(one, 16) >= 0
    assert one != identity_job_id("SKU-1", "a" * 64, "warm_paper")
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert identity_job_id("ab", "c", "d") != identity_job_id("a", "bc", "d")
