"""Sliding-window inference: progress per window batch, cancellation, and the fast path."""

import pytest
import torch
from monai.inferers import SlidingWindowInferer
from monai.networks.nets import UNet

from models.errors import Cancelled
from models.sliding import count_window_batches, run_inferer


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return UNet(3, 1, 2, channels=(4, 8, 16), strides=(2, 2), num_res_units=1,
                norm="batch").eval()


@pytest.fixture(scope="module")
def volume():
    """A 1-channel volume, mostly constant (air = 0) with a noisy object in one corner."""
    x = torch.zeros(1, 1, 40, 48, 56)
    x[0, 0, 2:18, 3:20, 4:22] = torch.rand(16, 17, 18, generator=torch.Generator().manual_seed(1))
    return x


def test_progress_reports_every_window_batch_and_the_count_is_known_in_advance(net, volume):
    inferer = SlidingWindowInferer(roi_size=(16, 16, 16), sw_batch_size=3, overlap=0.25)
    seen = []
    run_inferer(inferer, volume, net, progress=lambda d, t, s: seen.append((d, t)), fast=False)
    total = count_window_batches(volume.shape[2:], (16, 16, 16), 0.25, 3)
    assert seen == [(n, total) for n in range(total + 1)]


def test_fast_path_gives_the_same_output_and_skips_constant_windows(net, volume):
    inferer = SlidingWindowInferer(roi_size=(16, 16, 16), sw_batch_size=4, overlap=0.25)
    plain, p_plain = run_inferer(inferer, volume, net, fast=False)
    fast, p_fast = run_inferer(inferer, volume, net, fast=True)
    assert p_fast.skipped_windows > 0
    assert p_fast.run_windows + p_fast.skipped_windows == p_plain.run_windows
    assert torch.allclose(plain, fast, atol=1e-5)
    assert (plain.argmax(1) == fast.argmax(1)).all()


def test_a_progress_callback_cancels_at_the_next_window_batch(net, volume):
    inferer = SlidingWindowInferer(roi_size=(16, 16, 16), sw_batch_size=1, overlap=0.0)
    calls = []

    def stop_after_two(done, total, stage):
        calls.append(done)
        if done == 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        run_inferer(inferer, volume, net, progress=stop_after_two)
    assert calls == [0, 1, 2]
    assert count_window_batches(volume.shape[2:], (16, 16, 16), 0.0, 1) > 2


def test_window_count_matches_monai_for_odd_shapes():
    for shape, roi, overlap, batch in [((31, 17, 64), (16, 16, 16), 0.5, 4),
                                       ((8, 8, 8), (16, 16, 16), 0.25, 1)]:
        calls = []
        inferer = SlidingWindowInferer(roi_size=roi, sw_batch_size=batch, overlap=overlap)
        inferer(torch.zeros((1, 1) + shape), lambda x: (calls.append(1), x)[1])
        assert count_window_batches(shape, roi, overlap, batch) == len(calls)


def test_openvino_backend_gives_the_same_output_and_reports_progress(net, volume):
    inferer = SlidingWindowInferer(roi_size=(16, 16, 16), sw_batch_size=3, overlap=0.25)
    plain, _ = run_inferer(inferer, volume, net, fast=False)
    seen = []
    ov, _ = run_inferer(inferer, volume, net, backend="openvino",
                        progress=lambda d, t, s: seen.append(d))
    assert torch.allclose(plain, ov, atol=1e-5)
    assert seen[-1] == count_window_batches(volume.shape[2:], (16, 16, 16), 0.25, 3)


def test_auto_backend_uses_openvino_where_it_converts(net, volume):
    from models.openvino_backend import CompiledNetwork

    inferer = SlidingWindowInferer(roi_size=(16, 16, 16), sw_batch_size=4, overlap=0.25)
    plain, _ = run_inferer(inferer, volume, net, fast=False)
    auto, predictor = run_inferer(inferer, volume, net, backend="auto")
    assert isinstance(predictor.network, CompiledNetwork)
    assert torch.allclose(plain, auto, atol=1e-5)


def test_auto_backend_falls_back_to_torch_and_does_not_retry_a_failed_conversion(volume):
    import models.openvino_backend as ov_backend

    traced = []  # shared with the copy the converter traces

    class NotTraceable(torch.nn.Module):
        """A network whose conversion fails (as some bundles' networks do)."""

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)

        def forward(self, x):
            if torch.jit.is_tracing():
                traced.append(1)
                raise RuntimeError("cannot trace this network")
            return self.conv(x)

    model = NotTraceable().eval()
    inferer = SlidingWindowInferer(roi_size=(16, 16, 16), sw_batch_size=4, overlap=0.25)
    plain, _ = run_inferer(inferer, volume, model, fast=False)
    for _ in range(2):
        auto, predictor = run_inferer(inferer, volume, model, backend="auto")
        assert predictor.network is model
        assert torch.allclose(plain, auto, atol=1e-5)
    assert len(traced) == 1
    with pytest.raises(Exception, match="cannot trace"):  # explicit openvino: the error shows
        run_inferer(inferer, volume, model, backend="openvino")
    assert ov_backend.available()
