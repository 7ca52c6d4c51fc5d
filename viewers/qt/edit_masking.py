"""Masking widgets of the Edit tool bar: overwrite mode, editable area, intensity range.

They write through the controller (``controller.policy``, ``controller.intensity_range``)
and update themselves from its ``changed`` event with their own signals blocked.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QToolBar

from viewers.edit import EditableArea, EditPolicy, Overwrite

_OVERWRITE = [("Overlap others", Overwrite.ALLOW_OVERLAP), ("Overwrite others", Overwrite.OVERWRITE_OTHERS)]
_AREA = [("Paint everywhere", EditableArea.EVERYWHERE),
         ("Never over other segments", EditableArea.OUTSIDE_SEGMENTS)]


def add_masking_widgets(bar: QToolBar, ctl) -> dict:
    """Add the widgets to ``bar``; return them by name (tests find them by objectName too)."""
    overwrite = QComboBox(bar)
    overwrite.setObjectName("edit_overwrite")
    for text, value in _OVERWRITE:
        overwrite.addItem(text, value.value)
    area = QComboBox(bar)
    area.setObjectName("edit_area")
    lo, hi = QDoubleSpinBox(bar), QDoubleSpinBox(bar)
    for box, name in ((lo, "edit_range_lo"), (hi, "edit_range_hi")):
        box.setObjectName(name)
        box.setRange(-1e9, 1e9)
        box.setDecimals(1)
        box.setMaximumWidth(80)  # the +-1e9 range would make it as wide as the tool bar
        box.setToolTip("Threshold brush range (Ctrl+click with the threshold brush picks the "
                       "value under the cursor)")

    def fill_area():
        area.blockSignals(True)
        current = area.currentData()
        area.clear()
        for text, value in _AREA:
            area.addItem(text, (value.value, None))
        seg = getattr(ctl.window, "segmentation", None)
        for s in ([] if seg is None else seg.segments.values()):
            area.addItem(f"Only inside {s.name}", (EditableArea.INSIDE_SEGMENT.value, s.segment_id))
        index = area.findData(current)
        area.setCurrentIndex(max(0, index))
        area.blockSignals(False)

    def write_policy():
        area_value, area_sid = area.currentData() or (EditableArea.EVERYWHERE.value, None)
        ctl.policy = EditPolicy(area_value, area_sid, overwrite.currentData(), None)
        ctl.changed.emit()

    def write_range():
        ctl.intensity_range = (min(lo.value(), hi.value()), max(lo.value(), hi.value()))

    def refresh():
        for box, value in ((lo, ctl.intensity_range[0]), (hi, ctl.intensity_range[1])):
            if box.value() != value:
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)

    overwrite.currentIndexChanged.connect(lambda _i: write_policy())
    area.currentIndexChanged.connect(lambda _i: write_policy())
    lo.valueChanged.connect(lambda _v: write_range())
    hi.valueChanged.connect(lambda _v: write_range())
    ctl.changed.connect(refresh)
    ctl.segments_listener = fill_area  # the controller reconnects it per segmentation
    fill_area()
    for w in (overwrite, area, QLabel("Range", bar), lo, hi):
        bar.addWidget(w)
    return {"overwrite": overwrite, "area": area, "lo": lo, "hi": hi}
