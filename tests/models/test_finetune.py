"""Fine-tuning a micro-model from approved labels: split, training, held-out Dice, weights."""

import nibabel as nib
import numpy as np
import pytest

from models.errors import ModelError
from models.finetune import Case, fine_tune, spec_for, split_cases
from models.registry import resolve, sha256_file
from models.run import propose


def test_the_split_is_deterministic_disjoint_and_keeps_a_training_case():
    ids = [f"case{n}" for n in range(10)]
    train, val = split_cases(ids, 0.2, seed=3)
    assert (train, val) == split_cases(list(reversed(ids)), 0.2, seed=3)
    assert len(val) == 2 and not set(train) & set(val) and set(train) | set(val) == set(ids)
    assert split_cases(["only"], 0.5, 0) == (["only"], [])
    assert split_cases(["a", "b"], 0.1, 0)[1] != []


@pytest.fixture(scope="module")
def cases(colin_t1, colin_brain):
    img = nib.load(str(colin_t1))
    image = np.asarray(img.dataobj).T[::2, ::2, ::2]
    mask = (np.asarray(nib.load(str(colin_brain)).dataobj).T > 0)[::2, ::2, ::2]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    mirrored = affine.copy()
    mirrored[:3, 0] = -affine[:3, 0]
    mirrored[:3, 3] = affine[:3, :3] @ [image.shape[2] - 1, 0, 0] + affine[:3, 3]
    darker = (255 * (image / 255.0) ** 1.3).astype(np.float32)
    return [Case("a", image, affine, mask),
            Case("b", image[:, :, ::-1], mirrored, mask[:, :, ::-1]),
            Case("c", darker, affine, mask)]


def test_fine_tuning_writes_new_weights_and_measures_held_out_cases(cases, tmp_path):
    out = tmp_path / "ft.pt"
    steps = []
    result = fine_tune("brainmask-unet", cases, out, steps=12, holdout=0.34, seed=1,
                       progress=lambda d, t, s: steps.append(d))
    parent = resolve("brainmask-unet")
    assert steps == list(range(1, 13))
    assert result.parent_model_id == "brainmask-unet@1"
    assert result.parent_weights_sha256 == parent.weights_sha256
    assert result.weights_sha256 == sha256_file(out) != parent.weights_sha256
    assert len(result.validation_cases) == 1 and len(result.training_cases) == 2
    assert set(result.validation_dice) == set(result.validation_cases)
    assert result.mean_validation_dice > 0.9
    # the parent, measured on the same held-out case before training, as a proposal would
    (held_out,) = result.validation_cases
    case = next(c for c in cases if c.case_id == held_out)
    parent_labels = propose("brainmask-unet", case.image, case.affine_lps).labels == 1
    both = np.logical_and(parent_labels, case.mask).sum()
    expected = 2 * both / (parent_labels.sum() + case.mask.astype(bool).sum())
    assert result.parent_validation_dice == {held_out: pytest.approx(expected, abs=1e-4)}
    spec = spec_for(result, "brainmask-site", "2")
    proposal = propose(spec, cases[0].image, cases[0].affine_lps)
    assert proposal.model_id == "brainmask-site@2"
    assert proposal.weights_sha256 == result.weights_sha256


def test_only_state_dict_models_can_be_fine_tuned(cases, tmp_path):
    with pytest.raises(ModelError, match="deepbet: fine-tuning is available"):
        fine_tune("deepbet", cases, tmp_path / "x.pt", steps=1)


def test_freeze_norm_keeps_batch_norm_statistics_and_still_trains():
    import torch
    from monai.networks.nets import UNet

    from models.training import train_segmentation

    torch.manual_seed(0)
    net = UNet(3, 1, 2, channels=(4, 8), strides=(2,), num_res_units=0, norm="batch")
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    before = [m.running_mean.clone() for m in norms]
    weights = [m.weight.detach().clone() for m in norms]
    x = torch.rand(2, 1, 8, 8, 8) * 5 + 3          # statistics unlike the initial ones
    y = (x > 5.5).long()
    train_segmentation(net, lambda step: (x, y), steps=3, lr=1e-2, freeze_norm=True)
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, norms))
    assert any(not torch.equal(w, m.weight) for w, m in zip(weights, norms))
    train_segmentation(net, lambda step: (x, y), steps=1, lr=1e-2)
    assert any(not torch.equal(a, m.running_mean) for a, m in zip(before, norms))


def test_train_segmentation_penalty_holds_weights_back():
    """A penalty pulling towards the starting weights (L2-SP) shortens the distance the
    weights travel; the recorded losses are the segmentation loss alone."""
    import torch
    from monai.networks.nets import UNet

    from models.training import train_segmentation

    x = torch.rand(2, 1, 8, 8, 8)
    y = (x > 0.5).long()

    def travelled(penalty_weight):
        torch.manual_seed(0)
        net = UNet(3, 1, 2, channels=(4, 8), strides=(2,), num_res_units=0, norm="batch")
        start = [p.detach().clone() for p in net.parameters()]

        def pull(network):
            return penalty_weight * sum(((p - p0) ** 2).sum()
                                        for p, p0 in zip(network.parameters(), start))

        result = train_segmentation(net, lambda step: (x, y), steps=30, lr=1e-2, seed=0,
                                    penalty=pull if penalty_weight else None)
        distance = float(sum(((p.detach() - p0) ** 2).sum()
                             for p, p0 in zip(net.parameters(), start)))
        return distance, result.losses

    free, free_losses = travelled(0.0)
    held, held_losses = travelled(100.0)
    assert held < 0.5 * free
    assert free_losses[0] == held_losses[0]  # the first loss, before any step, has no penalty
