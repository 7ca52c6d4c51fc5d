"""The cyclic garbage collector runs on the GUI thread only, once a window exists."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

pytestmark = pytest.mark.qt


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_collections_happen_on_the_gui_thread_only(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.gui.gc_pin import pin_gc_to_gui_thread
    from app.gui.mainwindow import MainWindow

    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    collector = pin_gc_to_gui_thread()
    assert collector is not None and pin_gc_to_gui_thread() is collector  # one per app
    assert not gc.isenabled()
    threads, last = [], []

    def record(phase, info):
        if phase == "start":
            threads.append(threading.get_ident())

    def worker():
        # far more cyclic garbage than gen-0's threshold: automatic collection would run here
        for _ in range(50 * gc.get_threshold()[0]):
            last[:] = [weakref.ref(_Node())]

    gc.callbacks.append(record)
    try:
        t = threading.Thread(target=worker)
        t.start()
        t.join(60)
        on_worker = list(threads)
        assert last[0]() is not None  # still uncollected garbage: nobody collected it there
        qtbot.waitUntil(lambda: last[0]() is None, timeout=10000)  # the GUI timer does
    finally:
        gc.callbacks.remove(record)
    assert on_worker == []
    assert threads and set(threads) == {threading.get_ident()}
    assert collector.collections > 0


def test_no_pin_from_another_thread_or_without_an_application(qapp):
    from app.gui.gc_pin import pin_gc_to_gui_thread

    out = []
    t = threading.Thread(target=lambda: out.append(pin_gc_to_gui_thread()))
    t.start()
    t.join(10)
    assert out == [None]
