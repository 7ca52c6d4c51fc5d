"""Real MONAI Model Zoo bundle configs (tests/data/bundles) with weights made by the test.

Each bundle's own preprocessing, inferer and postprocessing run through MONAI's
ConfigParser; the output must land on the input's exact grid. Bundles annotrace cannot run
are refused with one clear line.
"""

import json

import numpy as np
import pytest
import torch

from models.bundle_registry import BundleRegistry
from models.bundle_spec import bundle_spec
from models.errors import BundleRefused
from models.run import propose


def _flip_i(vol, affine):
    aff = affine.copy()
    aff[:3, 3] = affine[:3, :3] @ [vol.shape[2] - 1, 0, 0] + affine[:3, 3]
    aff[:3, 0] = -affine[:3, 0]
    return vol[:, :, ::-1], aff


def test_spleen_bundle_runs_its_own_pipeline_onto_the_source_grid(bundle_factory, small_ct):
    vol, affine = small_ct
    spec = bundle_spec(bundle_factory("spleen_ct_segmentation"))
    assert [(s.value, s.name, s.code) for s in spec.segments] == [(1, "spleen", "78961009")]
    events = []
    proposal = propose(spec, vol, affine, progress=lambda d, t, s: events.append((d, t)))
    assert proposal.labels.shape == vol.shape
    assert set(np.unique(proposal.labels)) == {0, 1}   # random weights: both labels occur
    assert np.array_equal(proposal.affine_lps, affine)
    assert events[0] == (0, 1) and events[-1] == (1, 1)
    # the same image stored mirrored gives the mirrored labels: output is on the source grid
    flipped, aff = _flip_i(vol, affine)
    again = propose(spec, flipped, aff).labels[:, :, ::-1]
    assert (again == proposal.labels).mean() > 0.999
    # the bundle's own pipeline without annotrace's fast path gives the same labels
    slow = propose(spec, vol, affine, fast=False)
    assert (slow.labels == proposal.labels).mean() > 0.999


def test_prostate_bundle_mri_pipeline_with_largest_component(bundle_factory):
    rng = np.random.default_rng(3)
    vol = rng.normal(300, 50, (12, 16, 16)).astype(np.float32)
    affine = np.diag([-1.0, -1.0, 1.5, 1.0])
    proposal = propose(bundle_spec(bundle_factory("prostate_mri_anatomy")), vol, affine)
    assert proposal.labels.shape == vol.shape
    assert {s.name for s in proposal.segments} == {"central gland", "peripheral zone"}
    assert set(np.unique(proposal.labels)) <= {0, 1, 2}


def test_whole_body_bundle_105_labels(bundle_factory, small_ct):
    """SegResNet with 105 outputs; its 96^3 ROI is cut to 32^3 here only to keep CPU time low."""
    vol, affine = small_ct
    spec = bundle_spec(bundle_factory("wholeBody_ct_segmentation"))
    assert len(spec.segments) == 104 and spec.segments[0].name == "spleen"
    proposal = propose(spec, vol, affine, roi_size=(32, 32, 32))
    assert proposal.labels.shape == vol.shape
    assert proposal.labels.max() <= 104
    assert proposal.confidence.max() <= 255


def test_brats_needs_four_mri_channels(bundle_factory, small_ct):
    vol, affine = small_ct
    spec = bundle_spec(bundle_factory("brats_mri_segmentation"))
    with pytest.raises(BundleRefused, match=r"needs 4 co-registered MR channel\(s\) "
                                            r"\(T1c, T1, T2, FLAIR\); got 1"):
        propose(spec, vol, affine)


def test_brats_runs_with_its_four_channels_and_reports_the_label_values_it_wrote(
        bundle_factory):
    """SegResNet on T1c/T1/T2/FLAIR; its 240x240x160 ROI is cut to 32^3 here for CPU time."""
    rng = np.random.default_rng(0)
    channels = [rng.normal(100, 20, (16, 20, 24)).astype(np.float32) for _ in range(4)]
    spec = bundle_spec(bundle_factory("brats_mri_segmentation"))
    proposal = propose(spec, channels, np.diag([-1.0, -1.0, 1.0, 1.0]), roi_size=(32, 32, 32))
    assert proposal.labels.shape == (16, 20, 24)
    values = set(np.unique(proposal.labels).tolist()) - {0}
    assert values and values <= {1, 2, 4}          # the bundle's own Lambda: TC=1, WT=2, ET=4
    assert {s.value for s in proposal.segments} == values


def test_deepedit_needs_click_guidance(bundle_factory, small_ct):
    vol, affine = small_ct
    spec = bundle_spec(bundle_factory("spleen_deepedit_annotation"))
    with pytest.raises(BundleRefused, match="needs click guidance"):
        propose(spec, vol, affine)


def test_weights_that_do_not_fit_the_network_are_refused(bundle_factory, small_ct):
    vol, affine = small_ct
    folder = bundle_factory("spleen_ct_segmentation", network_overrides={"out_channels": 3})
    with pytest.raises(BundleRefused, match=r"models/model.pt does not fit network UNet"):
        propose(bundle_spec(folder), vol, affine)


def test_a_network_the_installed_monai_cannot_build_is_refused(bundle_factory, small_ct):
    vol, affine = small_ct
    folder = bundle_factory("spleen_ct_segmentation")
    path = folder / "configs" / "inference.json"
    config = json.loads(path.read_text())
    config["network_def"]["_target_"] = "UNetFromTheFuture"
    path.write_text(json.dumps(config))
    with pytest.raises(BundleRefused, match="network UNetFromTheFuture cannot be built with "
                                            "the installed MONAI"):
        propose(bundle_spec(folder), vol, affine)


class _Payload:
    def __reduce__(self):
        return (print, ("this would run",))


def test_weights_are_loaded_with_weights_only(bundle_factory, small_ct):
    vol, affine = small_ct
    folder = bundle_factory("spleen_ct_segmentation")
    torch.save({"model": _Payload()}, folder / "models" / "model.pt")
    with pytest.raises(BundleRefused, match=r"weights_only=True"):
        propose(bundle_spec(folder), vol, affine)


def test_a_folder_without_weights_or_config_is_refused(tmp_path):
    (tmp_path / "configs").mkdir()
    with pytest.raises(BundleRefused, match="not a MONAI bundle"):
        bundle_spec(tmp_path)
    (tmp_path / "configs" / "inference.json").write_text("{}")
    with pytest.raises(BundleRefused, match="no weights"):
        bundle_spec(tmp_path)


def test_registration_pins_files_and_refuses_a_changed_bundle(bundle_factory, tmp_path,
                                                              small_ct):
    vol, affine = small_ct
    folder = bundle_factory("spleen_ct_segmentation")
    registry = BundleRegistry(tmp_path / "models.json")
    entry = registry.register("spleen", folder)
    assert "models/model.pt" in entry["files"] and "configs/inference.json" in entry["files"]
    spec = registry.spec("spleen")
    assert spec.weights_sha256 == entry["weights_sha256"]
    propose(spec, vol, affine)

    config = folder / "configs" / "inference.json"
    config.write_text(config.read_text().replace('"a_min": -57', '"a_min": -58'))
    with pytest.raises(BundleRefused, match="changed since registration: "
                                            "configs/inference.json was modified"):
        registry.spec("spleen")
    registry.register("spleen", folder)     # the admin re-registers deliberately
    (folder / "scripts").mkdir()
    (folder / "scripts" / "evil.py").write_text("x = 1\n")
    with pytest.raises(BundleRefused, match="scripts/evil.py was added"):
        registry.spec("spleen")


def _add_script_transform(folder):
    """Insert a transform imported from the bundle's own scripts/ folder into its config."""
    path = folder / "configs" / "inference.json"
    config = json.loads(path.read_text())
    config["preprocessing"]["transforms"].insert(
        -1, {"_target_": "scripts.custom.Negate", "keys": "@image_key"})
    path.write_text(json.dumps(config))


def test_a_bundle_imports_transforms_from_its_own_scripts_folder(bundle_factory, small_ct,
                                                                  tmp_path):
    import sys

    from bundle_common import make_bundle

    vol, affine = small_ct
    folder = bundle_factory("spleen_ct_segmentation")
    _add_script_transform(folder)
    with pytest.raises(BundleRefused, match="imports scripts.custom.Negate but the bundle has "
                                            "no scripts/ folder"):
        propose(bundle_spec(folder), vol, affine)
    (folder / "scripts").mkdir()
    (folder / "scripts" / "__init__.py").write_text("")
    (folder / "scripts" / "custom.py").write_text(
        "from monai.transforms import MapTransform\n"
        "class Negate(MapTransform):\n"
        "    def __call__(self, data):\n"
        "        d = dict(data)\n"
        "        for key in self.keys:\n"
        "            d[key] = 1.0 - d[key]\n"
        "        return d\n")
    negated = propose(bundle_spec(folder), vol, affine)
    assert negated.labels.shape == vol.shape
    assert "scripts" not in sys.modules and "scripts.custom" not in sys.modules
    (tmp_path / "plain").mkdir()
    plain = propose(bundle_spec(make_bundle(tmp_path / "plain", "spleen_ct_segmentation")),
                    vol, affine)   # same weights (same seed), no script transform
    assert (negated.confidence != plain.confidence).any()   # the script transform ran
