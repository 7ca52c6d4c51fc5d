"""The built-in demo study: the Colin27 T1 MRI (see LICENSE-colin27.txt)."""

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
DEMO_T1 = DEMO_DIR / "ch2.nii.gz"
DEMO_BRAIN = DEMO_DIR / "ch2bet.nii.gz"
