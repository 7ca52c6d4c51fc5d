"""A light description of one series, for listings and pickers (no pixels read)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SeriesSummary:
    """What ``annotrace info`` shows for each series of a folder.

    Attributes
    ----------
    series_uid : str
        SeriesInstanceUID (for non-DICOM files, the file name).
    modality, description : str
    num_images : int
        Number of image files (or frames of one multi-frame object).
    shape : tuple of int
        ``(slices, rows, columns)`` as far as the headers tell.
    format : str
        "dicom", "nifti", ...
    warnings : list of str
        Problems visible from the headers alone.
    """

    series_uid: str
    modality: str = ""
    description: str = ""
    num_images: int = 0
    shape: tuple[int, int, int] = (0, 0, 0)
    format: str = "dicom"
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "series_uid": self.series_uid,
            "modality": self.modality,
            "description": self.description,
            "num_images": self.num_images,
            "shape": list(self.shape),
            "format": self.format,
            "warnings": list(self.warnings),
        }
