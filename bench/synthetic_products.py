"""Procedural, textured product cutouts (RGBA) for the derivatives and stage-speed benchmarks.

Not flat colour: cylindrical shading, a printed label with glyph-like marks and fine lines,
brushed-metal caps, specular highlights and sensor-like noise, so encoders see the kind of
detail a real product photo has. Edges are anti-aliased (cv2 LINE_AA polygons).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

RGBA = npt.NDArray[np.uint8]


def _shade_cylinder(w: int, h: int, base: tuple[float, float, float]) -> np.ndarray:
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    lambert = 0.55 + 0.45 * np.sqrt(np.clip(1 - x**2, 0, 1))
    spec = 0.5 * np.exp(-((x + 0.45) ** 2) / 0.004) + 0.15 * np.exp(-((x - 0.6) ** 2) / 0.01)
    row = np.asarray(base, np.float32)[None, :] * lambert[:, None] + spec[:, None]
    return np.broadcast_to(row[None], (h, w, 3)).copy()


def _label(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A printed label: coloured bands, a logo disc, rows of glyph-like dark marks."""
    label = np.ones((h, w, 3), np.float32) * np.array([0.95, 0.93, 0.88], np.float32)
    band = rng.uniform(0.1, 0.8, 3).astype(np.float32)
    label[: h // 6] = band
    label[-h // 8 :] = band * 0.7
    cv2.circle(
        label,
        (w // 2, h // 3),
        max(2, h // 7),
        tuple(float(v) for v in band[::-1]),
        -1,
        cv2.LINE_AA,
    )
    y = h // 2
    while y < h - h // 6:
        x = w // 10
        while x < w - w // 10:
            gw = int(rng.integers(max(2, w // 60), max(3, w // 25)))
            gh = max(2, h // 40)
            cv2.rectangle(label, (x, y), (x + gw, y + gh), (0.1, 0.1, 0.12), -1, cv2.LINE_AA)
            x += gw + int(rng.integers(2, max(3, w // 50)))
        y += max(4, h // 22)
    for i in range(0, w, max(2, w // 120)):  # fine guilloche-like lines
        cv2.line(label, (i, h // 6), (w - i, h // 6 + h // 12), (0.6, 0.55, 0.5), 1, cv2.LINE_AA)
    return label


def bottle(size: int = 1600, seed: int = 1) -> RGBA:
    """A glass-and-label bottle on a transparent square canvas of ``size`` pixels."""
    rng = np.random.default_rng(seed)
    h = size
    w = size
    bw, bh = int(w * 0.34), int(h * 0.55)
    x0, y_body = (w - bw) // 2, int(h * 0.36)
    neck_w = int(bw * 0.36)
    mask = np.zeros((h, w), np.uint8)
    pts = np.array(
        [
            [x0, y_body + bh],
            [x0, y_body + bw // 5],
            [(w - neck_w) // 2, y_body - bw // 3],
            [(w - neck_w) // 2, int(h * 0.12)],
            [(w + neck_w) // 2, int(h * 0.12)],
            [(w + neck_w) // 2, y_body - bw // 3],
            [x0 + bw, y_body + bw // 5],
            [x0 + bw, y_body + bh],
        ],
        np.int32,
    )
    cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA)
    colour = _shade_cylinder(w, h, (0.15, 0.35, 0.22))
    lab_y0, lab_y1 = y_body + bw // 3, y_body + bh - bw // 6
    label = _label(rng, bw, lab_y1 - lab_y0)
    shade = _shade_cylinder(bw, lab_y1 - lab_y0, (1.0, 1.0, 1.0))
    colour[lab_y0:lab_y1, x0 : x0 + bw] = label * np.clip(shade, 0, 1.2)
    cap_y0, cap_y1 = int(h * 0.08), int(h * 0.16)
    cap_w = int(neck_w * 1.15)
    cx0 = (w - cap_w) // 2
    brushed = rng.normal(0.0, 0.06, (1, cap_w)).astype(np.float32)
    cap = _shade_cylinder(cap_w, cap_y1 - cap_y0, (0.75, 0.7, 0.55)) + brushed[..., None]
    colour[cap_y0:cap_y1, cx0 : cx0 + cap_w] = cap
    cv2.rectangle(mask, (cx0, cap_y0), (cx0 + cap_w, cap_y1), 255, -1, cv2.LINE_AA)
    colour += rng.normal(0.0, 0.012, colour.shape).astype(np.float32)
    rgb = np.clip(colour * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.dstack([rgb, mask])


def box(size: int = 1600, seed: int = 2) -> RGBA:
    """A printed carton in two-point perspective (front and side faces, different shading)."""
    rng = np.random.default_rng(seed)
    h = w = size
    mask = np.zeros((h, w), np.uint8)
    front = np.array([[0.22, 0.2], [0.6, 0.24], [0.6, 0.88], [0.22, 0.84]]) * size
    side = np.array([[0.6, 0.24], [0.8, 0.18], [0.8, 0.8], [0.6, 0.88]]) * size
    top = np.array([[0.22, 0.2], [0.42, 0.14], [0.8, 0.18], [0.6, 0.24]]) * size
    colour = np.zeros((h, w, 3), np.float32)
    art = _label(rng, size, size)
    for poly, gain in ((front, 1.0), (side, 0.7), (top, 1.15)):
        face = np.zeros((h, w), np.uint8)
        cv2.fillPoly(face, [poly.astype(np.int32)], 255, cv2.LINE_AA)
        src = np.float32([[0, 0], [size, 0], [size, size], [0, size]])
        warp = cv2.getPerspectiveTransform(src, poly.astype(np.float32))
        face_art = cv2.warpPerspective(art, warp, (w, h), flags=cv2.INTER_LINEAR)
        f = face.astype(np.float32)[..., None] / 255
        colour = colour * (1 - f) + face_art * gain * f
        mask = np.maximum(mask, face)
    colour += rng.normal(0.0, 0.01, colour.shape).astype(np.float32)
    rgb = np.clip(colour * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.dstack([rgb, mask])


PRODUCTS = {"bottle": bottle, "box": box}
