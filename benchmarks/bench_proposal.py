"""Proposal speed and memory: annotrace's CPU path vs MONAI's plain SlidingWindowInferer.

    .venv/bin/python benchmarks/bench_proposal.py [--network spleen|brainmask|both]
    .venv/bin/python benchmarks/bench_proposal.py --interactive   # NoC and click latency
    .venv/bin/python benchmarks/bench_proposal.py --quality       # Dice on Colin27

Volume: 256 x 256 x 160 voxels (i, j, k): the real Colin27 T1 head (app/demo/ch2.nii.gz)
placed in a 256 x 256 x 160 grid of air, intensities scaled to [0, 1].
Networks (each timed in the same run, in a fresh process per variant so peak memory is
its own):

* ``spleen``: the spleen_ct_segmentation bundle's UNet (its real network_def, 96^3 windows,
  overlap 0.5, sw_batch_size 4; seeded random weights -- the Model Zoo weights are not here);
* ``brainmask``: annotrace's trained brainmask-unet (64^3 windows, overlap 0.25).

Reference: ``SlidingWindowInferer(...)(x, net)`` under ``torch.no_grad`` (PyTorch eager).
Ours: :func:`models.sliding.run_inferer` (inference_mode, channels-last, constant windows
computed once), and the same with ``backend="openvino"`` -- the viewer's path (backend
``auto``); its one-time conversion is reported apart: a process pays it once per model.
Printed: the minimum seconds of ``--repeats`` alternating runs (the machine may be
shared), ratios, argmax agreement, windows run/skipped, and peak resident memory
added by the call relative to the input volume's float32 size. Also the whole
``brainmask-unet`` proposal (pre/post-processing included) peak memory per volume size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHAPE_KJI = (160, 256, 256)


def make_volume() -> np.ndarray:
    import nibabel as nib

    head = np.asarray(nib.load(str(REPO / "app/demo/ch2.nii.gz")).dataobj).T  # (181, 217, 181)
    vol = np.zeros(SHAPE_KJI, np.float32)
    k0 = (head.shape[0] - SHAPE_KJI[0]) // 2
    crop = head[k0:k0 + SHAPE_KJI[0]]
    j0, i0 = (SHAPE_KJI[1] - crop.shape[1]) // 2, (SHAPE_KJI[2] - crop.shape[2]) // 2
    vol[:, j0:j0 + crop.shape[1], i0:i0 + crop.shape[2]] = crop / 254.0
    return vol


def build(network: str):
    import torch

    if network == "spleen":
        from monai.bundle import ConfigParser
        from monai.inferers import SlidingWindowInferer

        parser = ConfigParser()
        parser.read_config(str(REPO / "tests/data/bundles/spleen_ct_segmentation/configs/"
                                      "inference.json"))
        torch.manual_seed(0)
        net = parser.get_parsed_content("network_def").eval()
        return net, SlidingWindowInferer(roi_size=(96, 96, 96), sw_batch_size=4, overlap=0.5)
    from models.brainmask_unet import BrainmaskUNet, inferer
    from models.registry import resolve

    return BrainmaskUNet(resolve("brainmask-unet"), device="cpu").net, inferer()


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _timed(network: str, repeats: int, out: str, queue) -> None:
    """Plain and ours alternately, ``repeats`` times each, in one process (same conditions)."""
    import copy

    import torch

    from models.sliding import run_inferer

    vol = make_volume()
    net, inf = build(network)
    ours_net = copy.deepcopy(net)   # the fast path converts its network's layout in place
    x = torch.from_numpy(vol.T.copy())[None, None]  # (1, 1, i, j, k)
    window = torch.rand((1, 1) + tuple(inf.roi_size))
    with torch.no_grad():  # warm-up: one-time allocations and layout conversion not timed
        net(window)
    run_inferer(type(inf)(roi_size=inf.roi_size, sw_batch_size=1), window, ours_net)
    times = {"plain": [], "ours": [], "openvino": []}
    t0 = time.perf_counter()   # one-time conversion, paid once per model per process
    run_inferer(type(inf)(roi_size=inf.roi_size, sw_batch_size=1), window, net,
                backend="openvino")
    convert_s = time.perf_counter() - t0
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            plain = inf(x, net)
        times["plain"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours, pred = run_inferer(inf, x, ours_net, fast=True)
        times["ours"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ov_out, _ = run_inferer(inf, x, net, fast=True, backend="openvino")
        times["openvino"].append(time.perf_counter() - t0)
    a, b = plain[0].argmax(0), ours[0].argmax(0)
    queue.put({"times": times, "agreement": float((a == b).float().mean()),
               "agreement_openvino": float((a == ov_out[0].argmax(0)).float().mean()),
               "openvino_convert_s": convert_s,
               "max_abs_diff": float((plain - ours).abs().max()),
               "windows_run": pred.run_windows, "windows_skipped": pred.skipped_windows})


def _memory(network: str, variant: str, out: str, queue) -> None:
    """Peak resident memory one call adds, in a fresh process (ru_maxrss is per process)."""
    import torch

    from models.sliding import run_inferer

    vol = make_volume()
    net, inf = build(network)
    x = torch.from_numpy(vol.T.copy())[None, None]
    with torch.no_grad():
        net(torch.zeros((1, 1) + tuple(inf.roi_size)))
    if variant == "openvino":  # the one-time conversion is not part of a proposal
        run_inferer(type(inf)(roi_size=inf.roi_size, sw_batch_size=1),
                    torch.zeros((1, 1) + tuple(inf.roi_size)), net, backend="openvino")
    base = _rss_mb()
    if variant == "plain":
        with torch.no_grad():
            inf(x, net)
    else:
        run_inferer(inf, x, net, fast=True,
                    backend="openvino" if variant == "openvino" else "torch")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"peak_added_mb": max(0.0, peak - base)})


def _whole_proposal(out: str, queue) -> None:
    from models.run import propose

    vol = (make_volume() * 254).astype(np.uint8).astype(np.int16)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    from models.registry import resolve

    model = resolve("brainmask-unet").load(device="cpu")
    base = _rss_mb()
    t0 = time.perf_counter()
    proposal = propose(model, vol, affine)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"seconds": seconds, "peak_added_mb": max(0.0, peak - base),
               "input_mb": vol.nbytes / 2**20, "labels": int(proposal.labels.sum())})


def _run(target, *args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def bench(network: str, repeats: int) -> dict:
    volume_mb = np.prod(SHAPE_KJI) * 4 / 2**20
    timed = _run(_timed, network, repeats, "")
    plain_mem = _run(_memory, network, "plain", "")
    ours_mem = _run(_memory, network, "ours", "")
    ov_mem = _run(_memory, network, "openvino", "")
    t_plain, t_ours = min(timed["times"]["plain"]), min(timed["times"]["ours"])
    t_ov = min(timed["times"]["openvino"])
    ratios = sorted(p / o for p, o in zip(timed["times"]["plain"], timed["times"]["ours"]))
    return {
        "network": network, "shape_ijk": list(SHAPE_KJI[::-1]), "repeats": repeats,
        "plain_s_min": round(t_plain, 3), "ours_s_min": round(t_ours, 3),
        "speedup_of_minima": round(t_plain / t_ours, 2),
        "speedup_median_pair": round(ratios[len(ratios) // 2], 2),
        "argmax_agreement": timed["agreement"], "max_abs_logit_diff": timed["max_abs_diff"],
        "openvino_s_min": round(t_ov, 3), "openvino_speedup_of_minima": round(t_plain / t_ov, 2),
        "openvino_argmax_agreement": timed["agreement_openvino"],
        "openvino_one_time_convert_s": round(timed["openvino_convert_s"], 2),
        "windows_run": timed["windows_run"], "windows_skipped": timed["windows_skipped"],
        "plain_peak_per_volume": round(plain_mem["peak_added_mb"] / volume_mb, 2),
        "ours_peak_per_volume": round(ours_mem["peak_added_mb"] / volume_mb, 2),
        "openvino_peak_per_volume": round(ov_mem["peak_added_mb"] / volume_mb, 2),
    }


def quality() -> dict:
    """Dice of both built-in models on Colin27 vs ch2bet > 0 (whole head, held-out half)."""
    import nibabel as nib

    from models.run import propose
    from models.train_brainmask import dice, hemisphere_masks

    img = nib.load(str(REPO / "app/demo/ch2.nii.gz"))
    image = np.asarray(img.dataobj).T
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine
    truth = np.asarray(nib.load(str(REPO / "app/demo/ch2bet.nii.gz")).dataobj).T > 0
    train_half, held_out = hemisphere_masks(image.shape, affine)
    out = {}
    for name in ("deepbet", "brainmask-unet"):
        brain = propose(name, image, affine).labels == 1
        out[name] = {"dice_whole": round(dice(brain, truth), 4),
                     "dice_held_out_right_hemisphere": round(dice(brain[held_out],
                                                                  truth[held_out]), 4),
                     "dice_training_left_hemisphere": round(dice(brain[train_half],
                                                                 truth[train_half]), 4)}
    return out


def interactive() -> dict:
    """NoC@90/95 on Colin27 vs ch2bet for both built-in models, and click latency at 256^3."""
    import nibabel as nib

    from models.clicker import next_click, noc
    from models.refine import refine
    from models.run import propose

    img = nib.load(str(REPO / "app/demo/ch2.nii.gz"))
    image = np.asarray(img.dataobj).T
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine
    truth = np.asarray(nib.load(str(REPO / "app/demo/ch2bet.nii.gz")).dataobj).T > 0
    out = {}
    for name in ("deepbet", "brainmask-unet"):
        proposal = propose(name, image, affine)
        result = noc(proposal.labels, image, truth, targets=(0.90, 0.95), max_clicks=20)
        out[name] = {"NoC@90": result["noc"]["90"], "NoC@95": result["noc"]["95"],
                     "dice_start": result["dice_curve"][0],
                     "dice_final": result["dice_curve"][-1],
                     "clicks_taken": len(result["dice_curve"]) - 1}
        if name == "deepbet":
            labels = proposal.labels
    # latency of one click on a 256^3 volume (the head padded into a cube of air)
    cube = np.zeros((256, 256, 256), image.dtype)
    lab = np.zeros((256, 256, 256), np.uint8)
    ref = np.zeros((256, 256, 256), bool)
    sl = tuple(slice((256 - n) // 2, (256 - n) // 2 + n) for n in image.shape)
    cube[sl], lab[sl], ref[sl] = image, labels, truth
    latencies = []
    history = []
    for _ in range(10):
        click = next_click(lab == 1, ref)
        t0 = time.perf_counter()
        refine(lab, cube, click, history=tuple(history)).apply(lab)
        latencies.append(time.perf_counter() - t0)
        history.append(click)
    out["click_latency_256cube_s"] = {"max": round(max(latencies), 3),
                                      "median": round(sorted(latencies)[5], 3)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="proposal speed: ours vs MONAI plain")
    parser.add_argument("--network", choices=("spleen", "brainmask", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--interactive", action="store_true",
                        help="only NoC@90/95 (simulated clicker) and click latency at 256^3")
    parser.add_argument("--quality", action="store_true",
                        help="only the Dice of the built-in models on Colin27 vs ch2bet")
    args = parser.parse_args(argv)
    if args.quality:
        print(json.dumps(quality()))
        return 0
    if args.interactive:
        print(json.dumps(interactive()))
        return 0
    networks = ["spleen", "brainmask"] if args.network == "both" else [args.network]
    for network in networks:
        print(json.dumps(bench(network, args.repeats)), flush=True)
    whole = _run(_whole_proposal, "")
    print(json.dumps({"whole_proposal": "brainmask-unet", "seconds": round(whole["seconds"], 3),
                      "peak_added_mb": round(whole["peak_added_mb"], 1),
                      "input_mb_int16": round(whole["input_mb"], 1),
                      "peak_per_input_size": round(whole["peak_added_mb"] / whole["input_mb"],
                                                   2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
