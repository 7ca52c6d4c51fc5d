"""The hook through which editing tools take over the mouse of a slice view.

A :class:`~viewers.qt.sliceview.SliceView` forwards every mouse press, move,
release and wheel event to its current :class:`Interaction` first (set with
``SliceView.set_interaction``). When the interaction returns ``True`` the event
is consumed; otherwise (or when no interaction is set) the view's default
navigation applies (scroll, zoom, pan, window/level, crosshair).

Positions are handed over as continuous voxel indices ``ijk = (i, j, k)``
(float numpy array): integer values are voxel centres, so the voxel under the
mouse is ``np.rint(ijk).astype(int)``. The view's helpers ``voxel_at``,
``screen_point``, ``orientation``, ``slice_index`` and ``request_render`` are
public for the same purpose.

Example
-------
>>> class Printer(Interaction):                          # doctest: +SKIP
...     def press(self, view, ijk, event):
...         print(view.orientation, ijk)
...         return True                                   # consumed: no crosshair move
>>> view.set_interaction(Printer())                      # doctest: +SKIP
"""

from __future__ import annotations


class Interaction:
    """Base class of a mouse interaction on a slice view; every method is a no-op.

    Subclasses override what they need. Each event method returns ``True`` when
    it consumed the event (the view then does nothing else with it).
    """

    def press(self, view, ijk, event) -> bool:
        """A mouse button went down.

        Parameters
        ----------
        view : SliceView
            The view that received the event.
        ijk : numpy.ndarray
            Continuous voxel index ``(i, j, k)`` under the mouse (float, shape (3,)).
        event : QMouseEvent
            The Qt event (buttons, modifiers, position).
        """
        return False

    def move(self, view, ijk, event) -> bool:
        """The mouse moved (with or without a button held)."""
        return False

    def release(self, view, ijk, event) -> bool:
        """A mouse button went up."""
        return False

    def wheel(self, view, event) -> bool:
        """The wheel turned (a QWheelEvent); return True to stop slice scrolling/zoom."""
        return False

    def paint_overlay(self, view, painter) -> None:
        """Draw on top of the image (brush outline, polygon in progress...).

        Called at the end of the view's ``paintEvent`` with an active QPainter in
        widget coordinates; use ``view.screen_point(ijk)`` to place things.
        """

    def activated(self, view) -> None:
        """Called when the interaction is installed on ``view``."""

    def deactivated(self, view) -> None:
        """Called when the interaction is removed from ``view`` (or replaced)."""
