"""The one image type that crosses every boundary of annotrace.

A :class:`Volume` is a voxel array in its native dtype with axes ``(k, j, i)``
(slice, row, column) and a 4x4 affine from index ``(i, j, k)`` to patient LPS
millimetres. Identifying information about the patient is kept in a separate
:class:`PatientInfo` whose ``repr`` never shows values, so that a Volume can be
logged or put in an error message without leaking PHI.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from viewers.geometry import affine_from_geometry, geometry_from_affine


@dataclass(frozen=True)
class PatientInfo:
    """Protected health information that came with an image.

    Never logged: ``repr`` and ``str`` show only which fields are present.
    """

    name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""
    accession_number: str = ""
    study_date: str = ""
    institution: str = ""

    def as_dict(self) -> dict[str, str]:
        """The values, for the places that are allowed to show them (``--phi``)."""
        return {
            "patient_name": self.name,
            "patient_id": self.patient_id,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "accession_number": self.accession_number,
            "study_date": self.study_date,
            "institution": self.institution,
        }

    def __repr__(self) -> str:
        present = [k for k, v in self.as_dict().items() if v]
        return f"PatientInfo(<{len(present)} fields withheld>)"

    __str__ = __repr__


@dataclass(frozen=True)
class Volume:
    """A 3D image in patient space.

    Attributes
    ----------
    array : numpy.ndarray
        Voxels with axes ``(k, j, i)``, native dtype (after rescale, the narrowest
        dtype that holds the rescaled values exactly).
    affine_lps : numpy.ndarray
        4x4 matrix mapping ``(i, j, k, 1)`` to LPS millimetres.
    modality : str
        DICOM modality ("CT", "MR", ...) or "" when unknown (NIfTI).
    series_uid, study_uid, frame_of_reference_uid : str
        DICOM identifiers ("" when the source has none).
    description : str
        Series description (not PHI by itself; DICOM allows free text, so it is
        only shown, never logged).
    source_format : str
        "dicom", "nifti", "nrrd", "mha", ...
    patient : PatientInfo
        PHI kept apart.
    warnings : tuple of str
        What the reader detected and did not silently fix.
    display_inverted : bool
        True for MONOCHROME1 sources: voxel values are kept as stored (rescaled), and views
        draw the lowest value white.
    """

    array: np.ndarray
    affine_lps: np.ndarray
    modality: str = ""
    series_uid: str = ""
    study_uid: str = ""
    frame_of_reference_uid: str = ""
    description: str = ""
    source_format: str = ""
    patient: PatientInfo = field(default_factory=PatientInfo)
    warnings: tuple[str, ...] = ()
    display_inverted: bool = False

    def __post_init__(self):
        if self.array.ndim != 3:
            raise ValueError(f"a Volume needs a 3D array, got shape {self.array.shape}")
        affine = np.asarray(self.affine_lps, dtype=float)
        if affine.shape != (4, 4):
            raise ValueError("affine_lps must be 4x4")
        object.__setattr__(self, "affine_lps", affine)

    @classmethod
    def from_geometry(cls, array, origin_lps, spacing_mm, direction=np.eye(3), **kwargs):
        """Build a Volume from ITK-style origin, spacing and direction."""
        return cls(array, affine_from_geometry(origin_lps, spacing_mm, direction), **kwargs)

    # -- geometry ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(slices, rows, columns)``."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """``(columns, rows, slices)``, the order SimpleITK's ``GetSize()`` uses."""
        k, j, i = self.array.shape
        return i, j, k

    @property
    def origin_lps(self) -> np.ndarray:
        """LPS position (mm) of the centre of voxel (0, 0, 0)."""
        return self.affine_lps[:3, 3].copy()

    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel size ``(i, j, k)`` in mm."""
        return geometry_from_affine(self.affine_lps)[1]

    @property
    def direction(self) -> np.ndarray:
        """3x3 direction cosines; ``direction.ravel()`` is SimpleITK's GetDirection()."""
        return geometry_from_affine(self.affine_lps)[2]

    def index_to_lps(self, ijk) -> np.ndarray:
        """LPS mm of continuous index ``(i, j, k)`` (or an (N, 3) array of them)."""
        p = np.asarray(ijk, dtype=float)
        return p @ self.affine_lps[:3, :3].T + self.affine_lps[:3, 3]

    def lps_to_index(self, lps) -> np.ndarray:
        """Continuous index ``(i, j, k)`` of LPS mm point(s)."""
        inv = np.linalg.inv(self.affine_lps)
        p = np.asarray(lps, dtype=float)
        return p @ inv[:3, :3].T + inv[:3, 3]

    def value_range(self) -> tuple[float, float]:
        """Minimum and maximum voxel value."""
        if self.array.size == 0:
            return (0.0, 0.0)
        return float(self.array.min()), float(self.array.max())

    def with_array(self, array: np.ndarray, **changes) -> "Volume":
        """A Volume on the same grid with other voxels (e.g. a label map)."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} does not match the grid {self.array.shape}")
        return replace(self, array=array, **changes)

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.4g}" for s in self.spacing_mm)
        return (f"Volume(shape={self.shape}, dtype={self.array.dtype}, spacing_mm=({sp}), "
                f"modality={self.modality!r}, format={self.source_format!r})")
