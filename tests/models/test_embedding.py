"""A case's embedding: the network's coarsest feature map, averaged over sliding windows."""

import numpy as np
import pytest
import torch
from monai.inferers import SlidingWindowInferer
from monai.networks.nets import UNet

from models.embedding import network_embedding


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return UNet(3, 1, 2, channels=(4, 8, 16), strides=(2, 2), num_res_units=1,
                norm="batch").eval()


def _blob(seed: int, invert: bool = False) -> torch.Tensor:
    """A bright ellipsoid with a darker core in noise (or its contrast inverted inside)."""
    rng = np.random.default_rng(seed)
    k, j, i = np.mgrid[:24, :32, :32]
    r = ((k - 12) / 9) ** 2 + ((j - 16) / 12) ** 2 + ((i - 16) / 12) ** 2
    x = np.where(r < 1, 0.8, 0.05) - np.where(r < 0.3, 0.4, 0.0)
    if invert:
        x = np.where(r < 1, 1.0 - x, x)
    x = x + rng.normal(0, 0.02, x.shape)
    return torch.from_numpy(x.astype(np.float32))[None, None]


def test_embedding_has_the_bottleneck_channels_and_separates_a_shifted_domain(net):
    inferer = SlidingWindowInferer(roi_size=(16, 16, 16), sw_batch_size=2, overlap=0.25)
    base = network_embedding(net, _blob(0), inferer)
    # the last output at this UNet's coarsest scale (1/4): its skip connection, the 8
    # encoder channels concatenated with the 16 of the bottom layer
    assert base.shape == (24,)
    same_domain = network_embedding(net, _blob(1), inferer)
    shifted = network_embedding(net, _blob(2, invert=True), inferer)
    assert np.linalg.norm(shifted - base) > 3 * np.linalg.norm(same_domain - base)
    # hooks are removed: the network runs unobserved afterwards
    assert not any(m._forward_hooks for m in net.modules())


def test_embedding_refuses_a_network_without_hooks():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        network_embedding(lambda x: x, _blob(0), SlidingWindowInferer(roi_size=(16, 16, 16)))


def test_case_embedding_describes_a_case_as_the_registry_model_proposes_on_it(colin_t1):
    """The built-in brainmask-unet through its own propose (preprocessing, sliding window):
    the bottleneck channels, the same description for the same case, a contrast-inverted head
    far from it, and no hook left behind; a TorchScript model (deepbet) is refused."""
    import nibabel as nib

    from models.embedding import case_embedding
    from models.errors import ModelError
    from models.run import _spec

    img = nib.load(str(colin_t1))
    head = np.asarray(img.dataobj).T[::3, ::3, ::3].astype(np.float32)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine @ np.diag([3.0, 3.0, 3.0, 1.0])
    runnable = _spec("brainmask-unet").load(device="cpu")
    base = case_embedding(runnable, head, affine)
    assert base.shape == (64 + 32,) and np.isfinite(base).all()
    np.testing.assert_allclose(case_embedding(runnable, head, affine), base, rtol=1e-5)
    noisy = head + np.random.default_rng(0).normal(0, 0.02 * head.max(), head.shape)
    inside = head > np.percentile(head, 60)
    inverted = np.where(inside, head.max() - head, head).astype(np.float32)
    near = np.linalg.norm(case_embedding(runnable, noisy.astype(np.float32), affine) - base)
    far = np.linalg.norm(case_embedding(runnable, inverted, affine) - base)
    assert far > 3 * near
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in runnable.net.modules())
    with pytest.raises(ModelError, match="deepbet: has no PyTorch network"):
        case_embedding(_spec("deepbet").load(device="cpu"), head, affine)
