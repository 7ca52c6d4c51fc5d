"""`annotrace info` and `annotrace convert` on real files and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from app.cli.main import main


def run_cli(capsys, *args):
    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_fields_for_colin27(capsys, colin_t1):
    code, out, err = run_cli(capsys, "info", colin_t1, "--json")
    assert code == 0, err
    info = json.loads(out)
    ref = sitk.ReadImage(str(colin_t1))
    assert info["format"] == "nifti"
    assert info["shape"] == [181, 217, 181]
    assert info["spacing_mm"] == pytest.approx(ref.GetSpacing())
    assert info["origin_lps"] == pytest.approx(ref.GetOrigin())
    assert info["direction"] == pytest.approx(ref.GetDirection())
    arr = sitk.GetArrayFromImage(ref)
    assert info["value_range"] == [int(arr.min()), int(arr.max())]
    assert info["dtype"] == "uint8"
    assert info["warnings"] == []
    assert "patient" not in info


def test_info_text_is_readable(capsys, colin_t1):
    code, out, _ = run_cli(capsys, "info", colin_t1)
    assert code == 0
    assert "181 x 217 x 181" in out and "origin LPS mm" in out


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha", ".nii"])
def test_convert_output_matches_simpleitk_reading_source(capsys, tmp_path, colin_t1, suffix):
    dst = tmp_path / f"colin{suffix}"
    code, out, err = run_cli(capsys, "convert", colin_t1, dst)
    assert code == 0, err
    src, back = sitk.ReadImage(str(colin_t1)), sitk.ReadImage(str(dst))
    assert back.GetSize() == src.GetSize()
    np.testing.assert_allclose(back.GetSpacing(), src.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(back.GetOrigin(), src.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(back.GetDirection(), src.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(src))


@pytest.mark.parametrize("make_bad,reason", [
    (lambda d: d / "missing.nii.gz", "no such file or directory"),
    (lambda d: (d / "bad.nii.gz").write_bytes(b"not gzip at all") and d / "bad.nii.gz",
     "not a readable NIfTI file"),
    (lambda d: (d / "bad.nrrd").write_text("NRRD0004\ntype: short\n") and d / "bad.nrrd",
     "not a readable NRRD file"),
], ids=["missing", "corrupt-gzip", "corrupt-nrrd"])
def test_bad_input_one_line_exit_2(capsys, tmp_path, make_bad, reason):
    path = make_bad(tmp_path)
    code, out, err = run_cli(capsys, "info", path)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"annotrace: {path}: ") and reason in err


def test_unreadable_path_exit_2(tmp_path, colin_t1):
    """A file the user may not read: one line, exit 2.

    CI runs as root, who reads everything; the command therefore runs without the
    capabilities that bypass file permissions (setpriv, util-linux).
    """
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    locked = tmp_path / "locked.nii.gz"
    locked.write_bytes(colin_t1.read_bytes()[:1000])
    locked.chmod(0)
    cmd = [sys.executable, "-m", "app", "info", str(locked)]
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "util-linux setpriv is needed to drop root's DAC override"
        drop = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"annotrace: {locked}: permission denied"


def test_convert_refuses_unknown_output_format_before_reading(capsys, tmp_path, colin_t1):
    code, _, err = run_cli(capsys, "convert", colin_t1, tmp_path / "x.jpg")
    assert code == 2 and "unsupported output format" in err
    assert not (tmp_path / "x.jpg").exists()


def test_failed_convert_leaves_existing_output_untouched(capsys, tmp_path, colin_t1):
    dst = tmp_path / "keep.nii.gz"
    dst.write_bytes(b"previous result")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(colin_t1.read_bytes()[:5000])
    code, _, _ = run_cli(capsys, "convert", bad, dst)
    assert code == 2
    assert dst.read_bytes() == b"previous result"
