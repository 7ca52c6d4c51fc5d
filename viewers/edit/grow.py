"""Region growing from a click, limited to a region of interest (SimpleITK filters)."""

from __future__ import annotations

import numpy as np

from viewers.edit import painter


def _roi_and_seed(editor, seed_ijk, roi):
    import SimpleITK as sitk  # here, not at the top: GUI start-up time

    shape = editor.segmentation.shape
    roi = roi if roi is not None else painter.full_box(shape)
    seed = [int(np.floor(c + 0.5)) for c in seed_ijk]  # (i, j, k)
    local = [seed[2 - a] - (roi[a].start or 0) for a in range(3)]  # (k, j, i) inside the ROI
    roi_shape = [len(range(*s.indices(n))) for s, n in zip(roi, shape)]
    if not all(0 <= c < n for c, n in zip(local, roi_shape)):
        raise ValueError(f"seed {tuple(seed)} lies outside the region of interest")
    image = sitk.GetImageFromArray(np.ascontiguousarray(editor.image[roi]))
    return roi, image, (local[2], local[1], local[0])


def connected_threshold(editor, segment_id: int, seed_ijk, lower: float, upper: float,
                        roi=None, fully_connected: bool = False):
    """Add the voxels connected to the seed whose intensity lies in ``[lower, upper]``.

    Parameters
    ----------
    seed_ijk : sequence of 3 float
        Continuous index ``(i, j, k)`` of the click (rounded to the nearest voxel).
    roi : tuple of 3 slices (k, j, i), optional
        Growing never leaves this box (the whole image when omitted).
    fully_connected : bool
        26-connectivity instead of 6 (faces only).
    """
    import SimpleITK as sitk

    roi, image, seed = _roi_and_seed(editor, seed_ijk, roi)
    f = sitk.ConnectedThresholdImageFilter()
    f.SetSeedList([seed])
    f.SetLower(float(lower))
    f.SetUpper(float(upper))
    f.SetReplaceValue(1)
    f.SetConnectivity(f.FullConnectivity if fully_connected else f.FaceConnectivity)
    mask = sitk.GetArrayFromImage(f.Execute(image)).astype(bool)
    return editor.run("grow_threshold", segment_id,
                      lambda txn: painter.add(txn, segment_id, roi, mask, editor.policy, editor.image))


def confidence_connected(editor, segment_id: int, seed_ijk, multiplier: float = 2.5,
                         iterations: int = 3, neighborhood_radius: int = 1, roi=None):
    """Add the region ITK's ConfidenceConnected grows from the seed: voxels within
    ``multiplier`` standard deviations of the region's mean, re-estimated ``iterations`` times."""
    import SimpleITK as sitk

    roi, image, seed = _roi_and_seed(editor, seed_ijk, roi)
    image = sitk.Cast(image, sitk.sitkFloat32)
    out = sitk.ConfidenceConnected(image, seedList=[seed], numberOfIterations=int(iterations),
                                   multiplier=float(multiplier),
                                   initialNeighborhoodRadius=int(neighborhood_radius), replaceValue=1)
    mask = sitk.GetArrayFromImage(out).astype(bool)
    return editor.run("grow_confidence", segment_id,
                      lambda txn: painter.add(txn, segment_id, roi, mask, editor.policy, editor.image))
