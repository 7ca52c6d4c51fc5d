"""Damaged files: every byte flip or cut of real DICOM files either loads or gives one clean
InputError, never another exception (decoder plugins included: pylibjpeg-rle panics in Rust
on some corrupt RLE data)."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pydicom
import pytest

from viewers.io import dicom
from viewers.io.errors import InputError

TEST_FILES = Path(pydicom.data.__file__).resolve().parent / "test_files"
SOURCES = ["CT_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", "MR_small_implicit.dcm",
           "MR_small_bigendian.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPGExtended.dcm"]


def _mutants(data: bytes, rng: random.Random, count: int):
    for _ in range(count):
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.6:    # the header, where a flip changes structure
                out[rng.randrange(128, min(len(out), 3000))] = rng.randrange(256)
            elif roll < 0.8:  # anywhere, pixel data included
                out[rng.randrange(128, len(out))] = rng.randrange(256)
            else:             # cut short
                del out[rng.randrange(132, len(out)):]
        yield bytes(out)


@pytest.mark.parametrize("name", SOURCES)
def test_damaged_copies_load_or_fail_cleanly(tmp_path, name):
    rng = random.Random(name)
    data = (TEST_FILES / name).read_bytes()
    path = tmp_path / "damaged.dcm"
    outcomes = {"loaded": 0, "refused": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's own complaints about the damage
        for mutant in _mutants(data, rng, 120):
            path.write_bytes(mutant)
            try:
                volume = dicom.read(path)
            except InputError as exc:
                assert exc.exit_code == 2 and "\n" not in str(exc)
                assert exc.path == str(path) or exc.path is None
                outcomes["refused"] += 1
            else:
                assert volume.array.ndim == 3
                outcomes["loaded"] += 1
    # Both outcomes occur, so the mutations reach the header and the pixels alike.
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0, outcomes
