"""Active learning: rank unlabelled cases by the model's uncertainty, optionally diversified.

Uncertainty of one case from its probability maps:

- ``entropy``: mean voxel entropy (bits) of the class probabilities; a foreground-probability
  map ``(k, j, i)`` is read as two classes.
- ``variance``: mean voxel variance across stochastic samples -- Monte-Carlo dropout passes or
  test-time augmentations mapped back to the case grid -- stacked on the first axis.
- ``disagreement``: one minus the mean Dice between the segmentations of those samples, pair
  by pair (the "Dice agreement within samples" structure-wise uncertainty of Roy et al.,
  NeuroImage 2019). A case-level measure: a network sure of a wrong answer on a shifted domain
  often has low voxel entropy and variance yet segments augmented views of it differently.
- query by committee: the same disagreement between the segmentations of *different models*
  of the same structures (Seung et al., COLT 1992), their labels matched by segment name
  (:func:`relabel_by_name`). Models trained independently, on other data, agree where both
  know the domain; on the active-learning benchmark's development pool its correlation with
  the model's Dice was -0.90, where the views' disagreement reached -0.21 (docs/quality.md).

Both are plain means over the case's voxels, so cases on one grid compare directly; a case
confidently background everywhere scores 0.
"""

from __future__ import annotations

import numpy as np

from models.quality.agreement import pairwise_dice
from models.quality.errors import QualityInputError


def _class_probs(prob: np.ndarray) -> np.ndarray:
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim == 3:  # foreground probability -> (2, k, j, i)
        p = np.stack([1.0 - p, p])
    if p.ndim != 4:
        raise QualityInputError("probabilities", f"expected (k, j, i) or (C, k, j, i), got "
                                                 f"{p.ndim}D")
    if p.min() < -1e-4 or p.max() > 1 + 1e-4:
        raise QualityInputError("probabilities", "values outside [0, 1]")
    return np.clip(p, 0.0, 1.0)


def entropy_score(prob) -> float:
    """Mean voxel entropy in bits of a probability map ``(k, j, i)`` or ``(C, k, j, i)``."""
    p = _class_probs(prob)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=0)
    return float(h.mean())


def variance_score(samples) -> float:
    """Mean voxel variance across samples ``(S, k, j, i)`` or ``(S, C, k, j, i)``."""
    s = np.asarray(samples, dtype=np.float32)
    if s.ndim not in (4, 5) or s.shape[0] < 2:
        raise QualityInputError("samples", "expected >= 2 samples stacked on the first axis of "
                                           "(S, k, j, i) or (S, C, k, j, i)")
    v = s.var(axis=0)
    return float(v.mean() if v.ndim == 3 else v.sum(axis=0).mean())


def disagreement_score(samples, threshold: float = 0.5) -> float:
    """One minus the mean pairwise Dice of the samples' segmentations.

    Parameters
    ----------
    samples : array_like (S, k, j, i) or (S, C, k, j, i)
        Foreground probabilities (thresholded at ``threshold``) or class probabilities (each
        sample's argmax; Dice averaged over the foreground classes 1..C-1 present in any
        sample).

    Returns
    -------
    float in [0, 1]
        0 when every sample segments the case alike; a pair where both are empty agrees.
    """
    s = np.asarray(samples)
    if s.ndim not in (4, 5) or s.shape[0] < 2:
        raise QualityInputError("samples", "expected >= 2 samples stacked on the first axis of "
                                           "(S, k, j, i) or (S, C, k, j, i)")
    if s.ndim == 5:  # class probabilities: each sample's argmax labels
        return label_disagreement(s.argmax(axis=1))
    return _pairwise_disagreement([s > threshold])


def label_disagreement(label_maps) -> float:
    """:func:`disagreement_score` of label maps ``(S, k, j, i)`` (0 = background).

    Averaged over the labels present in any sample: what a model returns as a proposal,
    so any model can be scored without its probabilities.
    """
    m = np.asarray(label_maps)
    if m.ndim != 4 or m.shape[0] < 2:
        raise QualityInputError("label maps", "expected >= 2 label maps stacked as "
                                              "(S, k, j, i)")
    return _pairwise_disagreement([m == v for v in np.unique(m) if v != 0])


def common_segments(source: dict[str, int], target: dict[str, int]) -> dict[int, int]:
    """``source`` label value -> ``target`` label value of the segments both name alike
    (segment name -> value dicts; names compare case-insensitively)."""
    wanted = {name.casefold(): value for name, value in target.items()}
    return {value: wanted[name.casefold()] for name, value in source.items()
            if name.casefold() in wanted}


def relabel_by_name(labels, source: dict[str, int], target: dict[str, int]) -> np.ndarray:
    """A label map re-expressed in another model's label values, segments matched by name.

    Parameters
    ----------
    labels : ndarray (k, j, i)
        Label map whose segment values are ``source`` (name -> value).
    source, target : dict
        Segment name -> label value of the model that made ``labels`` and of the model to
        compare with; names compare case-insensitively.

    Returns
    -------
    ndarray (k, j, i) uint16
        ``target``'s values; segments ``target`` lacks become background.
    """
    common = common_segments(source, target)
    if not common:
        raise QualityInputError("segments", f"no segment in common between {sorted(source)} "
                                            f"and {sorted(target)}")
    m = np.asarray(labels)
    out = np.zeros(m.shape, dtype=np.uint16)
    for old, new in common.items():
        out[m == old] = new
    return out


def _pairwise_disagreement(stacks) -> float:
    """1 - the mean Dice over every pair of samples of each boolean stack ``(S, ...)``."""
    dices = []
    for stack in stacks:
        matrix = pairwise_dice(list(stack))
        dices.extend(matrix[np.triu_indices(len(stack), k=1)])
    return float(1.0 - np.mean(dices)) if dices else 0.0


def rank_cases(scores, features=None, diversity: float = 0.0,
               labelled_features=None) -> list[int]:
    """Order cases for labelling: most uncertain first, optionally spread out.

    Parameters
    ----------
    scores : sequence of float
        Uncertainty per case (higher = more informative).
    features : array_like (n_cases, n_features), optional
        A description of each case (e.g. a downsampled image or embedding) for diversity.
    diversity : float in [0, 1]
        Weight of diversity: each pick maximises ``(1 - w) * score + w * distance`` (both
        scaled to [0, 1]), where distance is to the nearest case already picked (a greedy
        core-set). 0 ranks by uncertainty alone.
    labelled_features : array_like (n_labelled, n_features), optional
        Cases already labelled (the model's training data, approved cases), described like
        ``features``: distances start from the nearest of them, so the first picks are the
        cases least like anything labelled (a domain the model has not seen), not only
        each other.

    Returns
    -------
    list of int
        Case indices, first to label first.
    """
    u = np.asarray(scores, dtype=np.float64)
    if not 0.0 <= diversity <= 1.0:
        raise QualityInputError("diversity", f"must lie in [0, 1], got {diversity}")
    if features is None or diversity == 0.0:
        return [int(i) for i in np.argsort(-u, kind="stable")]
    f = np.asarray(features, dtype=np.float64).reshape(len(u), -1)
    span = np.ptp(u)
    un = (u - u.min()) / span if span > 0 else np.zeros_like(u)
    left = np.ones(len(u), dtype=bool)
    order: list[int] = []
    if labelled_features is not None and len(labelled_features):
        known = np.asarray(labelled_features, dtype=np.float64).reshape(-1, f.shape[1])
        nearest = np.min(np.linalg.norm(f[:, None, :] - known[None], axis=2), axis=1)
    else:
        order = [int(np.argmax(un))]
        nearest = np.linalg.norm(f - f[order[0]], axis=1)
        left[order[0]] = False
    while left.any():
        dmax = nearest[left].max()
        dn = nearest / dmax if dmax > 0 else np.zeros_like(nearest)
        gain = np.where(left, (1 - diversity) * un + diversity * dn, -np.inf)
        pick = int(np.argmax(gain))
        order.append(pick)
        left[pick] = False
        nearest = np.minimum(nearest, np.linalg.norm(f - f[pick], axis=1))
    return order
