"""Qt-free editing tools, commands and their bounded undo history (see docs/editing.md)."""

from viewers.edit.accept import AcceptResult, accept, refine_proposal, reject
from viewers.edit.editor import BrushStroke, Editor
from viewers.edit.history import ChangeRecord, Command, History
from viewers.edit.policy import EditableArea, EditPolicy, Overwrite
from viewers.edit.transaction import SegmentLocked

__all__ = ["AcceptResult", "BrushStroke", "ChangeRecord", "Command", "EditPolicy", "EditableArea", "Editor",
           "History", "Overwrite", "SegmentLocked", "accept", "refine_proposal", "reject"]
