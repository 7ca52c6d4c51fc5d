"""Click guidance for interactive MONAI bundles (DeepEdit): clicks -> guidance channels.

A DeepEdit network takes the image plus one *guidance channel per label* (``label_names`` of
the bundle, background included, in the config's order): each channel is zero except for a
Gaussian blob (normalised to 0..1) around every click given for that label. A positive click
on a structure is a point of that label; a negative click is a point of ``background``. The
bundle builds these channels with MONAI's DeepEdit transforms::

    OrientationGuidanceMultipleLabelDeepEditd   (the bundle's scripts/: points -> RAS axes)
    AddGuidanceFromPointsDeepEditd               (clicks of each label, scaled to the grid)
    Resized                                      (the image to the network's spatial_size)
    ResizeGuidanceMultipleLabelDeepEditd         (the points likewise)
    AddGuidanceSignalDeepEditd                   (Gaussian signal channels, concatenated)

annotrace keeps the bundle's own image transforms and MONAI's ``AddGuidanceSignalDeepEditd``
(its sigma, its channel order), and replaces the three *point* transforms by one exact step:
each click ``(k, j, i)`` on the source grid is carried to the preprocessed grid through the
affines MONAI tracked (source index -> LPS -> RAS -> inverse of the image's affine after
orientation and resizing), rounded to the nearest voxel. That needs no ``scripts/`` module and
is exact for any orientation, where scaling by the shape ratio (what the point transforms do)
assumes the orientation step was applied to the points too.

A bundle whose config carries guidance transforms of another kind (DeepGrow's
``AddGuidanceSignald``, custom click encodings) is refused with one line naming them.
Qt-free; torch and MONAI are imported only when a bundle runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.errors import BundleRefused

#: Markers of click-guidance transforms in a bundle config (``_target_`` substrings).
GUIDANCE_MARKERS = ("Guidance", "guidance", "DeepEdit", "ClickSignal", "Clicks")
#: The signal transform annotrace runs as the bundle configures it.
SIGNAL_TARGET = "AddGuidanceSignalDeepEditd"
#: Point transforms annotrace replaces by its affine mapping (see the module docstring).
POINT_TARGETS = ("AddGuidanceFromPointsDeepEditd", "ResizeGuidanceMultipleLabelDeepEditd",
                 "OrientationGuidanceMultipleLabelDeepEditd", "AddGuidanceFromPointsCustomd",
                 "ResizeGuidanceCustomd")
BACKGROUND = "background"


@dataclass(frozen=True)
class GuidanceClick:
    """A click at voxel ``(k, j, i)`` of the source grid, for label ``label`` of the bundle
    (``"background"`` for a negative click)."""

    kji: tuple[int, int, int]
    label: str


@dataclass(frozen=True)
class GuidancePlan:
    """How a bundle takes clicks.

    Attributes
    ----------
    guidance_key : str
        The data key the signal transform reads the points from.
    label_ref : object
        The config value of the label names (a dict, or an ``@reference`` to resolve).
    overrides : dict
        Top-level config keys rewritten without the replaced point transforms.
    replaced : tuple of str
        The point transforms annotrace replaced (for the record).
    """

    guidance_key: str
    label_ref: object
    overrides: dict
    replaced: tuple


def _target(node) -> str:
    return node.get("_target_", "") if isinstance(node, dict) and \
        isinstance(node.get("_target_"), str) else ""


def _short(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def config_nodes(node):
    """Every dict of a raw (unparsed) bundle config subtree, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from config_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from config_nodes(value)


def _without_points(node):
    """A copy of ``node`` with the replaced point transforms dropped from every list."""
    if isinstance(node, dict):
        return {k: _without_points(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_points(v) for v in node if _short(_target(v)) not in POINT_TARGETS]
    return node


def guidance_targets(raw: dict) -> list[str]:
    """Every ``_target_`` of the raw config that looks like a click-guidance transform."""
    return [t for t in (_target(n) for n in config_nodes(raw))
            if t and any(m in t for m in GUIDANCE_MARKERS)]


def plan_guidance(raw: dict, folder="bundle") -> GuidancePlan | None:
    """The click plan of a raw bundle config; None for a bundle that takes no clicks.

    Raises
    ------
    BundleRefused
        Guidance transforms annotrace cannot drive (named in the message).
    """
    targets = guidance_targets(raw)
    if not targets:
        return None
    unknown = sorted({_short(t) for t in targets} - set(POINT_TARGETS) - {SIGNAL_TARGET})
    signal = [n for n in config_nodes(raw) if _short(_target(n)) == SIGNAL_TARGET]
    if unknown or len(signal) != 1:
        what = ", ".join(unknown) if unknown else f"{len(signal)} {SIGNAL_TARGET} steps"
        raise BundleRefused(folder, f"interactive bundle: it needs click guidance of a kind "
                                    f"annotrace cannot build ({what}); DeepEdit-style "
                                    f"{SIGNAL_TARGET} bundles are supported")
    label_ref = None
    for node in config_nodes(raw):
        if _short(_target(node)) == "AddGuidanceFromPointsDeepEditd" and "label_names" in node:
            label_ref = node["label_names"]
    if label_ref is None:
        label_ref = raw.get("label_names")
    if label_ref is None:
        raise BundleRefused(folder, "interactive bundle without label_names: the guidance "
                                    "channels cannot be ordered")
    overrides = {}
    for key, value in raw.items():
        stripped = _without_points(value)
        if stripped != value:
            overrides[key] = stripped
    return GuidancePlan(str(signal[0].get("guidance", "guidance")), label_ref, overrides,
                        tuple(sorted({_short(t) for t in targets
                                      if _short(t) in POINT_TARGETS})))


def requires_clicks(spec) -> bool:
    """True when a bundle spec takes click guidance (reads its config; no torch import)."""
    from models.bundle import read_raw_config

    if getattr(spec, "kind", "") != "bundle" or getattr(spec, "folder", None) is None:
        return False
    return bool(guidance_targets(read_raw_config(spec.folder)))


def clicks_by_label(clicks, label_names, label: str | None = None) -> dict[str, list]:
    """Group clicks by bundle label, in the channel order of ``label_names``.

    Parameters
    ----------
    clicks : iterable
        :class:`GuidanceClick` (explicit label), or any object with ``kji`` and ``positive``
        (:class:`models.refine.Click`): positive -> ``label``, negative -> background.
    label_names : list of str
        The bundle's label names in channel order.
    label : str, optional
        The structure positive clicks belong to; default: the first non-background label.
    """
    names = list(label_names)
    foreground = [n for n in names if n.lower() != BACKGROUND]
    target = label or (foreground[0] if foreground else None)
    background = next((n for n in names if n.lower() == BACKGROUND), None)
    out: dict[str, list] = {n: [] for n in names}
    for click in clicks:
        if isinstance(click, GuidanceClick):
            name = click.label
        else:
            name = target if click.positive else background
        if name not in out:
            raise BundleRefused("bundle", f"click for label {name!r}: the bundle's labels are "
                                          + ", ".join(names))
        out[name].append(tuple(int(v) for v in click.kji))
    return out


def map_points(points_kji, affine_lps, affine_ras_net, shape_net) -> list[list[int]]:
    """Source voxels ``(k, j, i)`` -> voxels ``[i', j', k']`` of a preprocessed MONAI grid.

    Parameters
    ----------
    points_kji : list of (k, j, i)
    affine_lps : (4, 4)
        Source index ``(i, j, k)`` -> LPS mm.
    affine_ras_net : (4, 4)
        The preprocessed image's index -> RAS (``MetaTensor.affine``).
    shape_net : (I', J', K')
        The preprocessed spatial shape; points are clipped into it.
    """
    from models.spatial import LPS_TO_RAS

    if not len(points_kji):
        return []
    kji = np.asarray(points_kji, float).reshape(-1, 3)
    ijk1 = np.column_stack([kji[:, ::-1], np.ones(len(kji))])
    src_to_net = np.linalg.inv(np.asarray(affine_ras_net, float)) @ LPS_TO_RAS @ \
        np.asarray(affine_lps, float)
    net = np.rint(ijk1 @ src_to_net[:3].T).astype(int)
    net = np.clip(net, 0, np.asarray(shape_net) - 1)
    return net.tolist()


def propose_with_clicks(model, image, affine_lps, clicks, label: str | None = None,
                        progress=None, device=None, **options):
    """Run a click-guided bundle (DeepEdit) on one image with the user's clicks.

    Parameters
    ----------
    model : ModelSpec, bundle folder, registered name, or a loaded BundleModel
    image : ndarray (k, j, i)
    affine_lps : (4, 4)
    clicks : list
        :class:`GuidanceClick` or :class:`models.refine.Click` (see :func:`clicks_by_label`).
        At least one click.
    label : str, optional
        Which structure positive :class:`~models.refine.Click` s mean.
    **options
        Passed to the bundle (``overrides={"spatial_size": [...]}`` for tiny test inputs).

    Returns
    -------
    Proposal
        On the input's exact grid, like :func:`models.run.propose`.
    """
    from models.run import _spec

    runnable = model if hasattr(model, "propose") else _spec(model).load(device=device)
    clicks = list(clicks or [])
    if not clicks:
        raise BundleRefused(getattr(runnable, "folder", "bundle"),
                            "interactive bundle: give at least one click (positive on the "
                            "structure or negative on background)")
    return runnable.propose(image, affine_lps, progress=progress, clicks=clicks, label=label,
                            **options)

