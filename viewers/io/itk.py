"""NRRD, MetaImage (MHA/MHD) and other ITK formats through SimpleITK.

SimpleITK is also our geometry reference: its images convert to and from a
:class:`Volume` without loss (ITK's physical space is LPS, like ours).
"""

from __future__ import annotations

import os

import numpy as np

from viewers.geometry import affine_from_geometry
from viewers.io.errors import InputError
from viewers.volume import Volume

ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")


def is_itk_path(path) -> bool:
    return str(path).lower().endswith(ITK_SUFFIXES)


def from_sitk(image, **fields) -> Volume:
    """A :class:`Volume` from a 3-D scalar SimpleITK image (2-D gets one slice)."""
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{image.GetNumberOfComponentsPerPixel()}-component pixels")
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    if image.GetDimension() != 3:
        raise ValueError(f"{image.GetDimension()}-D image")
    array = sitk.GetArrayFromImage(image)  # already (k, j, i)
    affine = affine_from_geometry(image.GetOrigin(), image.GetSpacing(), image.GetDirection())
    return Volume(array, affine, **fields)


def to_sitk(volume: Volume):
    """A SimpleITK image with the same voxels, spacing, origin and direction."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array))
    image.SetOrigin(tuple(float(x) for x in volume.origin_lps))
    image.SetSpacing(tuple(float(x) for x in volume.spacing_mm))
    image.SetDirection(tuple(float(x) for x in volume.direction.ravel()))
    return image


def read_itk(path) -> Volume:
    """Read NRRD / MHA / MHD with SimpleITK."""
    import SimpleITK as sitk

    fmt = "nrrd" if str(path).lower().endswith((".nrrd", ".nhdr")) else "mha"
    try:
        image = sitk.ReadImage(os.fspath(path))
    except RuntimeError as exc:
        raise InputError(path, f"not a readable {fmt.upper()} file ({_itk_reason(exc)})") from None
    try:
        return from_sitk(image, source_format=fmt, description=os.path.basename(path))
    except ValueError as exc:
        raise InputError(path, f"unsupported image: {exc}") from None


def write_itk(volume: Volume, path) -> None:
    """Write NRRD / MHA with SimpleITK (compressed)."""
    import SimpleITK as sitk

    sitk.WriteImage(to_sitk(volume), os.fspath(path), useCompression=True)


def _itk_reason(exc: RuntimeError) -> str:
    # ITK messages are multi-line with source locations; keep the description line.
    for line in str(exc).splitlines():
        line = line.strip()
        if line.lower().startswith("description:"):
            return line.split(":", 1)[1].strip()
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"
