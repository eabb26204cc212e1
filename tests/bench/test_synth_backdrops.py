"""``bench/quality/synth.py``'s re-lit backdrops (``segment_real.py --synth-backdrop``): the same
product and scene on another backdrop colour, deterministic, and a clear error for a bad name."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a plain folder at the repository root
    sys.path.insert(0, str(REPO))

from bench.quality.synth import RELIT_BACKDROPS, make_case  # noqa: E402

SEED = 100001


@pytest.mark.parametrize("backdrop", sorted(RELIT_BACKDROPS))
def test_a_relit_case_keeps_the_product_and_takes_the_backdrops_colour(backdrop: str) -> None:
    light, relit = make_case(SEED), make_case(SEED, backdrop)
    np.testing.assert_array_equal(relit.alpha, light.alpha)
    assert relit.product == light.product and relit.hard == light.hard
    assert relit.background == f"{light.background}>{backdrop}"
    (low, high), _ = RELIT_BACKDROPS[backdrop]
    corner = relit.image[:20, :20].reshape(-1, 3).mean(axis=0) / 255
    assert low - 0.08 <= float(corner.mean()) <= high + 0.08
    np.testing.assert_array_equal(make_case(SEED, backdrop).image, relit.image)


def test_an_unknown_backdrop_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown backdrop 'teal': one of grey, pastel, dark"):
        make_case(SEED, "teal")
