"""The judgement of sealed regions (``_sealed_pockets``) on hand-made classification maps."""

from __future__ import annotations

import numpy as np

from plinth.imaging.segment.coarse import CoarseOptions, _frame_band, _sealed_pockets

H, W = 400, 512


def judge(product: np.ndarray, crisp: np.ndarray, seeds: np.ndarray, exact: np.ndarray,
          darker: np.ndarray, options: CoarseOptions) -> np.ndarray:
    """What ``_sealed_pockets`` gives back as product, for a scene where the growth reached
    every passable pixel (those not ``product`` nor outline)."""
    passable = ~product & ~crisp
    radius = round(options.sealed_gap * max(H, W))
    return _sealed_pockets(passable.copy(), passable, seeds, np.zeros((H, W), bool), darker,
                           exact, crisp, radius, options)


def test_thin_strip_between_a_product_and_the_frame_is_backdrop() -> None:
    # A dark mug stops 12 px short of the right-hand frame; its top and bottom outlines,
    # completed, run on to the frame and close the strip off, and a vignette takes the
    # strip out of the backdrop's exact colour. Beyond the frame there is only backdrop:
    # a strip that thin along the frame is backdrop, not the product's lit side.
    product = np.zeros((H, W), bool)
    product[120:330, 250:500] = True
    crisp = np.zeros((H, W), bool)
    crisp[118:120, 248:] = crisp[330:332, 248:] = True
    crisp[118:332, 248:250] = True
    seeds = _frame_band(H, W) & ~product & ~crisp
    exact = ~product & ~crisp
    exact[120:330, 500:] = False
    none = np.zeros((H, W), bool)
    assert not judge(product, crisp, seeds, exact, none, CoarseOptions())[120:330, 500:].any()
    # Without the frame counted as backdrop, the strip was product.
    legacy = CoarseOptions(sealed_frame_share=0.0)
    assert judge(product, crisp, seeds, exact, none, legacy)[120:330, 500:].all()


def test_outlined_body_with_a_third_of_the_backdrops_colour_is_product() -> None:
    # A pale bottle's body: outlined all round but for a short gap at its neck, shaded
    # darker on the right and of the backdrop's exact colour down its middle (40 %), with
    # its lit left side (a highlight, outlined too) beyond its left outline. Such a region
    # is product, not a bay of the backdrop between product parts.
    product = np.zeros((H, W), bool)
    product[100:340, 180:198] = True  # the lit left side
    crisp = np.zeros((H, W), bool)
    crisp[98:100, 178:320] = crisp[340:342, 178:320] = True
    crisp[98:342, 178:180] = crisp[98:342, 318:320] = True
    crisp[98:342, 198:200] = True  # the edge of the highlight down its lit side
    crisp[98:100, 240:248] = False  # the gap at the neck
    body = np.zeros((H, W), bool)
    body[100:340, 200:318] = True
    exact = ~product & ~crisp & ~body
    exact[100:340, 200:247] = True
    darker = body & ~exact
    seeds = _frame_band(H, W)
    result = judge(product, crisp, seeds, exact, darker, CoarseOptions())
    assert result[110:330, 210:310].all()
    legacy = CoarseOptions(sealed_outlined_exact=0.0)
    assert not judge(product, crisp, seeds, exact, darker, legacy)[110:330, 210:310].any()


def test_grey_handle_sealed_off_with_its_hole_through_a_wider_gap_is_product() -> None:
    # A grey handle (it passes for shadow) and its hole, sealed off together: gaps in the
    # inner outline join them, and a highlight across the handle's outer side leaves a gap
    # through which 13 % of the region's rim meets the backdrop (no outline either where the
    # handle joins the body). Otherwise outlined, and not of the backdrop's colour but for
    # its hole, it is product; the hole inside it is found and left out.
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    radius = np.hypot(xx - 300, yy - 200)
    right = xx > 301
    glint = (yy > 150) & (yy < 166)  # a highlight of the backdrop's colour
    product = np.zeros((H, W), bool)
    product[100:300, 150:300] = True  # the mug's body
    crisp = np.zeros((H, W), bool)
    crisp[98:302, 148:150] = crisp[98:100, 148:302] = crisp[300:302, 148:302] = True
    crisp[164:237, 300:302] = True  # the body's side across the hole
    crisp |= right & (np.abs(radius - 71) < 1.5) & ~glint
    crisp |= right & (np.abs(radius - 36) < 1.0) & ~(np.abs(yy - 200) < 6)
    handle = right & (radius < 70) & (radius > 37)
    hole = right & (radius < 35)
    exact = ~product & ~crisp & ~(handle & ~glint)
    seeds = _frame_band(H, W)
    result = judge(product, crisp, seeds, exact, handle, CoarseOptions())
    assert result[handle].mean() > 0.9
    assert result[hole].mean() < 0.1
    # Under the earlier limit on soft contact (10 % of the rim) the handle was lost.
    legacy = CoarseOptions(sealed_outlined_soft=0.1)
    assert judge(product, crisp, seeds, exact, handle, legacy)[handle].mean() < 0.1


def test_hole_of_a_pale_handle_with_a_faded_inner_outline_is_found_by_its_colour() -> None:
    # A pale handle sealed off with its hole: the handle's inner outline shows only along
    # its lower half, so the hole cannot be told from the handle by outlines. The region is
    # product (backdrop all round it); within it, the part of the backdrop's exact colour,
    # away from the backdrop outside and partly outlined, is the hole.
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    radius = np.hypot(xx - 300, yy - 200)
    right = xx > 301
    product = np.zeros((H, W), bool)
    product[100:300, 150:300] = True  # the mug's body
    crisp = np.zeros((H, W), bool)
    crisp[98:302, 148:150] = crisp[98:100, 148:302] = crisp[300:302, 148:302] = True
    crisp[98:302, 300:302] = True
    crisp |= right & (np.abs(radius - 71) < 1.5) & ~(np.abs(yy - 200) < 4)  # a short gap
    crisp |= right & (np.abs(radius - 44) < 1.0) & (yy > 200)  # the inner outline's lower half
    handle = right & (radius < 70) & (radius > 45)
    hole = right & (radius < 43)
    exact = ~product & ~crisp & ~handle
    darker = handle & (yy > 200)  # the handle's shaded lower half
    seeds = _frame_band(H, W)
    result = judge(product, crisp, seeds, exact, darker, CoarseOptions())
    assert result[handle].mean() > 0.95
    assert not result[hole].any()
    legacy = CoarseOptions(hole_by_colour=0.0)
    assert judge(product, crisp, seeds, exact, darker, legacy)[hole].all()


def test_mottled_shadow_cut_off_by_its_hard_edge_is_backdrop() -> None:
    # A wall shadow beside a product, cut off from the backdrop by its own hard, straight
    # edge, open above and below. Mottled paper leaves only 45 % of it clearly darker than
    # the backdrop; it fades into the backdrop along a third of its rim, so it is shadow.
    product = np.zeros((H, W), bool)
    product[100:300, 150:300] = True
    crisp = np.zeros((H, W), bool)
    crisp[98:302, 148:150] = crisp[98:100, 148:302] = crisp[300:302, 148:302] = True
    crisp[98:302, 300:302] = True
    crisp[150:240, 330:332] = True  # the shadow's hard edge
    shadow = np.zeros((H, W), bool)
    shadow[150:240, 302:330] = True
    exact = ~product & ~crisp & ~shadow
    yy, xx = np.mgrid[0:H, 0:W]
    darker = shadow & ((xx + yy) % 20 < 9)
    seeds = _frame_band(H, W)
    assert not judge(product, crisp, seeds, exact, darker, CoarseOptions())[shadow].any()
    legacy = CoarseOptions(sealed_shadow_darker=0.5)
    assert judge(product, crisp, seeds, exact, darker, legacy)[shadow].mean() > 0.9


def test_hole_framed_by_a_pale_striped_handle_is_not_an_island() -> None:
    # A pale striped bag: its body and its handle's arch are all outline (the stripes' edges),
    # but for three pale stripes across the handle through which the backdrop reaches the
    # hole. Sealed off, the hole has the backdrop nearly all round it beyond the thin handle,
    # as a white mug alone on white would; but it is wholly of the backdrop's exact colour,
    # with none of a body's shading: the backdrop seen through the handle.
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    radius = np.hypot(xx - 256, yy - 250)
    angle = np.degrees(np.arctan2(250 - yy, xx - 256))
    crisp = np.zeros((H, W), bool)
    crisp[250:380, 150:362] = True  # the striped body
    stripes = (np.abs(angle - 45) < 2) | (np.abs(angle - 90) < 1.5) | (np.abs(angle - 135) < 2)
    crisp |= (yy < 250) & (radius >= 90) & (radius <= 100) & ~stripes
    hole = (yy < 246) & (radius < 80)
    product = np.zeros((H, W), bool)
    exact = ~crisp
    none = np.zeros((H, W), bool)
    seeds = _frame_band(H, W)
    assert not judge(product, crisp, seeds, exact, none, CoarseOptions())[hole].any()
    legacy = CoarseOptions(sealed_island_exact=1.0)
    assert judge(product, crisp, seeds, exact, none, legacy)[hole].mean() > 0.9
