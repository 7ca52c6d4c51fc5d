"""The segment panel: add, rename, recolour, hide and delete segments, edit their codes.

It observes a :class:`~viewers.labels.Segmentation` (``segments_changed``) and the
shared :class:`~viewers.render.ViewerState` (per-segment opacity and fill/outline),
and writes every change back through their setters, never into widgets only.
Terminology codes are SNOMED CT category and type (scheme, value, meaning), as a
DICOM SEG needs them; they are typed as ``SCHEME VALUE Meaning``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QColorDialog, QComboBox, QFormLayout, QHBoxLayout, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QSlider, QVBoxLayout,
                               QWidget)

from viewers.labels import (CATEGORY_ABNORMAL, CATEGORY_ANATOMY, CATEGORY_TISSUE, TYPE_BRAIN,
                            TYPE_TISSUE, Code)

COMMON_CATEGORIES = [CATEGORY_TISSUE, CATEGORY_ANATOMY, CATEGORY_ABNORMAL]
COMMON_TYPES = [TYPE_TISSUE, TYPE_BRAIN]


def code_text(code: Code) -> str:
    """``"SCT 85756007 Tissue"``."""
    return f"{code.scheme} {code.value} {code.meaning}"


def parse_code(text: str) -> Code | None:
    """The inverse of :func:`code_text`; None when the text lacks scheme, value or meaning."""
    parts = text.strip().split(maxsplit=2)
    if len(parts) < 3:
        return None
    return Code(parts[0], parts[1], parts[2])


def _swatch(rgb) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(QColor(*rgb))
    return QIcon(pix)


class SegmentPanel(QWidget):
    """List of segments with editors for the selected one.

    Signals
    -------
    active_segment_changed(object)
        The selected segment id (or None); editing tools paint into it.
    """

    active_segment_changed = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.segmentation = None
        self.state = None
        self.read_only = False
        self.list = QListWidget()
        self.add_button = QPushButton("Add")
        self.delete_button = QPushButton("Delete")
        self.color_button = QPushButton("Colour…")
        self.name_edit = QLineEdit()
        self.category_edit = self._code_box(COMMON_CATEGORIES)
        self.type_edit = self._code_box(COMMON_TYPES)
        self.opacity_slider = QSlider(Qt.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.mode_box = QComboBox()
        self.mode_box.addItems(["Filled", "Outline"])
        buttons = QHBoxLayout()
        for b in (self.add_button, self.delete_button, self.color_button):
            buttons.addWidget(b)
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Category", self.category_edit)
        form.addRow("Type", self.type_edit)
        form.addRow("Opacity", self.opacity_slider)
        form.addRow("Display", self.mode_box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addLayout(form)
        self.add_button.clicked.connect(self.add_segment)
        self.delete_button.clicked.connect(self.delete_active)
        self.color_button.clicked.connect(self._choose_color)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemChanged.connect(self._on_item_changed)
        self.name_edit.editingFinished.connect(
            lambda: self._update(name=self.name_edit.text().strip() or "segment"))
        self.category_edit.lineEdit().editingFinished.connect(
            lambda: self._set_code("category", self.category_edit.currentText()))
        self.type_edit.lineEdit().editingFinished.connect(
            lambda: self._set_code("type", self.type_edit.currentText()))
        self.category_edit.textActivated.connect(lambda t: self._set_code("category", t))
        self.type_edit.textActivated.connect(lambda t: self._set_code("type", t))
        self.opacity_slider.valueChanged.connect(
            lambda v: self._style(opacity=v / 100.0))
        self.mode_box.currentIndexChanged.connect(lambda n: self._style(outline=n == 1))
        self._refresh_editors()

    @staticmethod
    def _code_box(codes) -> QComboBox:
        box = QComboBox()
        box.setEditable(True)
        box.addItems([code_text(c) for c in codes])
        return box

    # -- model ------------------------------------------------------------------------------
    def set_data(self, segmentation, state) -> None:
        """Show the segments of ``segmentation``; opacity/outline live in ``state``."""
        if self.segmentation is not None:
            self.segmentation.segments_changed.disconnect(self.refresh)
        if self.state is not None:
            self.state.styles_changed.disconnect(self._refresh_editors)
        self.segmentation, self.state = segmentation, state
        if segmentation is not None:
            segmentation.segments_changed.connect(self.refresh)
        if state is not None:
            state.styles_changed.connect(self._refresh_editors)
        self.refresh()

    @property
    def active_segment_id(self):
        """Id of the selected segment, or None."""
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.UserRole)

    def set_active_segment(self, segment_id) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.UserRole) == segment_id:
                self.list.setCurrentRow(row)

    def add_segment(self, name: str | None = None):
        """Add a segment (default name "Segment N"), select it and return it."""
        if self.segmentation is None:
            return None
        seg = self.segmentation.add_segment(name or f"Segment {self.segmentation._next_id}")
        self.set_active_segment(seg.segment_id)
        return seg

    def delete_active(self) -> None:
        sid = self.active_segment_id
        if sid is not None:
            # Segmentation.remove_segment indexes the segment's layer, which an empty new
            # segment may not have allocated yet (reported to the owner of viewers/labels.py).
            self.segmentation.ensure_layer(self.segmentation.segments[sid].layer)
            self.segmentation.remove_segment(sid)

    def set_color(self, segment_id: int, rgb) -> None:
        self.segmentation.update_segment(segment_id, color=tuple(int(c) for c in rgb))

    def _choose_color(self) -> None:
        sid = self.active_segment_id
        if sid is None:
            return
        color = QColorDialog.getColor(QColor(*self.segmentation.segments[sid].color), self)
        if color.isValid():
            self.set_color(sid, (color.red(), color.green(), color.blue()))

    def _update(self, **changes) -> None:
        sid = self.active_segment_id
        if sid is not None and self.segmentation is not None:
            seg = self.segmentation.segments[sid]
            if any(getattr(seg, k) != v for k, v in changes.items()):
                self.segmentation.update_segment(sid, **changes)

    def _set_code(self, field: str, text: str) -> None:
        code = parse_code(text)
        if code is not None:
            self._update(**{field: code})
        else:
            self._refresh_editors()  # not a code: show the stored one again

    def _style(self, **changes) -> None:
        sid = self.active_segment_id
        if sid is not None and self.state is not None:
            self.state.set_style(sid, **changes)

    # -- view -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the list from the segmentation, keeping the selection."""
        current = self.active_segment_id
        self.list.blockSignals(True)
        self.list.clear()
        segments = [] if self.segmentation is None else list(self.segmentation.segments.values())
        for seg in segments:
            item = QListWidgetItem(_swatch(seg.color), seg.name)
            item.setData(Qt.UserRole, seg.segment_id)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if seg.visible else Qt.Unchecked)
            self.list.addItem(item)
        ids = [s.segment_id for s in segments]
        if ids:
            self.list.setCurrentRow(ids.index(current) if current in ids else len(ids) - 1)
        self.list.blockSignals(False)
        self._refresh_editors()
        if self.active_segment_id != current:
            self.active_segment_changed.emit(self.active_segment_id)

    def _on_current(self, *args) -> None:
        self._refresh_editors()
        self.active_segment_changed.emit(self.active_segment_id)

    def _on_item_changed(self, item) -> None:
        sid = item.data(Qt.UserRole)
        visible = item.checkState() == Qt.Checked
        if self.segmentation.segments[sid].visible != visible:
            self.segmentation.update_segment(sid, visible=visible)

    def set_read_only(self, on: bool) -> None:
        """Lock adding, deleting, renaming, coding and colouring segments (a role that does
        not save label versions); opacity and display stay, they only change the view."""
        self.read_only = bool(on)
        self._refresh_editors()

    def _refresh_editors(self) -> None:
        sid = self.active_segment_id
        editors = (self.name_edit, self.category_edit, self.type_edit, self.opacity_slider,
                   self.mode_box, self.delete_button, self.color_button)
        changes_labels = (self.name_edit, self.category_edit, self.type_edit,
                          self.delete_button, self.color_button)
        for w in editors:
            w.setEnabled(sid is not None and not (self.read_only and w in changes_labels))
        self.add_button.setEnabled(self.segmentation is not None and not self.read_only)
        if sid is None:
            return
        seg = self.segmentation.segments[sid]
        style = self.state.style(sid)
        for w in editors:
            w.blockSignals(True)
        self.name_edit.setText(seg.name)
        self.category_edit.setEditText(code_text(seg.category))
        self.type_edit.setEditText(code_text(seg.type))
        self.opacity_slider.setValue(round(style.opacity * 100))
        self.mode_box.setCurrentIndex(1 if style.outline else 0)
        for w in editors:
            w.blockSignals(False)
