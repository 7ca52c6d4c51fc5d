"""Constants and helpers shared by the export tests (imported by name, not through conftest,
so that test folders with their own conftest never shadow each other)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CONTENT_TIME = dt.datetime(2026, 11, 28, 9, 30, 15)

LIVER = {"name": "Liver", "color": (221, 130, 101),
         "category": {"scheme": "SCT", "value": "123037004", "meaning": "Anatomical Structure"},
         "type": {"scheme": "SCT", "value": "10200004", "meaning": "Liver"},
         "algorithm_type": "MANUAL"}
TUMOUR = {"name": "Tumour", "color": (216, 101, 79),
          "category": {"scheme": "SCT", "value": "49755003",
                       "meaning": "Morphologically Abnormal Structure"},
          "type": {"scheme": "SCT", "value": "108369006", "meaning": "Neoplasm"},
          "algorithm_type": "AUTOMATIC", "model_name": "liver_tumour_unet",
          "model_version": "2.1.0"}
VESSEL = {"name": "Vessel", "color": (111, 184, 210),
          "category": {"scheme": "SCT", "value": "123037004", "meaning": "Anatomical Structure"},
          "type": {"scheme": "SCT", "value": "59820001", "meaning": "Blood vessel"},
          "algorithm_type": "SEMIAUTOMATIC", "model_name": "vessel_refine",
          "model_version": "0.3"}


def overlapping_masks(shape) -> np.ndarray:
    """Three segments (k, j, i): a tumour inside the liver and a vessel crossing it."""
    k, j, i = shape
    masks = np.zeros((3,) + tuple(shape), dtype=bool)
    masks[0, 1:k - 1, 2:j - 2, 2:i - 2] = True               # liver
    masks[1, 1:3, 4:7, 3:6] = True                          # tumour, inside the liver
    masks[2, :, j // 2, :] = True                            # vessel, through everything
    masks[2, 0, 0, 0] = True                                 # a corner voxel: orientation check
    return masks



def tool(name: str) -> str:
    """Path of an external judge: the venv's bin folder first (dcmqi), then PATH (dicom3tools)."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (dev dependencies: dcmqi, dicom3tools)")
    return found


def dciodvfy_errors(path) -> list[str]:
    """The lines of ``dciodvfy`` output that report errors."""
    result = subprocess.run([tool("dciodvfy"), str(path)], capture_output=True, text=True,
                            timeout=120)
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("Error")]
