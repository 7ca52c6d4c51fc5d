"""``quality WS --report DIR``: report.html with the five plots, and no patient information."""

from __future__ import annotations

import json

from qws_common import add_proposal_readings
from qws_flow import full_flow

from app.cli.main import main


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_report_files_hold_the_five_plots(scenario, capsys, tmp_path):
    from models.quality.report import PLOTS, render_plots

    ws, ids, pw = scenario
    full_flow(ws, ids, pw)
    readings = add_proposal_readings(ws)
    capsys.readouterr()
    out = tmp_path / "report"
    code = main(["quality", str(ws), "--task", "brain", "--no-surface", "--report", str(out),
                 "--json", "--user", "rev", "--password-file", pw["rev"]])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["report"] == str(out / "report.html")
    page = (out / "report.html").read_text()
    placeholders = render_plots({})  # what each plot draws without data (deterministic)
    assert len(PLOTS) == 5
    for name in PLOTS:
        assert f'src="{name}.png"' in page
        w, h = _png_size(out / f"{name}.png")
        assert w >= 400 and h >= 300  # 480 x 330 px
        assert (out / f"{name}.png").read_bytes() != placeholders[name], name  # drawn
    assert "ann: kept from proposals" in page and "left as proposed 2 of 4" in page
    assert "threshold" in page and "0.60" in page and "validated units needed" in page
    # spot checks: Dice 1, 1 and ~0 -> mean below the tolerance 0.8: the report says so
    assert "SUSPENDED by a drift alert" in page
    # no case identifier (nor anything else from a case record) in the report
    for cid in ids["validated"] + ids["pool"] + readings:
        assert cid not in page


def test_report_without_data_says_so(tmp_path):
    from models.quality.report import write_report

    files = write_report(tmp_path, {"task": None})
    assert set(files) == {"dice", "coverage", "agreement", "drift", "reliance", "html"}
    assert "Task: -" in files["html"].read_text()
