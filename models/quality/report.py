"""The quality report: five PNG plots and one HTML page, with no patient information.

``data`` is the plain dict :func:`app.cli.quality_ws.report_data` assembles (and the GUI
dashboard shows): Dice values per reader, the calibration's threshold table (coverage and the
Clopper-Pearson bound per candidate threshold), the last agreement matrix, the drift
batches and each reader's reliance on accepted proposals (:mod:`models.quality.reliance`).
Any part may be missing; its plot then says "no data".

Plots are drawn with matplotlib's Agg canvas on :class:`matplotlib.figure.Figure` objects
(never ``pyplot``, whose backend choice could pull in Qt), so this module stays Qt-free and
thread-safe.
"""

from __future__ import annotations

import html
import io
from datetime import datetime, timezone
from pathlib import Path

PLOTS = ("dice", "coverage", "agreement", "drift", "reliance")
TITLES = {"dice": "Dice against the reference", "coverage": "Coverage vs threshold",
          "agreement": "Pairwise Dice between readers", "drift": "Drift over batches",
          "reliance": "Readers' versions against accepted proposals"}


def _figure(size=(4.8, 3.3)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(111)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _plot_dice(ax, data) -> None:
    dice = {k: [v for v in vals if v is not None] for k, vals in (data.get("dice") or {}).items()}
    dice = {k: v for k, v in dice.items() if v}
    if not dice:
        _no_data(ax, "no reference cases scored")
        return
    names = sorted(dice)
    ax.boxplot([dice[n] for n in names], showmeans=True)
    for i, n in enumerate(names, start=1):
        ax.scatter([i] * len(dice[n]), dice[n], s=10, alpha=0.6, color="tab:blue", zorder=3)
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xticklabels([n[:14] for n in names], rotation=20, fontsize=8)
    ax.set_ylabel("Dice")
    ax.set_ylim(min(0.0, min(min(v) for v in dice.values())) - 0.02, 1.02)


def _plot_coverage(ax, data) -> None:
    cal = data.get("calibration")
    if not cal or not cal.get("table"):
        _no_data(ax, "no calibration stored")
        return
    t = [r["threshold"] for r in cal["table"]]
    ax.plot(t, [r["coverage"] for r in cal["table"]], color="tab:blue",
            label="coverage (validated units)")
    ax.plot(t, [r["bound"] for r in cal["table"]], color="tab:red",
            label="Clopper-Pearson error bound")
    ax.axhline(cal["epsilon"], color="tab:red", ls=":", lw=1, label=f"epsilon {cal['epsilon']}")
    if cal.get("threshold") is not None:
        ax.axvline(cal["threshold"], color="k", ls="--", lw=1,
                   label=f"threshold {cal['threshold']:.2f}")
    ax.set_xlabel("confidence threshold")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower left")


def _plot_agreement(ax, data) -> None:
    ag = data.get("agreement")
    if not ag or not ag.get("matrix"):
        _no_data(ax, "no agreement computed")
        return
    import numpy as np

    m = np.asarray(ag["matrix"], dtype=float)
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    names = [str(r)[:12] for r in ag["raters"]]
    ax.set_xticks(range(len(names)))
    ax.set_yticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center",
                    color="w" if m[i, j] < 0.6 else "k", fontsize=8)
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    kappa = ag.get("kappa")
    ax.set_xlabel(f"{ag.get('kappa_kind', '')} kappa "
                  f"{'-' if kappa is None else f'{kappa:.3f}'}")


def _plot_drift(ax, data) -> None:
    dr = data.get("drift")
    if not dr or not dr.get("batches"):
        _no_data(ax, "no spot-checked batch recorded")
        return
    b = dr["batches"]
    x = list(range(1, len(b) + 1))
    ax.plot(x, [r["mean_dice"] for r in b], "o-", color="tab:blue", label="mean Dice")
    ax.plot(x, [r["precision"] for r in b], "s--", color="tab:green", label="precision")
    ax.axhline(dr["tolerance"], color="tab:red", ls=":", label=f"tolerance {dr['tolerance']}")
    for xi, r in zip(x, b):
        if r["alert"]:
            ax.annotate("alert", (xi, r["mean_dice"] or 0), color="tab:red", fontsize=8,
                        xytext=(0, -14), textcoords="offset points", ha="center")
    ax.set_xticks(x)
    ax.set_xticklabels([str(r["batch"])[:10] for r in b], rotation=20, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="lower left")


def _plot_reliance(ax, data) -> None:
    readers = ((data.get("reliance") or {}).get("readers")) or {}
    readers = {k: r for k, r in readers.items() if r.get("shares")}
    if not readers:
        _no_data(ax, "no saved version took voxels from a proposal")
        return
    for n, (name, r) in enumerate(sorted(readers.items())):
        colour = f"C{n % 10}"
        x = list(range(1, len(r["shares"]) + 1))
        # the Dice to the proposal shows corrections (erasing too); the kept share what was
        # taken over; a Dice rising towards 1 over a reader's cases means fewer corrections
        dice = [(xi, d) for xi, d in zip(x, r.get("dices") or []) if d is not None]
        if dice:
            ax.plot(*zip(*dice), "o-", ms=4, color=colour, label=f"{name[:14]} Dice")
        ax.plot(x, r["shares"], "s--", ms=3, lw=1, color=colour, alpha=0.7,
                label=f"{name[:14]} kept")
    from matplotlib.ticker import MaxNLocator

    # whole cases only: with one or two cases matplotlib's own ticks read 0.975, 1.025
    most = max(len(r["shares"]) for r in readers.values())
    if most <= 12:
        ax.set_xticks(list(range(1, most + 1)))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, most + 0.5)
    ax.set_xlabel("reader's cases, oldest first")
    ax.set_ylabel("Dice to proposal / share kept")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="lower right", ncol=2)


_DRAW = {"dice": _plot_dice, "coverage": _plot_coverage, "agreement": _plot_agreement,
         "drift": _plot_drift, "reliance": _plot_reliance}


def render_plots(data: dict) -> dict[str, bytes]:
    """``{plot name: PNG bytes}`` of the plots (:data:`PLOTS`)."""
    out = {}
    for name in PLOTS:
        fig, ax = _figure()
        _DRAW[name](ax, data)
        ax.set_title(TITLES[name], fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        out[name] = buf.getvalue()
    return out


def numbers(data: dict) -> list[tuple[str, str]]:
    """The headline numbers as (label, value) rows (shared by the report and the dashboard)."""
    rows = []

    def f(x, d=3):
        return "-" if x is None else f"{x:.{d}f}"

    cal = data.get("calibration")
    if cal:
        rows += [("model", str(cal["model"])),
                 ("threshold", f(cal["threshold"], 2) if cal["threshold"] is not None
                  else "none passes"),
                 ("guaranteed error bound", f(cal["bound"], 4)),
                 ("coverage (validated units)", f"{100 * cal['coverage']:.1f} %"),
                 ("validated units / used", f"{cal['units']} / {cal['units_used']}"),
                 ("epsilon / delta / tolerance",
                  f"{cal['epsilon']} / {cal['delta']} / {cal['tolerance']}")]
        plan = cal.get("plan")
        if plan:
            need = (f"{plan['total_needed']} in total ({plan['more_needed']} more)"
                    if plan["feasible"] else "not reachable")
            rows.append((f"validated units needed for coverage "
                         f"{100 * plan['target_coverage']:.0f} %", need))
    for name, segs in (data.get("summary") or {}).items():
        for sid, s in segs.items():
            d = s["dice"]
            ci = "" if d["ci_low"] is None else f" (95 % CI {f(d['ci_low'])}-{f(d['ci_high'])})"
            rows.append((f"{name} segment {sid}: mean Dice", f"{f(d['mean'])}{ci}, n={d['n']}"))
    dr = data.get("drift")
    if dr:
        rows.append(("auto-accept", "SUSPENDED by a drift alert" if dr["suspended"]
                     else f"in force, threshold {f(dr['threshold'], 2)}"))
    for name, r in (((data.get("reliance") or {}).get("readers")) or {}).items():
        text = f"median {f(r['proposal_share'], 2)} over {r['cases']} case(s)"
        if r.get("earlier") is not None:
            text += f"; earlier half {f(r['earlier'], 2)}, later half {f(r['later'], 2)}"
        if r.get("earlier_dice") is not None and r.get("later_dice") is not None:
            text += (f"; Dice to the proposal {f(r['earlier_dice'])} -> "
                     f"{f(r['later_dice'])}")
        if r.get("known"):
            text += f"; left as proposed {r['as_proposed']} of {r['known']}"
        rows.append((f"{name}: kept from proposals", text))
    return rows


def write_report(out_dir, data: dict) -> dict[str, Path]:
    """Write ``report.html`` and one PNG per plot into ``out_dir``; return their paths.

    The report holds only aggregate numbers, reader and model names, and no case content,
    case identifier or patient information.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, png in render_plots(data).items():
        path = out / f"{name}.png"
        path.write_bytes(png)
        files[name] = path
    esc = html.escape
    rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in numbers(data))
    imgs = "\n".join(f'<figure><img src="{n}.png" alt="{esc(TITLES[n])}">'
                     f"<figcaption>{esc(TITLES[n])}</figcaption></figure>" for n in PLOTS)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    task = esc(str(data.get("task") or "-"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>annotrace quality report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
figure{{display:inline-block;margin:8px}}img{{max-width:520px}}</style></head>
<body><h1>Quality report</h1>
<p>Task: {task}. Generated {when}. Aggregate figures only; no patient information.</p>
<table>{rows}</table>
{imgs}
</body></html>
"""
    files["html"] = out / "report.html"
    files["html"].write_text(page, encoding="utf-8")
    return files
