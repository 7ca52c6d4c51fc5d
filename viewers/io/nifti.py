"""NIfTI-1/2 reading and writing with nibabel, converted to LPS at this boundary only.

nibabel's ``img.affine`` already chooses between sform and qform the way the
NIfTI standard intends (sform when its code is set, else qform, else the
fall-back scaling), so that is the affine we honour.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from viewers.geometry import lps_affine_to_ras, ras_affine_to_lps
from viewers.io.errors import InputError
from viewers.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti_path(path) -> bool:
    name = str(path).lower()
    return name.endswith(NIFTI_SUFFIXES)


def read_nifti(path) -> Volume:
    """Read a .nii or .nii.gz file as a :class:`Volume` (axes k, j, i; LPS affine).

    Raises
    ------
    InputError
        Unreadable, truncated or corrupt file, or more than 3 dimensions of data.
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    try:
        img = nib.load(os.fspath(path))
    except (ImageFileError, OSError, EOFError, zlib.error, ValueError, gzip.BadGzipFile) as exc:
        raise InputError(path, f"not a readable NIfTI file ({_reason(exc)})") from None
    shape = img.shape
    if len(shape) > 3:
        if all(n == 1 for n in shape[3:]):
            shape = shape[:3]
        else:
            raise InputError(path, f"{len(img.shape)}-D image {img.shape}; annotrace reads 3-D "
                                   "volumes (split the series first)")
    try:
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, zlib.error, ValueError, gzip.BadGzipFile) as exc:
        raise InputError(path, f"corrupt or truncated NIfTI data ({_reason(exc)})") from None
    data = data.reshape(shape + (1,) * (3 - len(shape)))
    if data.dtype.kind == "V" or data.dtype.names:
        raise InputError(path, f"unsupported NIfTI data type {img.get_data_dtype()}")
    # nibabel gives (i, j, k) in Fortran order: the transpose is a C-ordered (k, j, i) view.
    array = np.ascontiguousarray(data.T)
    affine_lps = ras_affine_to_lps(img.affine)
    warnings = []
    qcode = int(img.header["qform_code"]) if "qform_code" in img.header else 0
    scode = int(img.header["sform_code"]) if "sform_code" in img.header else 0
    if qcode == 0 and scode == 0:
        warnings.append("NIfTI has neither qform nor sform: geometry is a default scaling")
    return Volume(array, affine_lps, source_format="nifti", description=Path(path).name,
                  warnings=tuple(warnings))


def write_nifti(volume: Volume, path) -> None:
    """Write ``volume`` as NIfTI-1 with qform and sform both set (code 1, scanner anatomical).

    No identifying text goes into the header (``descrip``, ``aux_file`` stay empty).
    """
    import nibabel as nib

    affine_ras = lps_affine_to_ras(volume.affine_lps)
    img = nib.Nifti1Image(np.asarray(volume.array).T, affine_ras)
    img.set_qform(affine_ras, code=1)
    img.set_sform(affine_ras, code=1)
    img.header.set_xyzt_units("mm")
    nib.save(img, os.fspath(path))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
