"""Simulated clicker and NoC@k, the standard measure of interactive segmentation.

The clicker puts each click at the centre of the largest error region (the voxel farthest
from the region's border), positive on a false negative and negative on a false positive;
NoC@k is the number of clicks needed to reach Dice k (capped at ``max_clicks``).
"""

from __future__ import annotations

import numpy as np

from models.refine import Click, refine


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 2.0 * int(np.logical_and(a, b).sum()) / s if s else 1.0


def next_click(pred: np.ndarray, truth: np.ndarray, spacing_mm=(1.0, 1.0, 1.0)) -> Click | None:
    """The click at the centre of the largest error region, or None without errors."""
    import cc3d
    from scipy.ndimage import distance_transform_edt

    error = pred != truth
    if not error.any():
        return None
    comps = cc3d.connected_components(error.astype(np.uint8), connectivity=6)
    counts = np.bincount(comps.ravel())
    counts[0] = 0
    largest = comps == counts.argmax()
    kk, jj, ii = np.nonzero(largest)
    box = tuple(slice(max(0, a.min() - 1), a.max() + 2) for a in (kk, jj, ii))
    dist = distance_transform_edt(largest[box], sampling=np.asarray(spacing_mm, float)[::-1])
    at = np.unravel_index(int(np.argmax(dist)), dist.shape)
    kji = tuple(int(a + b.start) for a, b in zip(at, box))
    return Click(kji, positive=bool(truth[kji]))


def noc(labels: np.ndarray, image: np.ndarray, truth: np.ndarray, spacing_mm=(1.0, 1.0, 1.0),
        targets=(0.90, 0.95), max_clicks: int = 20, probability=None, value: int = 1,
        **options) -> dict:
    """Clicks to reach each Dice target from the proposal ``labels`` (``max_clicks`` + 1 if
    never reached), and the Dice after each click. ``options`` go to :func:`refine`."""
    work = labels.copy()
    truth = truth.astype(bool)
    curve = [dice(work == value, truth)]
    reached = {t: (0 if curve[0] >= t else None) for t in targets}
    history: list[Click] = []
    for n in range(1, max_clicks + 1):
        if all(v is not None for v in reached.values()):
            break
        click = next_click(work == value, truth, spacing_mm)
        if click is None:
            break
        refine(work, image, click, spacing_mm, probability, value, **options,
               history=tuple(history)).apply(work)
        history.append(click)
        curve.append(dice(work == value, truth))
        for t in targets:
            if reached[t] is None and curve[-1] >= t:
                reached[t] = n
    return {"noc": {f"{int(t * 100)}": (v if v is not None else max_clicks + 1)
                    for t, v in reached.items()},
            "dice_curve": [round(d, 4) for d in curve]}
