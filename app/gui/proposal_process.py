"""Running proposals in a separate process, so that inference never stalls the window.

A thread is not enough: with a proposal on a worker thread the GUI thread still waits for
the GIL, and parts of a proposal hold it for long stretches -- importing torch and MONAI
(over a second), connected components (cc3d, ~0.3 s on the Colin27 head) and hole filling
(fill_voids, ~0.15 s) -- which froze the window for up to 1.4 s (benchmarks/
bench_responsiveness.py). A child process has its own interpreter and GIL.

:class:`ProposalProcess` is one persistent child (``spawn`` start method: forking a process
that runs Qt threads is unsafe), started at the first proposal and kept for the next ones
(the model stays loaded there). Requests, progress and results travel through
``multiprocessing`` queues; cancelling sets a shared event that the child's progress
callback checks once per sliding-window batch. The child uses one CPU thread fewer than the
machine has (at least one), leaving a core to the GUI.

This module does not import Qt (the child imports it too).

A frozen application (PyInstaller) must call ``multiprocessing.freeze_support()`` first
thing in its entry point for the ``spawn`` child to start.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import time

_JOBS = itertools.count(1)


def _child_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


def with_summary(proposal, affine_lps):
    """``(proposal, summary)``: the confidence summary computed here, off the GUI thread
    (a bincount over the volume, ~0.1 s for the Colin27 head)."""
    import numpy as np

    from viewers.proposal import DEFAULT_LOW_CONFIDENCE, summarize

    from models.proposal import decode_confidence
    from models.quality.ranking import entropy_score

    spacing = np.linalg.norm(np.asarray(affine_lps, float)[:3, :3], axis=0)
    summary = summarize(proposal.labels, proposal.confidence, proposal.segments,
                        proposal.model_id, proposal.weights_sha256, tuple(spacing),
                        DEFAULT_LOW_CONFIDENCE)
    # The case's uncertainty for active learning (the same score `annotrace rank` uses).
    summary["entropy_bits"] = entropy_score(decode_confidence(proposal.confidence))
    return proposal, summary


def _to_shared(proposal):
    """Move the proposal's two volumes into shared memory; returns (proposal, handles).

    A multi-megabyte message through the pipe would make the GUI thread wait in ``recv``
    for the child to write it all (hundreds of ms when the machine is busy); a shared
    memory block is mapped and copied in a few ms.
    """
    from multiprocessing import shared_memory

    handles, refs = [], {}
    for name in ("labels", "confidence"):
        array = getattr(proposal, name)
        block = shared_memory.SharedMemory(create=True, size=max(1, array.nbytes))
        view = _ndarray(block, array.shape, array.dtype)
        view[...] = array
        handles.append(block)
        refs[name] = (block.name, array.shape, array.dtype.str)
    import dataclasses

    import numpy as np

    light = dataclasses.replace(proposal, labels=np.zeros((1, 1, 1), proposal.labels.dtype),
                                confidence=np.zeros((1, 1, 1), np.uint8))
    return (light, refs), handles


def _ndarray(block, shape, dtype):
    import numpy as np

    return np.ndarray(shape, dtype=np.dtype(dtype), buffer=block.buf)


def from_shared(light, refs):
    """The full proposal back from :func:`_to_shared`'s message (copies, then frees)."""
    import dataclasses

    from multiprocessing import shared_memory

    arrays = {}
    for name, (block_name, shape, dtype) in refs.items():
        block = shared_memory.SharedMemory(name=block_name)
        try:
            arrays[name] = _ndarray(block, shape, dtype).copy()
        finally:
            block.close()
            block.unlink()
    return dataclasses.replace(light, **arrays)


def _child_main(requests, events, cancel) -> None:  # runs in the child process
    try:
        os.nice(10)  # the window's thread wins the CPU over inference on a busy machine
    except (AttributeError, OSError):
        pass
    # torch reads these when it is first imported (by the model, not here: a child that
    # only ever runs a model without torch never pays for importing it)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(_child_threads()))
    from models.errors import Cancelled
    from models.run import propose

    loaded = {}
    while True:
        request = requests.get()
        if request is None:
            return
        job, model, image, affine_lps, options = request
        last = [0.0]

        def progress(done, total, stage, job=job, last=last):
            if cancel.is_set():
                raise Cancelled("proposal cancelled")
            now = time.monotonic()
            if done in (1, total) or now - last[0] > 0.05:  # at most ~20 updates per second
                last[0] = now
                events.put(("progress", job, (int(done), int(total), str(stage))))

        try:
            key = getattr(model, "model_id", None)
            runnable = loaded.get(key) if key else None
            if runnable is None and hasattr(model, "load"):
                runnable = model.load()
                loaded.clear()  # keep one model in memory
                loaded[key] = runnable
            if options.pop("embed", False):  # the model's description of the case
                from models.embedding import case_embedding
                from models.run import _spec

                vector = case_embedding(runnable if runnable is not None
                                        else _spec(model).load(), image, affine_lps, progress)
                events.put(("done", job, ("embedding", vector)))
                continue
            # This process lives as long as the window: OpenVINO's one-time conversion of a
            # model is paid once, and every later proposal with it runs faster on the CPU.
            options.setdefault("backend", "auto")
            result = propose(runnable if runnable is not None else model, image, affine_lps,
                             progress=progress, **options)
        except Cancelled:
            events.put(("cancelled", job, None))
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI as one line
            # Exceptions with custom constructors may not unpickle: send plain data.
            events.put(("failed", job, (type(exc).__name__, str(exc),
                                        getattr(exc, "exit_code", None))))
        else:
            proposal, summary = with_summary(result, affine_lps)
            message, handles = _to_shared(proposal)
            events.put(("done", job, (message, summary)))
            del proposal, result
            for block in handles:  # the parent unlinks them after copying
                block.close()


class ProposalFailed(Exception):
    """A proposal failed in the child process (the original exception's type and text)."""

    def __init__(self, kind: str, text: str, exit_code=None):
        super().__init__(text)
        self.kind = kind
        if exit_code is not None:
            self.exit_code = exit_code


class ProposalProcess:
    """One persistent child process running proposals one after another."""

    def __init__(self):
        ctx = mp.get_context("spawn")
        self.requests = ctx.Queue()
        self.events = ctx.Queue()
        self.cancel_event = ctx.Event()
        self.process = ctx.Process(target=_child_main, name="annotrace-proposals",
                                   args=(self.requests, self.events, self.cancel_event),
                                   daemon=True)
        self.process.start()

    def alive(self) -> bool:
        return self.process.is_alive()

    def close(self, timeout: float = 0.5) -> None:
        """Ask the child to end; terminate it when it does not within ``timeout`` s."""
        if self.process.is_alive():
            self.cancel_event.set()
            try:
                self.requests.put(None)
            except (OSError, ValueError):
                pass
            self.process.join(timeout)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout)
        # End the queues' feeder threads now: a Python thread still alive when the
        # interpreter finalizes has made PySide6 6.12 abort in its exit GC ("none_dealloc").
        for q in (self.requests, self.events):
            if self.process.is_alive():  # (never blocks on a pipe nobody reads)
                q.cancel_join_thread()
            q.close()
            q.join_thread()


class ProcessJob:
    """One proposal in a :class:`ProposalProcess`; the same interface as a thread worker.

    ``poll()`` returns the new ``(kind, payload)`` events: ``("progress", (done, total,
    stage))``, then one of ``("done", (Proposal, summary))``, ``("cancelled", None)``,
    ``("failed", exception)``. With the option ``embed=True`` the child describes the case
    instead (:func:`models.embedding.case_embedding`) and ``"done"`` carries that vector.
    """

    def __init__(self, proc: ProposalProcess, model, image, affine_lps, **options):
        self.proc = proc
        self.job = next(_JOBS)
        self.model, self.image, self.affine_lps, self.options = model, image, affine_lps, options
        self.finished = False
        self.started_at = None

    def start(self) -> None:
        self.started_at = time.perf_counter()
        self.proc.cancel_event.clear()
        self.proc.requests.put((self.job, self.model, self.image, self.affine_lps, self.options))

    def cancel(self) -> None:
        if not self.finished:
            self.proc.cancel_event.set()

    def is_running(self) -> bool:
        return self.started_at is not None and not self.finished

    def poll(self, block_s: float = 0.0) -> list:
        """The new events; with ``block_s`` > 0 wait up to that long for the first one (for a
        worker thread that has nothing else to do; the GUI thread polls from a timer)."""
        out = []
        while not self.finished:
            try:
                if block_s > 0 and not out:
                    kind, job, payload = self.proc.events.get(timeout=block_s)
                else:
                    kind, job, payload = self.proc.events.get_nowait()
            except queue.Empty:
                if not self.proc.alive():
                    self.finished = True
                    out.append(("failed", ProposalFailed(
                        "ProcessEnded", "the model process ended unexpectedly (exit code "
                        f"{self.proc.process.exitcode}; out of memory?)")))
                break
            if job != self.job:  # late events of an earlier, abandoned job
                if kind == "done" and payload[0] != "embedding":
                    from_shared(*payload[0])  # frees its shared memory
                continue
            if kind == "failed":
                payload = ProposalFailed(*payload)
            elif kind == "done" and payload[0] == "embedding":
                payload = payload[1]  # a small vector, sent whole
            elif kind == "done":
                (light, refs), summary = payload
                payload = (from_shared(light, refs), summary)
            if kind != "progress":
                self.finished = True
            out.append((kind, payload))
        return out
