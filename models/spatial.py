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


def resample_to_source(values, affine_ras_net, affine_lps_src, shape_kji, chunk: int = 16):
    """Trilinear resampling of a network-grid map back onto the source grid, slab by slab.

    Parameters
    ----------
    values : torch.Tensor, (C, I', J', K')
        The map on the network grid (MONAI layout).
    affine_ras_net : (4, 4)
        The network grid's index -> RAS affine (``MetaTensor.affine`` after preprocessing).
    affine_lps_src : (4, 4)
        The source grid's index -> LPS affine.
    shape_kji : tuple
        The source shape.

    Returns ``(C, k, j, i)`` float32 numpy. Same result as MONAI's inverse of Orientation +
    Spacing (bilinear, border padding) up to rounding, but it holds one slab of sampling
    coordinates at a time instead of a full-volume grid (which costs 12+ bytes per voxel).
    """
    import torch
    import torch.nn.functional as F

    src_to_net = np.linalg.inv(np.asarray(affine_ras_net, float)) @ LPS_TO_RAS @ \
        np.asarray(affine_lps_src, float)
    c, *size = values.shape
    # grid_sample (5D): input (N, C, D, H, W) with D=I', H=J', W=K'; grid[..., 0] indexes W.
    data = values[None].float()
    scale = np.array([2.0 / max(n - 1, 1) for n in size])
    nk, nj, ni = shape_kji
    jj, ii = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    out = np.empty((c, nk, nj, ni), np.float32)
    for k0 in range(0, nk, chunk):
        kk = np.arange(k0, min(nk, k0 + chunk))
        ijk1 = np.stack([np.broadcast_to(ii, (len(kk), nj, ni)),
                         np.broadcast_to(jj, (len(kk), nj, ni)),
                         np.broadcast_to(kk[:, None, None], (len(kk), nj, ni)),
                         np.ones((len(kk), nj, ni))], axis=-1)
        net_idx = ijk1 @ src_to_net[:3].T                  # (nk, nj, ni, 3): (i', j', k')
        norm = net_idx * scale - 1.0                      # align_corners=True convention
        grid = torch.from_numpy(norm[..., ::-1].astype(np.float32).copy())[None]
        sampled = F.grid_sample(data, grid, mode="bilinear", padding_mode="border",
                                align_corners=True)
        out[:, kk[0]:kk[-1] + 1] = sampled[0].numpy()
    return out
