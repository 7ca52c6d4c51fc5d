"""``annotrace propose`` and ``annotrace models`` as a user runs them."""

import json

import nibabel as nib
import numpy as np
import pytest

from app.cli.main import main
from models.train_brainmask import dice


def test_propose_writes_labels_and_confidence_on_the_input_grid(colin_t1, colin_brain,
                                                                tmp_path, capsys):
    out, conf = tmp_path / "labels.nii.gz", tmp_path / "conf.nii.gz"
    code = main(["propose", str(colin_t1), "--model", "brainmask-unet", "--out", str(out),
                 "--confidence", str(conf), "--json", "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    src, lab, cnf = nib.load(str(colin_t1)), nib.load(str(out)), nib.load(str(conf))
    for img in (lab, cnf):
        assert img.shape == src.shape
        assert np.allclose(img.affine, src.affine)
    labels = np.asarray(lab.dataobj)
    assert cnf.get_data_dtype() == np.uint8
    assert dice(labels == 1, np.asarray(nib.load(str(colin_brain)).dataobj) > 0) > 0.95
    assert summary["segments"]["brain"]["voxels"] == int((labels == 1).sum())
    assert summary["model_id"] == "brainmask-unet@1"


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model"], "no-such-model: no such model or bundle folder"),
    (["--out", "x.png"], "unsupported output format"),
])
def test_propose_bad_input_is_one_line_and_exit_code_2(colin_t1, tmp_path, capsys, args,
                                                        message):
    base = {"--model": "brainmask-unet", "--out": str(tmp_path / "l.nii.gz")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value if flag != "--out" else str(tmp_path / value)
    argv = ["propose", str(colin_t1)] + [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "l.nii.gz").exists()


def test_a_bundle_folder_without_weights_is_refused(colin_t1, tmp_path, capsys):
    from bundle_common import BUNDLES

    assert main(["propose", str(colin_t1), "--model", str(BUNDLES / "spleen_ct_segmentation"),
                 "--out", str(tmp_path / "l.nii.gz"), "--quiet"]) == 2
    assert "no weights: the bundle needs models/model.pt" in capsys.readouterr().err


def test_models_list_json_and_register(bundle_factory, tmp_path, capsys):
    registry = tmp_path / "reg.json"
    folder = bundle_factory("spleen_ct_segmentation")
    assert main(["models", "--registry", str(registry), "register", "spleen", str(folder)]) == 0
    capsys.readouterr()
    assert main(["models", "--registry", str(registry), "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert {"deepbet", "brainmask-unet", "spleen"} <= set(rows)
    assert rows["spleen"]["labels"] == [{"value": 1, "name": "spleen", "snomed": "78961009"}]
    assert len(rows["spleen"]["weights_sha256"]) == 64
    (folder / "models" / "model.pt").write_bytes(b"tampered")
    assert main(["models", "--registry", str(registry), "list"]) == 0
    assert "REFUSED: changed since registration: models/model.pt was modified" in \
        capsys.readouterr().out


def test_models_list_imports_neither_torch_nor_qt(tmp_path):
    import subprocess
    import sys

    probe = ("import sys, io, contextlib\n"
             "from app.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             f"    code = main(['models', '--registry', {str(tmp_path / 'r.json')!r}, 'list'])\n"
             "print(code, sorted({m.split('.')[0] for m in sys.modules} & "
             "{'torch', 'monai', 'PySide6'}))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120).stdout.strip().splitlines()[-1]
    assert out == "0 []"
