"""The hard photo the browser tests and ``make demo`` send: drawn the same every time, and its
truth says what the docstring promises (the frame cuts the mug's base, the handle has a hole)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from plinth_testkit.photos import HEIGHT, WIDTH, mug_on_gingham


def test_the_hard_photo_is_deterministic_and_its_truth_matches_its_geometry() -> None:
    photo = mug_on_gingham()
    assert mug_on_gingham().jpeg == photo.jpeg
    image = Image.open(io.BytesIO(photo.jpeg))
    assert (image.format, image.size) == ("JPEG", (WIDTH, HEIGHT)) == ("JPEG", photo.size)
    truth = photo.truth
    assert truth[-1].any(), "the frame's bottom edge cuts the mug"
    assert not truth[0].any() and not truth[:, 0].any() and not truth[:, -1].any()
    rows, cols = np.nonzero(truth)
    x0, y0, _, _ = photo.body
    hx0, hy0, _, _ = photo.handle
    assert abs(cols.min() - hx0) <= 1 and abs(rows.min() - min(y0, hy0)) <= 1
    assert photo.horizon < rows.min(), "the mug stands on the tablecloth, below the wall"
    # the handle's hole: a pixel left of the body, inside the handle's box, is not the mug
    hole_y = round((photo.handle[1] + photo.handle[3]) / 2)
    assert not truth[hole_y, round((hx0 + x0) / 2)]
    red = np.asarray(image.convert("RGB"))[truth]
    assert red[:, 0].mean() > 2 * red[:, 1].mean(), "the mug is red"
