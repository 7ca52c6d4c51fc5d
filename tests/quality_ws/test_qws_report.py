"""``quality WS --report DIR``: report.html with the four plots, and no patient information."""

from __future__ import annotations

import json

import numpy as np
from qws_flow import full_flow

from app.cli.main import main


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_report_files_hold_the_four_plots(scenario, capsys, tmp_path):
    from PIL import Image

    ws, ids, pw = scenario
    full_flow(ws, ids, pw)
    capsys.readouterr()
    out = tmp_path / "report"
    code = main(["quality", str(ws), "--task", "brain", "--no-surface", "--report", str(out),
                 "--json", "--user", "rev", "--password-file", pw["rev"]])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["report"] == str(out / "report.html")
    page = (out / "report.html").read_text()
    for name in ("dice", "coverage", "agreement", "drift"):
        assert f'src="{name}.png"' in page
        w, h = _png_size(out / f"{name}.png")
        assert w >= 400 and h >= 300  # 480 x 330 px
        # a drawn plot, not the "no data" placeholder: many distinct colours
        rgb = np.asarray(Image.open(out / f"{name}.png").convert("RGB"))
        assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50, name
    assert "threshold" in page and "0.60" in page and "validated units needed" in page
    # spot checks: Dice 1, 1 and ~0 -> mean below the tolerance 0.8: the report says so
    assert "SUSPENDED by a drift alert" in page
    # no case identifier (nor anything else from a case record) in the report
    for cid in ids["validated"] + ids["pool"]:
        assert cid not in page


def test_report_without_data_says_so(tmp_path):
    from models.quality.report import write_report

    files = write_report(tmp_path, {"task": None})
    assert set(files) == {"dice", "coverage", "agreement", "drift", "html"}
    assert "Task: -" in files["html"].read_text()
