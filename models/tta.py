"""Test-time augmentation for uncertainty: the views a case is proposed on, mapped back.

A model's uncertainty about a whole case (for active learning, :mod:`models.quality.ranking`)
shows when it segments slightly changed views of the case differently. The views here change
nothing a reader would call anatomy:

* the case mirrored left-right (along the array's ``i`` axis; the affine is kept, so the
  network sees a mirrored head, which brain and body models are trained to handle);
* two gamma changes (0.6 and 1.6) of the intensities between the 1st and 99th percentile,
  rescaled to [0, 1] and back (values outside that range are clipped to it), a contrast
  change within the range scanners and protocols produce.

Each view comes with the function that maps a result on it back to the case grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["GAMMAS", "augmented_views", "tta_label_maps"]

#: Gamma values of the contrast views.
GAMMAS = (0.6, 1.6)


def _same(a: np.ndarray) -> np.ndarray:
    return a


def _unflip(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a[..., ::-1])


def augmented_views(image) -> Iterator[tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]]:
    """Yield ``(view, back)`` for the mirrored and the two gamma views of ``image`` (k, j, i).

    ``back(result)`` maps an array computed on the view (same grid, last axis ``i``) back to
    the case grid. The original image itself is not among the views.
    """
    x = np.asarray(image, dtype=np.float32)
    yield np.ascontiguousarray(x[..., ::-1]), _unflip
    lo, hi = np.percentile(x, (1, 99))
    unit = np.clip((x - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    for gamma in GAMMAS:
        yield (lo + unit ** gamma * (hi - lo)).astype(np.float32), _same


def tta_label_maps(runnable, image, affine_lps, labels: np.ndarray | None = None) -> np.ndarray:
    """Label maps ``(S, k, j, i)`` of the case and its views, all on the case grid.

    Parameters
    ----------
    runnable : object with ``propose(image, affine_lps)``
        A loaded model (:func:`models.registry.ModelSpec.load`).
    image : ndarray (k, j, i)
    affine_lps : (4, 4) array
    labels : ndarray (k, j, i), optional
        The model's label map of the case itself, when already computed.
    """
    if labels is None:
        labels = runnable.propose(image, affine_lps).labels
    maps = [np.asarray(labels)]
    for view, back in augmented_views(image):
        maps.append(back(np.asarray(runnable.propose(view, affine_lps).labels)))
    return np.stack(maps)
