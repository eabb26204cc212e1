"""SSIMULACRA2 on numpy arrays, ~20x faster than the ``ssimulacra2`` package it mirrors.

The package (a pure-Python port of libjxl's tool) takes ~12 s per 2000x2000 pair in float64 with
scipy; matching qualities file by file needs hundreds of scores. This is the same algorithm with
the package's own constants, weights and pooling (imported from it), but float32 arrays and
OpenCV separable filters for the blur (same 11-tap kernel, reflect borders horizontally, zero
padding vertically, as the package does). ``check_against_package`` measures the difference on
real images; the benchmark prints it so the reader can judge.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image
from ssimulacra2 import ssimulacra2 as ref

F32 = npt.NDArray[np.float32]

_SIGMA = 1.5
_RADIUS = int(3.33 * _SIGMA + 0.5)  # scipy gaussian_filter(truncate=3.33)
_x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
_KERNEL = np.exp(-0.5 * (_x / _SIGMA) ** 2)
_KERNEL = (_KERNEL / _KERNEL.sum()).astype(np.float32)
_MATRIX = ref.kOpsinAbsorbanceMatrix.reshape(3, 3).astype(np.float32)
_BIAS = ref.kOpsinAbsorbanceBias.astype(np.float32)
_CBRT_BIAS = np.cbrt(_BIAS)
_DECODE = (
    ref.srgb_to_linear(np.arange(256, dtype=np.float64).reshape(1, 256, 1)).reshape(256)
).astype(np.float32)


def _blur(img: F32) -> F32:
    h_pass = cv2.sepFilter2D(
        img, -1, _KERNEL, np.ones(1, np.float32), borderType=cv2.BORDER_REFLECT
    )
    out = cv2.sepFilter2D(
        h_pass, -1, np.ones(1, np.float32), _KERNEL, borderType=cv2.BORDER_CONSTANT
    )
    return np.asarray(out, np.float32)


def _xyb(linear: F32) -> F32:
    mixed = np.asarray(cv2.transform(linear, _MATRIX), np.float32) + _BIAS
    np.maximum(mixed, 0, out=mixed)
    mixed = np.asarray(cv2.pow(mixed, 1.0 / 3.0), np.float32) - _CBRT_BIAS
    out = np.empty_like(mixed)
    y = 0.5 * (mixed[..., 0] + mixed[..., 1])
    out[..., 0] = (0.5 * 14.0) * (mixed[..., 0] - mixed[..., 1]) + 0.42
    out[..., 1] = y + 0.01
    out[..., 2] = (mixed[..., 2] - y) + 0.55
    return out


def _downsample(img: F32) -> F32:
    h, w = img.shape[:2]
    return np.asarray(
        cv2.resize(img, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA), np.float32
    )


def _mean_and_l4(d: F32) -> tuple[np.ndarray, np.ndarray]:
    flat = d.reshape(-1, 3).astype(np.float64)
    l4 = flat * flat
    l4 *= l4
    return flat.mean(0), l4.mean(0) ** 0.25


class Reference:
    """One original, pre-processed once (XYB and blurred moments per scale) for many scores."""

    def __init__(self, original: npt.NDArray[np.uint8]) -> None:
        self.shape = original.shape
        self.scales: list[tuple[F32, F32, F32]] = []
        lin = _DECODE[original]
        for scale in range(ref.kNumScales):
            if lin.shape[0] < 8 or lin.shape[1] < 8:
                break
            if scale > 0:
                lin = _downsample(lin)
            img = _xyb(lin)
            self.scales.append((img, _blur(img), _blur(img * img)))

    def score(self, distorted: npt.NDArray[np.uint8]) -> float:
        if distorted.shape != self.shape:
            raise ValueError(f"shape mismatch {self.shape} vs {distorted.shape}")
        msssim = ref.Msssim()
        lin2 = _DECODE[distorted]
        for scale, (img1, mu1, s11) in enumerate(self.scales):
            if scale > 0:
                lin2 = _downsample(lin2)
            img2 = _xyb(lin2)
            mu2, s22, s12 = _blur(img2), _blur(img2 * img2), _blur(img1 * img2)
            data = ref.MsssimScale()
            # ssim_map, as the package computes it, in float32
            num_m = 1.0 - (mu1 - mu2) ** 2
            num_s = 2.0 * (s12 - mu1 * mu2) + ref.kC2
            denom_s = (s11 - mu1 * mu1) + (s22 - mu2 * mu2) + ref.kC2
            d = np.maximum(1.0 - num_m * num_s / denom_s, 0.0)
            mean, l4 = _mean_and_l4(d)
            data.avg_ssim[::2], data.avg_ssim[1::2] = mean, l4
            # edge_diff_map
            d1 = (1.0 + np.abs(img2 - mu2)) / (1.0 + np.abs(img1 - mu1)) - 1.0
            mean, l4 = _mean_and_l4(np.maximum(d1, 0.0))
            data.avg_edgediff[0::4], data.avg_edgediff[1::4] = mean, l4
            mean, l4 = _mean_and_l4(np.maximum(-d1, 0.0))
            data.avg_edgediff[2::4], data.avg_edgediff[3::4] = mean, l4
            msssim.scales.append(data)
        return float(msssim.score())


def score(original: npt.NDArray[np.uint8], distorted: npt.NDArray[np.uint8]) -> float:
    """SSIMULACRA2 of ``distorted`` against ``original`` (both HxWx3 uint8 sRGB)."""
    return Reference(original).score(distorted)


def check_against_package(
    original: npt.NDArray[np.uint8], distorted: npt.NDArray[np.uint8]
) -> tuple[float, float]:
    """(this port's score, the package's score) for one pair, to show they agree."""

    def png(arr: npt.NDArray[np.uint8]) -> io.BytesIO:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG", compress_level=1)
        buf.seek(0)
        return buf

    return score(original, distorted), float(ref.compute_ssimulacra2(png(original), png(distorted)))
