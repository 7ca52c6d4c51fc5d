"""The quality commands through ``app.cli.main.main``: known results, bad CSVs, real files."""

import json

import numpy as np
import pytest

from app.cli.main import main
from viewers.io import read_volume, write_volume
from viewers.volume import Volume

SPACING = (0.5, 1.0, 2.5)


def _write(path, array, spacing=SPACING):
    vol = Volume.from_geometry(array, origin_lps=(0.0, 0.0, 0.0), spacing_mm=spacing)
    write_volume(vol, path)
    return path


def _cube(lo_k=4):
    a = np.zeros((20, 20, 20), dtype=np.uint8)
    a[lo_k:lo_k + 10, 5:15, 5:15] = 1
    return a


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else None), out.err


def test_quality_folders_paired_by_name(tmp_path, capsys):
    (tmp_path / "ref").mkdir()
    (tmp_path / "test").mkdir()
    _write(tmp_path / "ref" / "a.nii.gz", _cube())
    _write(tmp_path / "test" / "a.nii.gz", _cube(6))   # 2 slices = 5 mm along k
    _write(tmp_path / "ref" / "b.nii.gz", _cube())
    _write(tmp_path / "test" / "b.nii.gz", _cube())
    code, report, _ = _json(capsys, ["quality", str(tmp_path / "ref"), str(tmp_path / "test"),
                                     "--json"])
    assert code == 0
    by_case = {c["case"]: c["segments"]["1"] for c in report["cases"]}
    assert by_case["a.nii.gz"]["dice"] == pytest.approx(0.8)
    assert by_case["a.nii.gz"]["hd95_mm"] == pytest.approx(5.0)  # the k faces, 2 x 2.5 mm
    assert by_case["b.nii.gz"]["dice"] == 1.0
    assert report["summary"]["1"]["dice"]["mean"] == pytest.approx(0.9)
    assert report["summary"]["1"]["dice"]["n"] == 2


def test_quality_refuses_unpaired_files_and_other_grids(tmp_path, capsys):
    (tmp_path / "ref").mkdir()
    (tmp_path / "test").mkdir()
    _write(tmp_path / "ref" / "a.nii.gz", _cube())
    _write(tmp_path / "test" / "z.nii.gz", _cube())
    assert main(["quality", str(tmp_path / "ref"), str(tmp_path / "test")]) == 2
    assert "a.nii.gz: has no counterpart" in capsys.readouterr().err
    other = _write(tmp_path / "other.nii.gz", _cube(), spacing=(1.0, 1.0, 1.0))
    assert main(["quality", str(tmp_path / "ref" / "a.nii.gz"), str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other.nii.gz: geometry" in err


def test_quality_refuses_a_grey_image_as_label_map(colin_t1, capsys):
    # ch2.nii.gz is integer-valued (248 non-zero grey levels): refused unless segments are named.
    levels = len(np.unique(read_volume(colin_t1).array)) - 1
    assert main(["quality", str(colin_t1), str(colin_t1)]) == 2
    assert f"holds {levels} label values, an image rather than a label map" in \
        capsys.readouterr().err


def test_agreement_kappa_dice_and_staple_file(tmp_path, capsys):
    a, b, c = _cube(), _cube(), _cube(6)
    paths = [str(_write(tmp_path / f"r{i}.nii.gz", x)) for i, x in enumerate((a, b, c))]
    out = tmp_path / "staple.nii.gz"
    code, report, _ = _json(capsys, ["agreement", *paths, "--staple", str(out), "--json"])
    assert code == 0 and report["kappa_kind"] == "fleiss"
    seg = report["segments"]["1"]
    assert seg["dice_matrix"][0][1] == 1.0 and seg["dice_matrix"][0][2] == pytest.approx(0.8)
    consensus = read_volume(out)
    assert np.array_equal(consensus.array > 0, a > 0)  # two of three readers agree on a
    assert np.allclose(consensus.spacing_mm, SPACING)
    code, report, _ = _json(capsys, ["agreement", *paths[:2], "--json"])
    assert report["kappa_kind"] == "cohen" and report["kappa"] == pytest.approx(1.0)


def _csv(path, rows, header="unit,confidence,dice"):
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return str(path)


def _two_groups(path):
    rows = [f"ok{i},0.95,0.97" for i in range(200)]
    rows += [f"mid{i},0.70,{0.95 if i < 70 else 0.6}" for i in range(100)]
    return _csv(path, rows)


def test_calibrate_csv_known_threshold(tmp_path, capsys):
    code, out, _ = _json(capsys, ["calibrate", "--csv", _two_groups(tmp_path / "v.csv"),
                                  "--epsilon", "0.05", "--delta", "0.05", "--tolerance", "0.9"])
    assert code == 0
    assert out["threshold"] == 0.71 and out["units_used"] == 200
    assert out["coverage"] == pytest.approx(200 / 300)
    assert out["bound"] == pytest.approx(1 - 0.001 ** (1 / 200))


def test_calibrate_takes_the_csv_as_its_argument(tmp_path, capsys):
    # the issue's own form, ``annotrace calibrate units.csv --epsilon ...``, equals --csv
    path = _two_groups(tmp_path / "v.csv")
    code, out, _ = _json(capsys, ["calibrate", path, "--epsilon", "0.05", "--delta", "0.05",
                                  "--tolerance", "0.9"])
    assert code == 0 and out["threshold"] == 0.71 and out["units_used"] == 200
    assert main(["calibrate", str(tmp_path / "nope.csv")]) == 2
    assert capsys.readouterr().err == f"annotrace: {tmp_path / 'nope.csv'}: no such file\n"
    assert main(["calibrate", str(tmp_path)]) == 2  # a folder that is no workspace
    assert "not an annotrace workspace" in capsys.readouterr().err


def test_calibrate_none_passes_prints_null(tmp_path, capsys):
    path = _csv(tmp_path / "v.csv", [f"u{i},0.9,0.5" for i in range(30)])
    code, out, _ = _json(capsys, ["calibrate", "--csv", path, "--epsilon", "0.05",
                                  "--delta", "0.05", "--tolerance", "0.9", "--plan", "0.5"])
    assert code == 0 and out["threshold"] is None and out["coverage"] == 0.0
    assert out["units_used"] == 0 and out["plans"][0]["feasible"] is False


@pytest.mark.parametrize("content, line, reason", [
    ("unit,confidence,dice\na,0.9,0.95\nb,high,0.9\n", 3, "confidence 'high' is not a number"),
    ("unit,confidence,dice\na,0.9,1.5\n", 2, "dice 1.5 is outside [0, 1]"),
    ("unit,confidence,dice\na,0.9\n", 2, "has 2 fields, the header has 3"),
    ("unit,confidence,dice\na,0.9,0.9\na,0.8,0.9\n", 3, "unit 'a' repeats line 2"),
    ("unit,score,dice\na,0.9,0.9\n", 1, "header lacks column(s) confidence"),
    ("", 1, "is empty"),
    ("unit,confidence,dice\n", None, "has a header but no units"),
    ("unit,confidence,dice\na,nan,0.9\n", 2, "confidence nan is outside [0, 1]"),
])
def test_calibrate_bad_csv_one_line_error(tmp_path, capsys, content, line, reason):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["calibrate", "--csv", str(path)]) == 2
    err = capsys.readouterr().err
    where = f"{path}, line {line}" if line else f"{path}"
    assert err.startswith(f"annotrace: {where}: {reason}") and err.count("\n") == 1


def test_calibrate_missing_file(tmp_path, capsys):
    assert main(["calibrate", "--csv", str(tmp_path / "nope.csv")]) == 2
    assert capsys.readouterr().err == f"annotrace: {tmp_path / 'nope.csv'}: no such file\n"


def test_autolabel_from_csv_and_from_calibration_json(tmp_path, capsys):
    val = _two_groups(tmp_path / "v.csv")
    pool = _csv(tmp_path / "pool.csv", [f"p{i},{c}" for i, c in
                                        enumerate([0.99, 0.71, 0.70, 0.2] * 25)],
                header="unit,confidence")
    code, out, _ = _json(capsys, ["autolabel", "--pool", pool, "--csv", val, "--json",
                                  "--spot-check", "0.1", "--seed", "1"])
    assert code == 0
    assert out["threshold"] == 0.71 and out["auto_accepted"] == 50 and out["to_humans"] == 50
    auto = [d for d in out["decisions"] if d["decision"] == "auto"]
    assert all(d["confidence"] >= 0.71 for d in auto)
    assert auto[0]["provenance"] == f"auto, threshold 0.71, bound {out['bound']:.4f}"
    assert len(out["spot_checks"]) == 5 and set(out["spot_checks"]) <= {d["unit"] for d in auto}
    cal = tmp_path / "cal.json"
    assert main(["calibrate", "--csv", val]) == 0
    cal.write_text(capsys.readouterr().out)
    code, again, _ = _json(capsys, ["autolabel", "--pool", pool, "--calibration", str(cal),
                                    "--json", "--spot-check", "0.1", "--seed", "1"])
    assert again["decisions"] == out["decisions"]
    cal.write_text("[1, 2]")
    assert main(["autolabel", "--pool", pool, "--calibration", str(cal)]) == 2
    assert "not a calibration JSON" in capsys.readouterr().err


def test_rank_folder_by_entropy_and_bad_array(tmp_path, capsys):
    sure = np.zeros((8, 8, 8), np.float32)
    sure[:4] = 1.0
    np.save(tmp_path / "sure.npy", sure)
    np.save(tmp_path / "unsure.npy", np.full((8, 8, 8), 0.5, np.float32))
    np.save(tmp_path / "mid.npy", np.where(sure > 0, 0.9, 0.1).astype(np.float32))
    code, out, _ = _json(capsys, ["rank", str(tmp_path), "--json"])
    assert [c["case"] for c in out["cases"]] == ["unsure", "mid", "sure"]
    assert out["cases"][0]["score"] == pytest.approx(1.0)
    np.save(tmp_path / "bad.npy", np.full((8, 8, 8), 2.0, np.float32))
    assert main(["rank", str(tmp_path)]) == 2
    assert "bad: probabilities: values outside [0, 1]" in capsys.readouterr().err


def test_quality_on_colin27_brain_mask(colin_brain, tmp_path, capsys):
    # Real anatomy: the brain mask against itself moved by 3 rows (3 mm).
    vol = read_volume(colin_brain)
    ref = (vol.array > 0).astype(np.uint8)
    write_volume(vol.with_array(ref), tmp_path / "ref.nii.gz")
    write_volume(vol.with_array(np.roll(ref, 3, axis=1)), tmp_path / "test.nii.gz")
    code, out, _ = _json(capsys, ["quality", str(tmp_path / "ref.nii.gz"),
                                  str(tmp_path / "test.nii.gz"), "--json"])
    m = out["cases"][0]["segments"]["1"]
    assert 0.9 < m["dice"] < 0.99 and m["volume_diff_ml"] == pytest.approx(0.0)
    assert 0 < m["asd_mm"] < m["hd95_mm"] <= 3.0 + 1e-6


def test_calibrate_and_autolabel_import_no_torch_or_qt(tmp_path):
    import subprocess
    import sys

    val = _two_groups(tmp_path / "v.csv")
    pool = _csv(tmp_path / "pool.csv", ["p1,0.9"], header="unit,confidence")
    probe = ("import sys, io, contextlib\nfrom app.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    code = main(sys.argv[1:])\n"
             "print(code, sorted({m.split('.')[0] for m in sys.modules} & "
             "{'PySide6', 'torch', 'monai'}))")
    for argv in (["calibrate", "--csv", val], ["autolabel", "--pool", pool, "--csv", val]):
        res = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True,
                             text=True, timeout=120)
        assert res.stdout.strip().splitlines()[-1] == "0 []"


def test_rank_csv_variance_with_diversity(tmp_path, capsys):
    (tmp_path / "maps").mkdir()
    calm = np.stack([np.full((8, 8, 8), 0.2, np.float32)] * 4)          # variance 0
    wild = np.stack([np.zeros((8, 8, 8), np.float32), np.ones((8, 8, 8), np.float32)] * 2)
    np.save(tmp_path / "maps" / "calm.npy", calm)
    np.save(tmp_path / "maps" / "wild.npy", wild)                        # variance 0.25
    (tmp_path / "cases.csv").write_text("case,path\nA,maps/calm.npy\nB,maps/wild.npy\n")
    code, out, _ = _json(capsys, ["rank", str(tmp_path / "cases.csv"), "--method", "variance",
                                  "--diversity", "0.3", "--json"])
    assert code == 0 and [c["case"] for c in out["cases"]] == ["B", "A"]
    assert out["cases"][0]["score"] == pytest.approx(0.25) and out["cases"][1]["score"] == 0.0
    assert main(["rank", str(tmp_path / "cases.csv"), "--method", "variance",
                 "--diversity", "2"]) == 2
    assert "diversity: must lie in [0, 1]" in capsys.readouterr().err


def test_rank_by_disagreement_of_samples(tmp_path, capsys):
    # In one case the samples differ in value but segment the same region; in the other
    # they segment disjoint halves.
    half = np.zeros((8, 8, 8), np.float32)
    half[:4] = 1.0
    same = np.stack([half * 0.9 + 0.05, half * 0.6 + 0.35])      # both threshold to `half`
    apart = np.stack([half, half[::-1].copy()])                  # disjoint halves
    np.save(tmp_path / "same.npy", same)
    np.save(tmp_path / "apart.npy", apart)
    code, out, _ = _json(capsys, ["rank", str(tmp_path), "--method", "disagreement", "--json"])
    assert code == 0 and [c["case"] for c in out["cases"]] == ["apart", "same"]
    assert out["cases"][0]["score"] == pytest.approx(1.0)
    assert out["cases"][1]["score"] == pytest.approx(0.0)
    np.save(tmp_path / "single.npy", half[None])
    assert main(["rank", str(tmp_path), "--method", "disagreement"]) == 2
    assert "single: samples: expected >= 2 samples" in capsys.readouterr().err
