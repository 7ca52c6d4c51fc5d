"""Start annotrace on the demo study, outline the brain, and save a grab of the window.

Run by scripts/screenshot.sh under Xvfb:  python scripts/screenshot_app.py OUT.png
The "Brain" segment is the non-zero voxels of ch2bet.nii.gz (the brain-extracted
twin of the demo T1 on the same grid), shown as an outline over the T1.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(out: str) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.demo import DEMO_BRAIN, DEMO_T1
    from app.gui.application import build_window
    from viewers.io import read_volume
    from viewers.labels import TYPE_BRAIN, CATEGORY_ANATOMY

    app = QApplication(sys.argv[:1])
    window = build_window(DEMO_T1)
    window.resize(1500, 620)

    def decorate(volume):
        brain = read_volume(DEMO_BRAIN).array > 0
        seg = window.segmentation
        segment = seg.add_segment("Brain", color=(255, 190, 40), category=CATEGORY_ANATOMY,
                                  type=TYPE_BRAIN)
        seg.ensure_layer(segment.layer)[brain] = segment.value
        seg.changed.emit(tuple(slice(0, n) for n in seg.shape))
        window.state.set_style(segment.segment_id, opacity=0.9, outline=True)
        window.segment_panel.set_active_segment(segment.segment_id)
        window.state.set_point([62, 120, 80])
        QTimer.singleShot(800, save)

    def save():
        window.grab().save(out)
        print(f"saved {out} ({window.width()}x{window.height()})")
        app.quit()

    window.volume_loaded.connect(decorate)
    QTimer.singleShot(60000, app.quit)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png"))
