"""Finding a floor reflection under a product (fusion rule 7).

On a glossy studio floor the product stands on its own mirror image: under the base, each row
repeats the product row as far above the base, blended with the floor, fainter with distance.
A salient-object model often takes the reflection for part of the object (on ``studio_extra``'s
glossy floors, 8 of 30 reflections were kept whole by the model itself).

The test is physical, on the photo's signed colour difference from the fitted backdrop (sRGB,
the backdrop model's): for a mirror axis under the object's base, every row ``i`` below it must
be that difference of row ``i`` above it scaled by one strength per row. It is a reflection
when, over the rows of the object below the axis:

- the rows just under the axis are already fainter than those above (``max_contact``): the
  contact line, where the product ends and the floor begins; an axis inside a product pairs
  rows of the same material (strength about 1), so it is not taken. Or they are a contact
  shadow (``contact_shadow``): the floor under a light base (a white sole) is its reflection
  darkened by the shadow the product casts where it stands, darker than the base above it;
- the scaled mirror explains the rows (``max_residual``) and their strength is that of a
  reflection (``min_strength``..``max_strength``, near half included);
- the strength fades with distance from the axis: the far half at most ``fade`` of the near
  half, and each third of the rows fainter than the one before (``step``). A product whose
  lower part is a paler band of the upper one has a constant ratio, or a step, not a fade
  (measured on synthetic studio photos, where without these tests a band or a panel of one
  colour read as a reflection on 11-14% of the photos);
- the strength is strongest at the contact line (``step``: no later run of ``contact_rows``
  rows is clearly stronger than the first). A pale band at the bottom of a product (a white
  sole under a dark upper) pairs faintly with the body above it, and the stronger floor rows
  follow it: without this test an axis above the sole passes, and the sole is cleared;
- the rows below lie under the mirrored outline of the product (``min_inside``).

Of the axes that pass, the highest is taken: the contact line, where the floor begins. Axes a
few rows lower pass too (the mirror fits nearly as well a few rows off), and they explain the
rows better when a contact shadow lies under the base, since the shadow is no mirror image:
the best explained one left a 4-15 row band of shadow to the product. On ``studio_extra``'s
reflections (seeds 0-119), taking the highest: 0.9725 -> 0.9765 mean IoU, 9 photos better by
0.001-0.05, 4 worse by 0.002-0.003 (the axis on the base's last row). What is cleared is the
object below that axis, within the mirrored outline grown by ``grow`` pixels, less the first
rows under it that repeat the row above them (within 2%): the contact test reads the median
of three rows, so under a perfectly sharp base an axis one row inside it passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ReflectionOptions:
    min_rows: int = 6
    """Fewest working rows of the object below an axis for them to be read as a reflection."""
    min_share: float = 0.06
    """... and at least this share of the object's height (fewer are its own bottom edge)."""
    contact_rows: int = 3
    """Rows just under the axis whose strength tells the contact line."""
    max_contact: float = 0.9
    """Most median strength of the contact rows: under the contact line the floor begins (on
    ``studio_extra``'s reflections 0.2-0.84 there, a contact shadow included; rows of one
    material measure about 1)."""
    skip_rows: int = 2
    """Rows under the axis left out of the fit (the contact shadow and the base's mixed edge)."""
    max_residual: float = 0.3
    """Most share of the rows' difference the scaled mirror leaves unexplained."""
    min_strength: float = 0.03
    max_strength: float = 0.6
    """Median strength of the mirror image, and most strength of its near half: a glossy floor
    returns a fraction of the light (0.25-0.45 at the contact on ``studio_extra``)."""
    fade: float = 0.7
    """Most ratio of the far half's median strength to the near half's."""
    step: float = 0.9
    """Most ratio of each third's median strength to the third before it."""
    min_inside: float = 0.9
    """Least share of the object's rows below the axis under the mirrored outline."""
    contact_shadow: float = 0.15
    """A contact line may also be a contact shadow: rows just under the axis darker than the
    backdrop and than the rows just above by this much (sRGB difference, median). The floor
    under a base is its reflection darkened by the contact shadow, so its strength can exceed
    ``max_contact`` while the rows above are lighter."""
    grow: int = 2
    """Pixels the mirrored outline is grown by, for what is cleared."""


def floor_reflection(solid: BoolMap, difference: F32, options: ReflectionOptions
                     ) -> BoolMap | None:
    """The pixels of ``solid``'s largest part that are its floor reflection, or ``None``.

    ``difference`` is the photo minus the fitted backdrop (``HxWx3``, sRGB 0..1, signed).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8),
                                                               connectivity=8)
    if count <= 1:
        return None
    main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[main, :4])
    least = max(options.min_rows, int(np.ceil(options.min_share * h)))
    if h < 2 * least:
        return None
    obj = labels[y:y + h, x:x + w] == main
    inside = np.repeat(obj, 3, axis=1).astype(np.float32)
    rows = (difference[y:y + h, x:x + w].reshape(h, w * 3) * inside).astype(np.float32)

    contact = options.contact_rows
    kernel = np.ones((2 * options.grow + 1, 2 * options.grow + 1), np.uint8)
    lightness = rows.reshape(h, w, 3).mean(axis=2)
    row_means = _row_means(lightness, obj)
    # From the top down: the first axis that passes is the contact line (see the docstring).
    for axis in range(max(h // 3, (h - 2) // 2), h - least - 1):
        below = h - 1 - axis
        if below > axis + 1:
            continue
        # The contact test first: it reads three pairs of rows, and rejects nearly every axis.
        strength, energy, _, _ = _mirror_fit(rows, inside, axis, contact)
        seen = energy > 1e-6
        if not seen.any():
            continue
        if (float(np.median(strength[seen])) > options.max_contact
                and not _contact_shadow(lightness, row_means, obj, axis, options)):
            continue
        strength, energy, residual, total = _mirror_fit(rows, inside, axis, below)
        used = energy > 1e-6
        used[:options.skip_rows] = False
        index = np.nonzero(used)[0]
        if index.size < least:
            continue
        unexplained = float(residual[used].sum() / max(float(total[used].sum()), 1e-12))
        if unexplained > options.max_residual or not _fades(strength[index], options):
            continue
        if not _strongest_at_contact(strength[index], energy[index], contact, options):
            continue
        mirrored = obj[axis + 1 - below:axis + 1][::-1]
        grown = cv2.dilate(mirrored.astype(np.uint8), kernel) > 0
        low = obj[axis + 1:]
        if _runs_out_sideways(low, x, x + w, solid.shape[1]):
            continue
        if np.count_nonzero(low & grown) >= options.min_inside * np.count_nonzero(low):
            # The median of the contact rows lets an axis one row inside a sharp base pass;
            # a row that repeats the row above it exactly is still the product.
            kept = _same_as_above(rows, axis, options.contact_rows - 1)
            cut = np.zeros_like(solid)
            cut[y + axis + 1 + kept:y + h, x:x + w] = grown[kept:]
            return cut
    return None


def _same_as_above(rows: F32, axis: int, most: int) -> int:
    """How many rows under ``axis`` (at most ``most``) each repeat the row above them: the same
    material, within 2% of its difference from the backdrop."""
    count = 0
    while count < most and axis + 1 + count < rows.shape[0]:
        up, low = rows[axis + count], rows[axis + 1 + count]
        energy = float(np.dot(up, up))
        if energy <= 1e-6 or float(np.dot(low - up, low - up)) > 0.02 ** 2 * energy:
            break
        count += 1
    return count


def _runs_out_sideways(low: BoolMap, left: int, right: int, width: int) -> bool:
    """Whether the object under the axis reaches the frame's left or right edge. Then the
    mirrored outline says nothing: a band of a product that runs out of the frame (the sole of
    a close-up of a shoe) lies under it as a reflection would."""
    return bool((left == 0 and low[:, 0].any()) or (right == width and low[:, -1].any()))


def _row_means(lightness: F32, obj: BoolMap) -> list[float]:
    """Each row's mean ``lightness`` over the object's pixels (NaN where it has none)."""
    count = obj.sum(axis=1)
    total = (lightness * obj).sum(axis=1)
    return [float(v) for v in np.where(count > 0, total / np.maximum(count, 1), np.nan)]


def _contact_shadow(lightness: F32, row_means: list[float], obj: BoolMap, axis: int,
                    options: ReflectionOptions) -> bool:
    """Whether the rows just under ``axis`` are a contact shadow: darker than the backdrop and
    than the rows just above by ``contact_shadow`` (median over the object's pixels)."""
    rows = options.contact_rows
    if axis + 1 < rows:
        return False
    # The rows' means first, with a margin: they turn down nearly every axis for the cost of
    # a mean, while the median (robust to the few pixels of a mask wider than the base) is
    # read on the rest.
    margin = options.contact_shadow - 0.05
    low_mean = sum(row_means[axis + 1:axis + 1 + rows]) / rows
    up_mean = sum(row_means[axis + 1 - rows:axis + 1]) / rows
    if not (low_mean <= -margin and low_mean <= up_mean - margin):
        return False
    low = lightness[axis + 1:axis + 1 + rows][obj[axis + 1:axis + 1 + rows]]
    up = lightness[axis + 1 - rows:axis + 1][obj[axis + 1 - rows:axis + 1]]
    dark = float(np.median(low))
    return dark <= -options.contact_shadow and dark <= float(np.median(up)) - options.contact_shadow


def _mirror_fit(rows: F32, inside: F32, axis: int, count: int
                ) -> tuple[F32, F32, F32, F32]:
    """Per row ``i < count`` under ``axis``: the strength fitting it to row ``i`` above (least
    squares over the pixels of the object in both), the mirrored row's energy, the residual and
    the row's own energy."""
    low = rows[axis + 1:axis + 1 + count]
    up = rows[axis + 1 - count:axis + 1][::-1]
    up = up * inside[axis + 1:axis + 1 + count]
    low = low * inside[axis + 1 - count:axis + 1][::-1]
    energy = np.einsum("ij,ij->i", up, up)
    strength = np.einsum("ij,ij->i", low, up) / np.maximum(energy, 1e-12)
    error = low - strength[:, None] * up
    residual = np.einsum("ij,ij->i", error, error)
    total = np.einsum("ij,ij->i", low, low)
    return strength.astype(np.float32), energy, residual, total


def _strongest_at_contact(strength: F32, energy: F32, rows: int, options: ReflectionOptions
                          ) -> bool:
    """Whether the first ``rows`` rows are about the strongest run of ``rows`` (``step``): a
    reflection is strongest at the contact line, while a pale band at the bottom of a product
    (a white sole) pairs faintly with the body above it and is followed by stronger rows.
    Rows mirrored from faint product rows (a tenth of the median energy) are left out: their
    strength is a ratio of small numbers."""
    strength = strength[energy >= 0.1 * float(np.median(energy))]
    if strength.size < rows:
        return False
    runs = np.median(np.lib.stride_tricks.sliding_window_view(strength, rows), axis=1)
    return bool(runs[0] >= options.step * float(runs.max()))


def _fades(strength: F32, options: ReflectionOptions) -> bool:
    """A reflection's strength: faint, and fading row after row from the contact line."""
    half, third = strength.size // 2, strength.size // 3
    near, far = float(np.median(strength[:half])), float(np.median(strength[half:]))
    first = float(np.median(strength[:third]))
    middle = float(np.median(strength[third:2 * third]))
    last = float(np.median(strength[2 * third:]))
    median = float(np.median(strength))
    return (options.min_strength <= median <= options.max_strength
            and near <= options.max_strength and first <= options.max_strength
            and far <= options.fade * near
            and middle <= options.step * first and last <= options.step * middle)
