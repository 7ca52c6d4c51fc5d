"""Bundles in the site's model directory (setting ``model_directory``) are listed and run by
name, like the built-in models."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from bundle_common import make_bundle

from app.cli.main import main


@pytest.fixture
def site_models(tmp_path, monkeypatch):
    models = tmp_path / "site-models"
    models.mkdir()
    make_bundle(models, "spleen_ct_segmentation")
    (models / "notes").mkdir()  # not a bundle (no configs/): ignored
    site = tmp_path / "site.toml"
    site.write_text(f'[settings]\nmodel_directory = "{models}"\n')
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(site))
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(tmp_path / "user.toml"))
    monkeypatch.setenv("ANNOTRACE_MODEL_REGISTRY", str(tmp_path / "registry.json"))
    return models


def test_site_bundles_are_listed_and_run_by_name(site_models, tmp_path, capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert "notes" not in rows
    spleen = rows["spleen_ct_segmentation"]
    assert spleen["kind"] == "bundle" and "site model directory" in spleen["source"]
    assert spleen["labels"][0]["name"] == "spleen"

    ct = (np.random.default_rng(0).normal(40, 20, (40, 40, 24))).astype(np.int16)
    image = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(ct, np.diag([1.5, 1.5, 3.0, 1.0])), image)
    out = tmp_path / "labels.nii.gz"
    assert main(["propose", str(image), "--model", "spleen_ct_segmentation", "--out", str(out),
                 "--quiet"]) == 0
    written = nib.load(str(out))
    assert written.shape == ct.shape and np.allclose(written.affine, np.diag([1.5, 1.5, 3.0, 1]))

    assert main(["propose", str(image), "--model", "liver", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "spleen_ct_segmentation" in err and "deepbet" in err  # what is available, in one line
