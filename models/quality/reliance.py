"""How much readers rely on model proposals: what they keep, draw and remove, per reader.

Clinicians who correct AI contours come to tolerate more of their errors over time
(automation bias). The per-voxel provenance of every saved version says which labelled voxels
came unchanged from an accepted proposal (sources ``model:<id>@sha256:<hash>``) and which the
reader drew (``user:<id>``); the model's output stored on the case adds what the reader
removed. Summed up per reader -- the share of their labelled voxels taken over unchanged, the
Dice between their version and the proposal, the cases they left as proposed, and the same for
the earlier and the later half of their cases -- these show a lead which readers check
proposals and whether someone checks less and less.

Only versions that took voxels from a proposal count: a reader who drew a case from scratch
has nothing to rely on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

MODEL_PREFIX = "model:"
USER_PREFIX = "user:"
#: a version at least this close (Dice) to the proposal counts as "left as proposed"
AS_PROPOSED_DICE = 0.999
#: below this many cases a reader's earlier and later halves are not compared
MIN_CASES_FOR_TREND = 4


def proposal_sources(legend: dict) -> dict[int, str]:
    """``{provenance code: source}`` of a legend's accepted-proposal sources."""
    return {int(c): str(s) for c, s in (legend or {}).items()
            if str(s).startswith(MODEL_PREFIX)}


def source_model(source: str) -> tuple[str, str]:
    """``(model id, weights sha256)`` of a ``model:<id>@sha256:<hash>`` source."""
    body = source[len(MODEL_PREFIX):]
    model_id, _, digest = body.rpartition("@sha256:")
    return (model_id, digest) if model_id else (body, "")


@dataclass(frozen=True)
class VersionReliance:
    """What one saved version took from a proposal (voxel counts on the case grid).

    ``voxels``: labelled voxels; ``from_proposal``: of those, taken over unchanged from an
    accepted proposal; ``drawn``: drawn (or redrawn) by a reader. With the proposal itself:
    ``proposal_voxels``, ``dice_to_proposal`` (the version against the proposal, over the
    structures the model segments), ``removed`` and ``added`` (proposal voxels the reader
    erased and voxels they added, as shares of the proposal's voxels).
    """

    voxels: int
    from_proposal: int
    drawn: int
    proposal_voxels: int | None = None
    dice_to_proposal: float | None = None
    removed: float | None = None
    added: float | None = None

    @property
    def proposal_share(self) -> float:
        """Share of the version's labelled voxels taken over unchanged from the proposal."""
        return self.from_proposal / self.voxels if self.voxels else 0.0

    @property
    def as_proposed(self) -> bool | None:
        """True when the version is the proposal (None when the proposal is not known)."""
        if self.dice_to_proposal is None:
            return None
        return self.dice_to_proposal >= AS_PROPOSED_DICE

    def as_json(self) -> dict:
        return {**asdict(self), "proposal_share": self.proposal_share,
                "as_proposed": self.as_proposed}


def version_reliance(labelled: np.ndarray, provenance: np.ndarray | None, legend: dict,
                     proposal: np.ndarray | None = None,
                     compared: np.ndarray | None = None) -> VersionReliance | None:
    """What a version took from a proposal; None when it took nothing from one.

    Parameters
    ----------
    labelled : bool ndarray (k, j, i)
        Voxels any segment of the version labels.
    provenance : uint16 ndarray (k, j, i) or None
        The version's provenance codes (:attr:`compliance.records.LabelSet.provenance`).
    legend : dict
        ``{str(code): source}`` of those codes.
    proposal : bool ndarray (k, j, i), optional
        The proposal's labelled voxels (the model's stored output on the case).
    compared : bool ndarray (k, j, i), optional
        The version's voxels of the structures the model segments (default ``labelled``);
        what is compared with ``proposal``, so that a lesion the reader added to a brain
        mask proposal is not counted as a change of the proposal.
    """
    labelled = np.asarray(labelled, dtype=bool)
    model_codes = proposal_sources(legend)
    if provenance is None or not model_codes:
        return None
    prov = np.asarray(provenance)
    if prov.shape != labelled.shape:
        raise ValueError(f"provenance {prov.shape} is not on the labels' grid {labelled.shape}")
    user_codes = [int(c) for c, s in legend.items() if str(s).startswith(USER_PREFIX)]
    from_proposal = int(np.count_nonzero(labelled & np.isin(prov, list(model_codes))))
    if from_proposal == 0:
        return None  # accepted, then all erased or redrawn: nothing of it is left to rely on
    drawn = int(np.count_nonzero(labelled & np.isin(prov, user_codes))) if user_codes else 0
    out = dict(voxels=int(np.count_nonzero(labelled)), from_proposal=from_proposal,
               drawn=drawn)
    if proposal is not None:
        p = np.asarray(proposal, dtype=bool)
        if p.shape != labelled.shape:
            raise ValueError(f"proposal {p.shape} is not on the labels' grid {labelled.shape}")
        v = labelled if compared is None else np.asarray(compared, dtype=bool)
        n_p, n_v, both = int(p.sum()), int(v.sum()), int(np.count_nonzero(p & v))
        out.update(proposal_voxels=n_p,
                   dice_to_proposal=2.0 * both / (n_p + n_v) if n_p + n_v else 1.0,
                   removed=(n_p - both) / n_p if n_p else None,
                   added=(n_v - both) / n_p if n_p else None)
    return VersionReliance(**out)


def _median(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return float(np.median(values)) if values else None


def reader_summary(rows: list[dict]) -> dict[str, dict]:
    """Per-reader summaries of :func:`version_reliance` rows.

    ``rows``: dicts with ``reader``, ``time`` (ISO UTC, orders a reader's cases) and the
    fields of :meth:`VersionReliance.as_json`. Per reader: ``cases``, the median
    ``proposal_share`` and ``dice_to_proposal``, ``as_proposed`` (cases left exactly as
    proposed, of ``known`` cases whose proposal is stored), and ``earlier`` / ``later``: the
    median proposal share of the first and the second half of their cases in time order,
    ``earlier_dice`` / ``later_dice`` the same of the Dice to the proposal (None below
    :data:`MIN_CASES_FOR_TREND` cases; a Dice rising towards 1 means fewer corrections).
    """
    by_reader: dict[str, list[dict]] = {}
    for r in rows:
        by_reader.setdefault(r["reader"], []).append(r)
    out = {}
    for reader, rs in sorted(by_reader.items()):
        rs = sorted(rs, key=lambda r: r.get("time") or "")
        known = [r for r in rs if r.get("as_proposed") is not None]
        half = len(rs) // 2
        trend = len(rs) >= MIN_CASES_FOR_TREND
        out[reader] = {
            "cases": len(rs),
            "proposal_share": _median(r["proposal_share"] for r in rs),
            "dice_to_proposal": _median(r.get("dice_to_proposal") for r in rs),
            "removed": _median(r.get("removed") for r in rs),
            "added": _median(r.get("added") for r in rs),
            "as_proposed": sum(1 for r in known if r["as_proposed"]),
            "known": len(known),
            "earlier": _median(r["proposal_share"] for r in rs[:half]) if trend else None,
            "later": _median(r["proposal_share"] for r in rs[len(rs) - half:]) if trend
            else None,
            "earlier_dice": _median(r.get("dice_to_proposal") for r in rs[:half]) if trend
            else None,
            "later_dice": _median(r.get("dice_to_proposal") for r in rs[len(rs) - half:])
            if trend else None,
            "shares": [r["proposal_share"] for r in rs],
            "dices": [r.get("dice_to_proposal") for r in rs],
        }
    return out
