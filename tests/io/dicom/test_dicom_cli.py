"""`annotrace info` / `convert` on DICOM input: JSON fields, PHI only with --phi, and bad
input as one line on stderr with exit code 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_factory import write_series

from app.cli.main import main

REPO = Path(__file__).resolve().parents[3]


def run_cli(capsys, *args):
    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_on_a_series(capsys, tmp_path):
    written = write_series(tmp_path, dtype=np.uint16, bits_stored=12, intercept=-1024)
    code, out, err = run_cli(capsys, "info", tmp_path, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["format"] == "dicom" and info["series_uid"] == written["series_uid"]
    assert info["modality"] == "CT" and info["shape"] == [12, 32, 40]
    assert info["spacing_mm"] == pytest.approx([0.7, 0.8, 2.5])
    assert info["origin_lps"] == pytest.approx([-20.0, -15.0, 30.0])
    assert info["dtype"] == "int16"
    stored = written["stored"].astype(int) - 1024
    assert info["value_range"] == [int(stored.min()), int(stored.max())]
    assert info["warnings"] == []
    assert "Doe" not in out and "PID-12345" not in out


def test_info_phi_only_when_asked(capsys, tmp_path):
    write_series(tmp_path, n_slices=2)
    code, out, _ = run_cli(capsys, "info", tmp_path, "--json", "--phi")
    assert code == 0
    assert json.loads(out)["patient"]["patient_id"] == "PID-12345"


def test_convert_series_to_nifti_matches_simpleitk(capsys, tmp_path):
    write_series(tmp_path / "src", orientation="coronal", slope=1.0, intercept=-1024)
    dst = tmp_path / "out.nii.gz"
    code, _, err = run_cli(capsys, "convert", tmp_path / "src", dst)
    assert code == 0, err
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "src")))
    src, back = reader.Execute(), sitk.ReadImage(str(dst))
    assert back.GetSize() == src.GetSize()
    np.testing.assert_allclose(back.GetSpacing(), src.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(back.GetOrigin(), src.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(back.GetDirection(), src.GetDirection(), atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(src))


def _empty(d):
    (d / "empty").mkdir()
    return d / "empty", "empty folder: no files"


def _truncated_slice(d):
    paths = write_series(d / "s", n_slices=5, shuffle_names=False)["paths"]
    paths[2].write_bytes(paths[2].read_bytes()[:-10])
    return d / "s", None, paths[2], "truncated file: pixel data has 2550 of 2560 bytes"


def _no_pixels(d):
    import pydicom
    from dicom_factory import base_dataset

    ds = base_dataset()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(d / "h.dcm", implicit_vr=False, little_endian=True)
    return d / "h.dcm", "not an image: no pixel data"


def _mixed_sizes(d):
    import pydicom

    uid = pydicom.uid.generate_uid()
    write_series(d, n_slices=1, series_uid=uid, name_prefix="a")
    write_series(d, n_slices=1, rows=20, cols=30, series_uid=uid, name_prefix="b")
    return d, "mixed image sizes in one series (rows x columns 32x40: aIM0000.dcm; " \
              "20x30: bIM0000.dcm)"


def _not_dicom(d):
    (d / "notes.txt").write_text("hello")
    return d / "notes.txt", "not a DICOM file"


def _corrupt_header(d):
    paths = write_series(d / "s", n_slices=3, shuffle_names=False)["paths"]
    paths[1].write_bytes(paths[1].read_bytes()[:300])
    return d / "s", None, paths[1], "truncated or corrupt DICOM file (it ends inside the header)"


CASES = {"empty-folder": _empty, "truncated-slice": _truncated_slice, "no-pixel-data": _no_pixels,
         "mixed-sizes": _mixed_sizes, "non-dicom": _not_dicom, "corrupt-header": _corrupt_header}


@pytest.mark.parametrize("command", ["info", "convert"])
@pytest.mark.parametrize("case", CASES)
def test_bad_dicom_input_one_line_exit_2(capsys, tmp_path, case, command):
    made = CASES[case](tmp_path)
    if len(made) == 2:  # the error names the path given
        target, reason = made
        named = target
    else:  # the error names one file inside the folder given
        target, _, named, reason = made
    args = [command, target] + ([tmp_path / "out.nii.gz"] if command == "convert" else [])
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert err == f"annotrace: {named}: {reason}\n"
    assert not (tmp_path / "out.nii.gz").exists()


def test_skip_bad_loads_the_rest_and_says_so(capsys, tmp_path):
    target, _, bad, _ = _truncated_slice(tmp_path)
    code, out, err = run_cli(capsys, "info", target, "--json", "--skip-bad")
    assert code == 0, err
    info = json.loads(out)
    assert info["shape"] == [4, 32, 40]
    assert any(bad.name in w and "skipped 1 unreadable slice" in w for w in info["warnings"])


def test_convert_of_several_series_lists_them(capsys, tmp_path):
    a = write_series(tmp_path / "a", n_slices=2)
    b = write_series(tmp_path / "b", n_slices=3, modality="MR")
    code, _, err = run_cli(capsys, "convert", tmp_path, tmp_path / "x.nii.gz")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"annotrace: {tmp_path}: holds 2 series, choose one with --series UID")
    assert f"{a['series_uid']} (CT, test series, 2 images)" in err
    assert f"{b['series_uid']} (MR, test series, 3 images)" in err


def _without_root_read_override(cmd):
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "util-linux setpriv is needed to drop root's DAC override"
        drop = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)


@pytest.mark.parametrize("what", ["folder", "slice"])
def test_unreadable_folder_or_slice_exit_2(tmp_path, what):
    """CI runs as root, who reads everything: the command runs without those capabilities."""
    written = write_series(tmp_path / "s", n_slices=3, shuffle_names=False)
    locked = tmp_path / "s" if what == "folder" else written["paths"][1]
    locked.chmod(0)
    try:
        result = _without_root_read_override([sys.executable, "-m", "app", "info",
                                              str(tmp_path / "s")])
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2, result.stderr
    expected = f"annotrace: {locked}: permission denied" if what == "folder" else \
        f"annotrace: {locked}: cannot read: permission denied"
    assert result.stderr.strip() == expected
