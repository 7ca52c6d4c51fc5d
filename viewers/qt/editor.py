"""The "Edit" tool bar: tools, shortcuts, brush size, undo/redo, on a main window.

``install(window)`` needs a QMainWindow with ``.volume``, ``.segmentation``,
``.views`` (slice views with ``set_interaction``) and
``.segment_panel.active_segment_id``. It returns the :class:`EditController`
(also kept as ``window.edit_controller``), whose ``recorded`` event re-emits the
:class:`~viewers.edit.ChangeRecord` of every edit, undo and redo for the audit trail.

Shortcuts: Esc navigate, B brush, E eraser, T threshold brush (Ctrl+click picks the range
from the value under the cursor), L lasso, P polygon (click vertices, double-click or right click closes), G grow,
H histogram (drag to pick the threshold range), D 2D disk / 3D sphere, ] and [ brush size, Shift+wheel brush size,
Ctrl+Z undo, Ctrl+Shift+Z and Ctrl+Y redo.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QMenu, QToolBar, QToolButton

from viewers.edit import EditPolicy, Editor, History, SegmentLocked, interpolate, morphology
from viewers.edit.history import DEFAULT_MAX_BYTES, DEFAULT_MIN_STEPS
from viewers.events import Event
from viewers.qt.edit_histogram import HistogramWidget
from viewers.qt.edit_interactions import (BrushInteraction, GrowInteraction, LassoInteraction,
                                          PolygonInteraction)
from viewers.qt.edit_masking import add_masking_widgets

MIN_RADIUS_MM, MAX_RADIUS_MM = 0.25, 100.0


class EditController:
    """State of the editing tools for one window (Qt-light: no widgets of its own)."""

    def __init__(self, window, max_bytes: int = DEFAULT_MAX_BYTES, min_steps: int = DEFAULT_MIN_STEPS):
        self.window = window
        self.max_bytes, self.min_steps = max_bytes, min_steps
        self.radius_mm = 5.0
        self.sphere = True
        self.policy = EditPolicy()
        self.intensity_range = (0.0, 0.0)
        self.grow_roi_mm = 40.0
        self.grow_multiplier = 2.5
        self._editor = None
        self.pick_tolerance = 0.0
        #: called (no arguments) when the current segmentation's segments change (masking combo)
        self.segments_listener = None
        #: re-emits every ChangeRecord of the current case's history
        self.recorded = Event()
        #: emitted (no arguments) when radius, undo/redo availability or the tool changed
        self.changed = Event()
        self.tool = None

    # -- editor per case ------------------------------------------------------------------
    def editor(self):
        """The Editor of the window's current volume/segmentation (a new history per case)."""
        vol, seg = getattr(self.window, "volume", None), getattr(self.window, "segmentation", None)
        if vol is None or seg is None:
            return None
        ed = self._editor
        if ed is None or ed.volume is not vol or ed.segmentation is not seg:
            history = History(seg, self.max_bytes, self.min_steps)
            history.recorded.connect(self.recorded.emit)
            history.changed.connect(self.changed.emit)
            if ed is not None and self.segments_listener is not None:
                ed.segmentation.segments_changed.disconnect(self.segments_listener)
            self._editor = ed = Editor(vol, seg, history, self.policy)
            lo, hi = vol.value_range()
            self.intensity_range = (lo, hi)  # the threshold brush paints everything until picked
            self.pick_tolerance = 0.05 * (hi - lo)
            if self.segments_listener is not None:
                seg.segments_changed.connect(self.segments_listener)
                self.segments_listener()
            self.changed.emit()
        ed.policy = self.policy
        return ed

    def pick_range(self, ijk) -> None:
        """Set the threshold range to the value under the cursor +- ``pick_tolerance``."""
        ed = self.editor()
        if ed is None:
            return
        v = ed.value_at(ijk)
        self.intensity_range = (v - self.pick_tolerance, v + self.pick_tolerance)
        self.message(f"Threshold range {self.intensity_range[0]:.4g} .. {self.intensity_range[1]:.4g}")
        self.changed.emit()

    def active_segment_id(self):
        panel = getattr(self.window, "segment_panel", None)
        return None if panel is None else panel.active_segment_id

    # -- settings -------------------------------------------------------------------------
    def set_radius(self, mm: float) -> None:
        self.radius_mm = float(min(MAX_RADIUS_MM, max(MIN_RADIUS_MM, mm)))
        self.changed.emit()

    def scale_radius(self, factor: float) -> None:
        self.set_radius(self.radius_mm * factor)

    def set_tool(self, name: str | None) -> None:
        """Install a tool's interaction on every view (None: navigation)."""
        makers = {
            "brush": lambda: BrushInteraction(self),
            "eraser": lambda: BrushInteraction(self, erase=True),
            "threshold": lambda: BrushInteraction(self, threshold=True),
            "lasso": lambda: LassoInteraction(self),
            "polygon": lambda: PolygonInteraction(self),
            "grow": lambda: GrowInteraction(self),
        }
        self.tool = name
        for view in self.window.views:
            view.set_interaction(makers[name]() if name else None)
        self.changed.emit()

    # -- commands -------------------------------------------------------------------------
    def undo(self):
        ed = self.editor()
        cmd = ed.undo() if ed is not None else None
        self.rendered()
        return cmd

    def redo(self):
        ed = self.editor()
        cmd = ed.redo() if ed is not None else None
        self.rendered()
        return cmd

    def run_on_active(self, fn, *args):
        ed, sid = self.editor(), self.active_segment_id()
        if ed is None or sid is None:
            self.message("Select a segment to edit")
            return None
        try:
            return fn(ed, sid, *args)
        except SegmentLocked as exc:
            self.message(str(exc))
        finally:
            self.rendered()

    def rendered(self) -> None:
        for view in self.window.views:
            view.request_render()

    def message(self, text: str) -> None:
        bar = self.window.statusBar() if hasattr(self.window, "statusBar") else None
        if bar is not None:
            bar.showMessage(text, 4000)


def _action(parent, text, shortcuts, slot, checkable=False):
    act = QAction(text, parent)
    act.setShortcuts([QKeySequence(s) for s in shortcuts])
    act.setCheckable(checkable)
    act.triggered.connect(slot)
    parent.addAction(act)  # shortcuts work wherever the focus is in the window
    return act


def install(window, max_bytes: int = DEFAULT_MAX_BYTES, min_steps: int = DEFAULT_MIN_STEPS) -> EditController:
    """Add the Edit tool bar and shortcuts to ``window``; return the controller."""
    ctl = EditController(window, max_bytes, min_steps)
    bar = QToolBar("Edit", window)
    bar.setObjectName("edit_toolbar")
    window.addToolBar(bar)
    group = QActionGroup(bar)
    tools = {}
    for name, text, keys in (("navigate", "Navigate", ["Esc"]), ("brush", "Brush", ["B"]),
                             ("eraser", "Eraser", ["E"]), ("threshold", "Threshold brush", ["T"]),
                             ("lasso", "Lasso", ["L"]), ("polygon", "Polygon", ["P"]),
                             ("grow", "Grow region", ["G"])):
        act = _action(window, text, keys, lambda _=False, n=name: ctl.set_tool(None if n == "navigate" else n),
                      checkable=True)
        act.setObjectName(f"edit_{name}")
        group.addAction(act)
        bar.addAction(act)
        tools[name] = act
    tools["navigate"].setChecked(True)
    bar.addSeparator()
    size = QDoubleSpinBox(bar)
    size.setObjectName("brush_radius_mm")
    size.setRange(MIN_RADIUS_MM, MAX_RADIUS_MM)
    size.setDecimals(2)
    size.setSuffix(" mm")
    size.setMaximumWidth(90)
    size.setValue(ctl.radius_mm)
    size.setToolTip("Brush radius (] / [ or Shift+wheel)")
    size.valueChanged.connect(ctl.set_radius)
    bar.addWidget(QLabel("Radius", bar))
    bar.addWidget(size)
    _action(window, "Larger brush", ["]"], lambda: ctl.scale_radius(1.25))
    _action(window, "Smaller brush", ["["], lambda: ctl.scale_radius(0.8))
    sphere = _action(window, "3D sphere", ["D"], lambda on: setattr(ctl, "sphere", on), checkable=True)
    sphere.setChecked(True)
    bar.addAction(sphere)
    bar.addSeparator()
    undo = _action(window, "Undo", ["Ctrl+Z"], ctl.undo)
    redo = _action(window, "Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], ctl.redo)
    undo.setObjectName("edit_undo")
    redo.setObjectName("edit_redo")
    bar.addAction(undo)
    bar.addAction(redo)
    bar.addWidget(_operations_button(bar, ctl))
    bar.addSeparator()
    ctl.masking = add_masking_widgets(bar, ctl)
    histogram = _action(window, "Histogram", ["H"], lambda: _show_histogram(window, ctl))
    histogram.setObjectName("edit_histogram_action")
    histogram.setToolTip("Pick the threshold brush range on the intensity histogram (H)")
    bar.addAction(histogram)

    def refresh():
        ed = ctl._editor
        undo.setEnabled(bool(ed and ed.history.can_undo))
        redo.setEnabled(bool(ed and ed.history.can_redo))
        tools[ctl.tool or "navigate"].setChecked(True)  # also when set_tool was called directly
        if sphere.isChecked() != ctl.sphere:
            sphere.setChecked(ctl.sphere)
        if abs(size.value() - ctl.radius_mm) > 1e-9:
            size.blockSignals(True)
            size.setValue(ctl.radius_mm)
            size.blockSignals(False)

    ctl.changed.connect(refresh)
    refresh()
    ctl.editor()  # bind to the window's current case now (history, masking segment list)
    loaded = getattr(window, "volume_loaded", None)
    if loaded is not None:  # each new image gets its own history at once (and undoable deletes)
        loaded.connect(lambda *_: ctl.editor())
    ctl.toolbar, ctl.actions = bar, dict(tools, undo=undo, redo=redo, sphere=sphere)
    window.edit_controller = ctl
    return ctl


def _show_histogram(window, ctl) -> HistogramWidget:
    """Open (or raise) the histogram tool window, recomputed for the current image."""
    widget = getattr(ctl, "histogram", None)
    if widget is None:
        widget = ctl.histogram = HistogramWidget(ctl, parent=window)
        widget.setWindowFlag(Qt.WindowType.Tool)
    widget.refresh()
    widget.show()
    widget.raise_()
    return widget


def _operations_button(parent, ctl) -> QToolButton:
    """Whole-segment operations on the active segment."""
    menu = QMenu(parent)
    ops = [
        ("Keep largest island", lambda ed, sid: morphology.keep_largest_island(ed, sid)),
        ("Remove islands < 10 mm³", lambda ed, sid: morphology.remove_small_islands(ed, sid, 10.0)),
        ("Split islands into segments", lambda ed, sid: morphology.split_islands(ed, sid)),
        ("Fill holes", lambda ed, sid: morphology.fill_holes(ed, sid)),
        ("Smooth (median 3 mm)", lambda ed, sid: morphology.median(ed, sid, 3.0)),
        ("Close gaps (2 mm)", lambda ed, sid: morphology.closing(ed, sid, 2.0)),
        ("Grow by 1 mm", lambda ed, sid: morphology.margin(ed, sid, 1.0)),
        ("Shrink by 1 mm", lambda ed, sid: morphology.margin(ed, sid, -1.0)),
        ("Interpolate between slices", lambda ed, sid: interpolate.interpolate_slices(ed, sid)),
    ]
    for text, fn in ops:
        menu.addAction(text).triggered.connect(lambda _=False, f=fn: ctl.run_on_active(f))
    button = QToolButton(parent)
    button.setText("Operations")
    button.setObjectName("edit_operations")
    button.setMenu(menu)
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    return button
