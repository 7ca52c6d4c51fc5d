"""Conversions between annotrace's ``(k, j, i)`` + LPS convention and MONAI's tensors.

MONAI (like nibabel) orders spatial axes ``(i, j, k)`` after the channel axis and keeps a
RAS affine in ``MetaTensor.affine``. The conversion happens here, once, by name.
"""

from __future__ import annotations

import numpy as np

#: diag(-1, -1, 1, 1): LPS <-> RAS (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def channel_first_ijk(images) -> np.ndarray:
    """Stack one or several ``(k, j, i)`` arrays into a float32 ``(C, i, j, k)`` array."""
    arrays = images if isinstance(images, (list, tuple)) else [images]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"input channels have different shapes: {sorted(shapes)}")
    return np.stack([np.asarray(a, dtype=np.float32).T for a in arrays])


def to_metatensor(images, affine_lps, name: str = "input", channel: bool = True):
    """A channel-first MONAI ``MetaTensor`` with the RAS affine and the meta LoadImage sets.

    Parameters
    ----------
    images : ndarray or list of ndarray
        ``(k, j, i)`` volume(s) on one grid; several become channels.
    affine_lps : (4, 4) array
        Index ``(i, j, k)`` -> LPS mm.
    name : str
        Stands in for the file name MONAI records (never a patient identifier).
    channel : bool
        True: ``(C, i, j, k)`` with ``original_channel_dim`` 0. False (one image only): a
        channel-less ``(i, j, k)`` tensor marked ``"no_channel"``, exactly what MONAI's
        ``LoadImage`` returns for one file, for pipelines that add the channel themselves.
    """
    import torch
    from monai.data import MetaTensor

    data = channel_first_ijk(images)
    if not channel:
        if data.shape[0] != 1:
            raise ValueError("channel=False takes a single image")
        data = data[0]
    affine_ras = torch.as_tensor(LPS_TO_RAS @ np.asarray(affine_lps, float), dtype=torch.float64)
    meta = {
        "affine": affine_ras.clone(),
        "original_affine": affine_ras.clone(),
        "spatial_shape": np.asarray(data.shape[1:] if channel else data.shape),
        "original_channel_dim": 0 if channel else "no_channel",
        "filename_or_obj": name,
        "space": "RAS",
    }
    return MetaTensor(torch.from_numpy(data), meta=meta)


def to_kji(channel_first) -> np.ndarray:
    """``(C, i, j, k)`` tensor or array -> ``(C, k, j, i)`` numpy array (C-contiguous)."""
    arr = channel_first.detach().cpu().numpy() if hasattr(channel_first, "detach") else \
        np.asarray(channel_first)
    return np.ascontiguousarray(np.transpose(arr, (0, 3, 2, 1)))
