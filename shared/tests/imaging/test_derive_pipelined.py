"""derive_files queues every composite's encodes on one pool: same files as one at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from plinth.imaging.decode import decode_image, encode_jpeg
from plinth.imaging.derivatives import make_derivatives
from plinth.stages import derive_files


def test_pipelined_derive_is_byte_identical_to_one_composite_at_a_time() -> None:
    rng = np.random.default_rng(7)
    composites = [
        encode_jpeg(np.clip(rng.normal(180, 30, (160, 240, 3)), 0, 255).astype(np.uint8))
        for _ in range(2)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        files = derive_files(composites, executor=pool)
    expected = [
        (variant, item.size, item.fmt, item.width, item.height, item.data)
        for variant, jpeg in enumerate(composites)
        for item in make_derivatives(decode_image(jpeg).rgb)
    ]
    got = [(f.variant, f.size, f.fmt, f.width, f.height, f.data) for f in files]
    assert got == expected
    assert len(files) == 18
