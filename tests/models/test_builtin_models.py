"""Built-in models on the real demo study (Colin27): deepbet through MONAI, brainmask-unet."""

import nibabel as nib
import numpy as np
import pytest

from models.registry import builtin_models, resolve, sha256_file
from models.run import propose
from models.train_brainmask import dice, hemisphere_masks


def _load(path):
    img = nib.load(str(path))
    return np.asarray(img.dataobj).T, np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine


@pytest.fixture(scope="module")
def colin(colin_t1, colin_brain):
    image, affine = _load(colin_t1)
    brain, _ = _load(colin_brain)
    return image, affine, brain > 0


def test_registry_lists_both_builtins_with_labels_codes_and_weight_hashes():
    specs = {s.name: s for s in builtin_models()}
    assert set(specs) == {"deepbet", "brainmask-unet"}
    for spec in specs.values():
        assert [(s.value, s.name, s.code) for s in spec.segments] == [(1, "brain", "12738006")]
        assert spec.modality == "MR"
        assert spec.weights_sha256 == (sha256_file(spec.weights[0]) if len(spec.weights) == 1
                                       else spec.weights_sha256)
    assert len(specs["deepbet"].weights) == 2
    assert all(p.is_file() for p in specs["deepbet"].weights)


@pytest.mark.slow
def test_deepbet_through_monai_matches_deepbet_and_the_colin27_reference(colin, colin_t1):
    image, affine, reference = colin
    proposal = propose("deepbet", image, affine)
    brain = proposal.labels == 1
    assert proposal.labels.shape == image.shape
    assert dice(brain, reference) > 0.93          # measured 0.9364
    # deepbet's own runner on the same file (canonical RAS already, so axes agree)
    from deepbet.bet import BrainExtraction

    _, mask, _ = BrainExtraction(no_gpu=True).run(nib.load(str(colin_t1)))
    assert dice(brain, np.asarray(mask.dataobj).T > 0) > 0.99   # measured 0.9974
    assert proposal.model_id == "deepbet@1.0.2"
    assert proposal.weights_sha256 == resolve("deepbet").weights_sha256


def test_brainmask_unet_on_the_held_out_hemisphere(colin):
    image, affine, reference = colin
    proposal = propose("brainmask-unet", image, affine)
    _, held_out = hemisphere_masks(image.shape, affine)
    brain = proposal.labels == 1
    assert dice(brain[held_out], reference[held_out]) > 0.95   # measured, see docs/models.md
    summary = proposal.summary()
    assert 0.9 < summary["segments"]["brain"]["mean_confidence"] <= 1.0
    assert proposal.weights_sha256 == sha256_file(resolve("brainmask-unet").weights[0])


def test_output_lands_on_the_input_grid_whatever_its_orientation(colin):
    """The same head stored with i flipped (and the affine saying so) gives the same labels."""
    image, affine, _ = colin
    flipped = image[:, :, ::-1]
    aff = affine.copy()
    aff[:3, 3] = affine[:3, :3] @ [image.shape[2] - 1, 0, 0] + affine[:3, 3]
    aff[:3, 0] = -affine[:3, 0]
    a = propose("brainmask-unet", image, affine).labels
    b = propose("brainmask-unet", flipped, aff).labels[:, :, ::-1]
    assert (a == b).mean() > 0.999


def test_a_non_3d_input_is_refused_with_the_model_name():
    from models.errors import ModelError

    with pytest.raises(ModelError, match="brainmask-unet: needs a 3D volume"):
        propose("brainmask-unet", np.zeros((4, 4)), np.eye(4))


def test_slab_resampling_equals_monais_inverse_of_the_preprocessing(colin):
    """brainmask-unet maps its softmax back slab by slab; MONAI's inverse is the reference."""
    import torch
    from monai.data import MetaTensor

    from models.brainmask_unet import preprocessing
    from models.spatial import resample_to_source, to_metatensor

    image, affine, _ = colin
    oblique = np.eye(4)
    oblique[:2, :2] = [[np.cos(0.2), -np.sin(0.2)], [np.sin(0.2), np.cos(0.2)]]
    affine = oblique @ affine @ np.diag([1.0, -1.0, 1.2, 1.0])
    pre = preprocessing()
    x = pre(to_metatensor(image[::2, ::2, ::2], affine))
    values = torch.rand((1,) + tuple(x.shape[1:]), generator=torch.Generator().manual_seed(0))
    ref = pre.inverse(MetaTensor(values.clone(), meta=x.meta,
                                 applied_operations=x.applied_operations)).numpy()[0].T
    ours = resample_to_source(values, np.asarray(x.affine), affine, image[::2, ::2, ::2].shape)
    assert np.abs(ours[0] - ref).max() < 1e-4


def test_deepbet_refuses_a_constant_image_with_a_clear_message():
    from models.errors import ModelError

    with pytest.raises(ModelError, match="deepbet: the image is constant"):
        propose("deepbet", np.full((16, 16, 16), 7, np.int16), np.eye(4))
