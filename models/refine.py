"""Click-driven local refinement of a proposal, for models without guidance channels.

A positive click says "this is inside the structure", a negative one "this is not". The
correction is local and follows the image:

1. the *depth* of a click is its distance to the current proposal's boundary: a clicker,
   human or simulated, clicks in the middle of a wrong region, so the wrong region is
   about twice that thick. Wrong regions are often thin and long (a shell of CSF along
   the brain), so the correction follows the boundary: candidates are the voxels of the
   click's class within ``margin * depth`` (at least ``min_radius``) of the boundary and
   within ``max_radius`` mm of the click;
2. of those, voxels whose intensity is close to the intensity at the click (median of its
   3x3x3 neighbourhood +- ``tolerance`` times the window's robust noise level, never
   tighter than 5 % of the window's intensity range) and whose model probability does
   not strongly contradict the click stay candidates;
3. the candidates' 6-connected component that holds the click, its enclosed cavities
   (noise outliers) filled, is set (positive) or cleared (negative) -- except voxels nearer
   to an earlier click of the opposite kind (each click owns its side), so that clicks
   refine each other instead of undoing each other.

Everything happens in a window around the click, so the cost does not depend on the volume
size (well under a second for 256^3). The result is a sparse :class:`Edit` (bounding box,
changed voxels, new value) that an undo stack can keep as is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Click:
    """A click at voxel ``(k, j, i)``; ``positive`` adds, negative removes."""

    kji: tuple[int, int, int]
    positive: bool


@dataclass(frozen=True)
class Edit:
    """A sparse change: inside ``box`` (slices), voxels where ``changed`` get ``value``."""

    box: tuple[slice, slice, slice]
    changed: np.ndarray
    value: int

    @property
    def voxels(self) -> int:
        return int(self.changed.sum())

    def apply(self, labels: np.ndarray) -> None:
        labels[self.box][self.changed] = self.value


def _ball_box(center, radius_vox, shape):
    return tuple(slice(max(0, int(c - r)), min(n, int(c + r) + 1))
                 for c, r, n in zip(center, radius_vox, shape))


def _distance_to_other(mask_box: np.ndarray, local, spacing_kji) -> float:
    """mm from ``local`` to the nearest voxel of the other class inside the window."""
    here = mask_box[local]
    kk, jj, ii = np.nonzero(mask_box != here)
    if kk.size == 0:
        return np.inf
    d2 = (((kk - local[0]) * spacing_kji[0]) ** 2 + ((jj - local[1]) * spacing_kji[1]) ** 2
          + ((ii - local[2]) * spacing_kji[2]) ** 2)
    return float(np.sqrt(d2.min()))


def refine(labels: np.ndarray, image: np.ndarray, click: Click, spacing_mm=(1.0, 1.0, 1.0),
           probability: np.ndarray | None = None, value: int = 1, margin: float = 2.0,
           min_radius: float = 3.0, max_radius: float = 30.0, tolerance: float = 3.0,
           history=()) -> Edit:
    """Correct the segment ``value`` of ``labels`` around one click; returns the Edit.

    Parameters
    ----------
    labels : (k, j, i) integer array
        The proposal being corrected (not modified; apply the returned Edit).
    image : (k, j, i) array
        The image the proposal was made on.
    click : Click
    spacing_mm : (i, j, k) voxel size in mm.
    probability : (k, j, i) float array, optional
        The model's foreground probability (e.g. decoded confidence); voxels where it
        contradicts the click strongly (< 0.02 for a positive, > 0.98 for a negative click)
        are left alone.
    history : sequence of Click
        Earlier clicks on this segment. An earlier click of the opposite kind keeps the
        voxels nearer to it than to this click, so two clicks never undo each other.
    """
    from scipy.ndimage import distance_transform_edt

    shape = labels.shape
    spacing_kji = np.asarray(spacing_mm, float)[::-1]
    center = tuple(int(c) for c in click.kji)
    if not all(0 <= c < n for c, n in zip(center, shape)):
        raise ValueError(f"click {center} is outside the volume {shape}")
    target = value if click.positive else 0
    box = _ball_box(center, np.ceil(max_radius / spacing_kji).astype(int), shape)
    local = tuple(c - b.start for c, b in zip(center, box))
    seg = labels[box] == value
    inside = bool(seg[local])
    # distance (mm) of every voxel of the click's class to the other class, in the window
    same = seg if inside else ~seg
    depth = distance_transform_edt(same, sampling=spacing_kji) if (~same).any() else \
        np.full(seg.shape, np.inf)
    reach = float(depth[local])
    band = depth <= max(min_radius, reach * margin)

    img = np.asarray(image[box], dtype=np.float32)
    kk, jj, ii = np.ogrid[tuple(slice(0, n) for n in seg.shape)]
    ball = (((kk - local[0]) * spacing_kji[0]) ** 2 + ((jj - local[1]) * spacing_kji[1]) ** 2
            + ((ii - local[2]) * spacing_kji[2]) ** 2) <= max_radius ** 2
    near = tuple(slice(max(0, c - 1), c + 2) for c in local)
    mu = float(np.median(img[near][same[near]]))
    sd = _noise_sd(img)
    lo, hi = np.percentile(img[ball], [2, 98])
    tol = max(tolerance * sd, 0.05 * float(hi - lo), 1e-6)
    candidates = ball & band & same & (np.abs(img - mu) <= tol)
    if probability is not None:
        p = probability[box]
        candidates &= (p >= 0.02) if click.positive else (p <= 0.98)
    candidates[local] = inside != click.positive  # the clicked voxel flips if it is wrong
    region = _component_at(candidates, local)
    if region.any():
        # noise outliers inside the region are part of it: fill its enclosed cavities
        from models.postprocess import fill_holes

        region = fill_holes(region) & same & ball
        mine = ((kk - local[0]) * spacing_kji[0]) ** 2 + ((jj - local[1]) * spacing_kji[1]) ** 2 \
            + ((ii - local[2]) * spacing_kji[2]) ** 2
        for old in history:
            if old.positive == click.positive:
                continue
            o = [c - b.start for c, b in zip(old.kji, box)]
            theirs = ((kk - o[0]) * spacing_kji[0]) ** 2 + ((jj - o[1]) * spacing_kji[1]) ** 2 \
                + ((ii - o[2]) * spacing_kji[2]) ** 2
            region &= mine <= theirs
    return Edit(box=box, changed=region, value=target)


def _noise_sd(img: np.ndarray) -> float:
    """Robust noise level: MAD of neighbour differences along i (edges are a minority)."""
    diff = np.abs(np.diff(img, axis=-1)).ravel()
    return float(1.4826 * np.median(diff) / np.sqrt(2.0)) if diff.size else 0.0


def _component_at(mask: np.ndarray, seed) -> np.ndarray:
    """The 6-connected component of ``mask`` containing ``seed`` (empty if seed is off)."""
    import cc3d

    if not mask[seed]:
        return np.zeros_like(mask)
    comps = cc3d.connected_components(mask.astype(np.uint8), connectivity=6)
    return comps == comps[seed]
