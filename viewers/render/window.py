"""Window/level: voxel values to 8-bit grey, as DICOM's linear VOI function does.

Integer volumes of up to 16 bits go through a lookup table rebuilt only when the
window changes (one ``take`` per frame); other dtypes are mapped with vectorised
float32 arithmetic. The mapping is DICOM PS3.3 C.11.2.1.2.1 (VOI LUT function
LINEAR) scaled to 0..255 and rounded:

    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clipped to [0, 255]

MONOCHROME1 images (``Volume.display_inverted``) are drawn with the lowest value
white: ``255 - y``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class WindowLevel:
    """A display window: ``width`` and ``center`` (level) in voxel value units."""

    width: float
    center: float

    def __post_init__(self):
        object.__setattr__(self, "width", max(float(self.width), 1.0))
        object.__setattr__(self, "center", float(self.center))


#: The presets radiologists know by name (width, level).
PRESETS: dict[str, WindowLevel] = {
    "CT soft tissue": WindowLevel(400, 40),
    "CT lung": WindowLevel(1500, -600),
    "CT bone": WindowLevel(2000, 300),
    "CT brain": WindowLevel(80, 40),
}


def auto_window(array: np.ndarray, low: float = 0.5, high: float = 99.5,
                max_samples: int = 1 << 20) -> WindowLevel:
    """A window spanning the ``low``..``high`` percentiles of the voxel values.

    The MR default (MR has no absolute intensity scale). At most ``max_samples``
    voxels, evenly strided, are looked at, so this costs milliseconds on any volume.
    """
    flat = array.reshape(-1)
    step = max(1, flat.size // max_samples)
    sample = flat[::step]
    lo, hi = np.percentile(sample, [low, high]) if sample.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = float(sample.min(initial=0)), float(sample.max(initial=1))
    if hi <= lo:
        hi = lo + 1
    return WindowLevel(hi - lo, (hi + lo) / 2)


def _linear(values: np.ndarray, wl: WindowLevel, inverted: bool) -> np.ndarray:
    w = max(wl.width - 1.0, 1e-6)  # DICOM's (w - 1); a 1-wide window is a threshold
    y = ((values - (wl.center - 0.5)) / w + 0.5) * 255.0
    y = np.clip(np.rint(y), 0, 255)
    if inverted:
        y = 255 - y
    return y.astype(np.uint8)


@lru_cache(maxsize=8)
def _lut(dtype_str: str, width: float, center: float, inverted: bool) -> np.ndarray:
    dtype = np.dtype(dtype_str)
    n = 1 << (8 * dtype.itemsize)
    codes = np.arange(n, dtype=np.uint64).astype(f"u{dtype.itemsize}")
    values = codes.view(dtype).astype(np.float64)  # the value each bit pattern stands for
    return _linear(values, WindowLevel(width, center), inverted)


def _uses_lut(dtype: np.dtype) -> bool:
    return dtype.kind in "iub" and dtype.itemsize <= 2


def to_grey(plane: np.ndarray, wl: WindowLevel, inverted: bool = False,
            out: np.ndarray | None = None) -> np.ndarray:
    """Map a 2D slice (any dtype, any strides) to a C-contiguous uint8 grey image.

    ``out`` (uint8, the plane's shape) is filled and returned when given: reusing one
    buffer per view avoids fresh page-faulted allocations on every frame.
    """
    dtype = plane.dtype
    if dtype == np.bool_:
        plane, dtype = plane.view(np.uint8), np.dtype(np.uint8)
    if _uses_lut(dtype):
        lut = _lut(dtype.str, wl.width, wl.center, bool(inverted))
        codes = plane if dtype.kind == "u" else plane.view(f"u{dtype.itemsize}")
        return np.take(lut, codes, out=out)
    values = plane.astype(np.float32)
    w = np.float32(max(wl.width - 1.0, 1e-6))
    values -= np.float32(wl.center - 0.5)
    values *= np.float32(255.0) / w
    values += np.float32(127.5)
    np.clip(values, 0, 255, out=values)
    np.rint(values, out=values)
    grey = values.astype(np.uint8)
    if out is not None:
        out[...] = grey
        grey = out
    if inverted:
        np.subtract(255, grey, out=grey)
    return grey


def grey_of_value(value: float, wl: WindowLevel, inverted: bool = False) -> int:
    """The grey level (0-255) a single voxel value is drawn with."""
    return int(_linear(np.array([float(value)]), wl, inverted)[0])
