"""Quality > "Rank unlabelled cases…": active-learning ranks for the worklist, from the GUI.

The study lead picks a model and a method; by default the model first runs on the new cases
that have no stored output of it (in the dialog's child process, stored as
``annotrace rank --run-model`` does), so a pool nobody proposed on can be ranked from here:

* ``disagreement`` runs the model on three augmented views of every unlabelled case
  (:mod:`models.tta`) and ranks by how differently it segments them -- minutes on a CPU;
* ``committee`` runs another model of the same structures (by default deepbet) on every
  unlabelled case and ranks by how differently the two models segment it (query by
  committee; on the benchmark it followed the model's errors best, docs/quality.md);
* ``entropy`` ranks by the uncertainty stored with each output -- instant.

A weight of diversity above 0 also runs the model once on every unlabelled and approved case it
has not described before, whatever the method (:func:`models.embedding.case_embedding`, in the
same child process; the descriptions are kept in the workspace per model weights).

The work is :func:`app.cli.quality_ws.rank_workspace`, the same as ``annotrace rank WS``
(permission-checked, audited, ranks stored in the workspace). It runs on a plain worker
thread whose events a QTimer drains (:class:`app.gui.job_dialog.JobDialog`); the
modules it imports are imported on the GUI thread first (:data:`WORKER_MODULES`; imports
on a worker thread while the GUI thread runs Python were among the PySide6 6.12 crashes),
and the models it runs propose in a child process of the dialog's own
(:class:`_ProcessModel`), so neither thread of the viewer loads torch for a ranking. When it ends the worklist's
"rank" column shows the new ranks.
"""

from __future__ import annotations

import importlib

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel,
                               QPushButton, QVBoxLayout)

from app.gui.job_dialog import JobDialog
from app.gui.quality_dashboard import _ops

METHODS = (("disagreement", "Disagreement of augmented views (runs the model 3× per case)"),
           ("committee", "Disagreement with another model (runs it once per case)"),
           ("entropy", "Stored uncertainty (entropy; instant without diversity)"))
#: the committee's other model offered first: a brain extractor trained elsewhere
DEFAULT_MEMBER = "deepbet"
#: what the worker imports, imported on the GUI thread first (see the module docstring);
#: none of them imports torch or MONAI: the networks run in the child process only
WORKER_MODULES = ("app.cli.quality_ws", "models.quality.ranking", "models.tta", "models.run",
                  "models.proposal", "models.embedding")


class _ProcessModel:
    """A model that proposes in the dialog's own child process (app/gui/proposal_process.py).

    Running a network on the worker thread, while the GUI thread runs the workspace's Python
    event filter, crashed PySide6 6.12 (segfaults in two CI runs, in model loading and in
    inference); the child has its own interpreter. ``propose`` blocks the calling (worker)
    thread until the child answers.
    """

    def __init__(self, proc, spec):
        self.proc, self.spec = proc, spec

    def propose(self, image, affine_lps, progress=None):
        return self._run(image, affine_lps)[0]

    def embed(self, image, affine_lps):
        """The model's description of the case (:func:`models.embedding.case_embedding`)."""
        return self._run(image, affine_lps, embed=True)

    def _run(self, image, affine_lps, **options):
        from app.gui.proposal_process import ProcessJob

        job = ProcessJob(self.proc, self.spec, image, affine_lps, **options)
        job.start()
        while True:
            # blocks on the child's event queue; a child that dies is reported within 1 s
            for kind, payload in job.poll(block_s=1.0):
                if kind == "done":
                    return payload
                if kind == "failed":
                    raise payload
            if not job.is_running():
                raise RuntimeError("the model process stopped")


def _process_models(proc, names) -> dict:
    """:class:`_ProcessModel` of each model that resolves (a misspelt model is left for the
    ranking to report)."""
    from models.errors import ModelError
    from models.run import _spec

    out = {}
    for name in names:
        try:
            out[name] = _ProcessModel(proc, _spec(name))
        except ModelError:
            continue
    return out


class RankDialog(JobDialog):
    """Choose model and method, run the ranking in the background, show the first cases."""

    def __init__(self, window, parent=None):
        super().__init__(window, parent, title="Rank unlabelled cases")
        self.result: dict | None = None
        self.error: str | None = None
        self._process = None  # the models' child process while a ranking runs

        self.model_box = QComboBox()
        self.model_box.setEditable(True)  # any model id with stored outputs
        self.model_box.setMinimumWidth(220)
        self.method_box = QComboBox()
        for key, text in METHODS:
            self.method_box.addItem(text, key)
        self.member_box = QComboBox()
        self.member_box.setEditable(True)
        self.member_box.addItem(DEFAULT_MEMBER)
        self.member_box.setToolTip("The other model of the committee: it must segment the "
                                   "same structures (matched by segment name)")
        self.method_box.currentIndexChanged.connect(self._method_changed)
        self.diversity_box = QDoubleSpinBox()
        self.diversity_box.setRange(0.0, 1.0)
        self.diversity_box.setSingleStep(0.1)
        self.diversity_box.setDecimals(2)
        self.diversity_box.setToolTip(
            "0: by the score alone. Above 0 each next case is also chosen for being unlike the "
            "approved cases and the cases ranked before it (in the model's own description "
            "of the cases), so the first cases are not all of one kind; runs the model once "
            "on every unlabelled and approved case it has not described before (the "
            "descriptions are kept in the workspace)")
        form = QFormLayout()
        form.addRow("Model", self.model_box)
        form.addRow("Method", self.method_box)
        form.addRow("Compare with", self.member_box)
        form.addRow("Diversity", self.diversity_box)
        self.run_new = QCheckBox("First run the model on new cases without an output")
        self.run_new.setChecked(True)
        self.run_new.setToolTip("Cases nobody has labelled or proposed on yet: the model "
                                "proposes on each (stored, audited) so that it can be ranked")
        form.addRow("", self.run_new)
        self.ranked = QLabel("")
        self.ranked.setWordWrap(True)
        self.run_button = QPushButton("Rank")
        self.run_button.clicked.connect(self.run)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.ranked)
        layout.addLayout(self._button_row(self.run_button))
        self._fill_models()
        self._method_changed()

    def _method_changed(self, *_args) -> None:
        self.member_box.setEnabled(self.method_box.currentData() == "committee")

    def _fill_models(self) -> None:
        ops = _ops(self.window)
        if ops is None:
            return
        state = ops.quality_state_unaudited()
        known = set(state.get("calibrations", {})) | set(state.get("ranks", {}))
        self.model_box.clear()
        self.model_box.addItems(sorted(known) or ["brainmask-unet"])

    def run(self) -> None:
        """Start the ranking of the chosen model's unlabelled cases."""
        ops = _ops(self.window)
        model = self.model_box.currentText().strip()
        method = self.method_box.currentData()
        if ops is None or self.busy():
            return
        if not model:
            self.status.setText("Name the model whose outputs to rank")
            return
        members = [self.member_box.currentText().strip()] if method == "committee" else []
        if method == "committee" and not members[0]:
            self.status.setText("Name the other model of the committee")
            return
        run_new = self.run_new.isChecked()
        diversity = float(self.diversity_box.value())
        loaded = {}
        if method in ("disagreement", "committee") or run_new or diversity > 0:
            from app.gui.proposal_process import ProposalProcess
            from models.errors import ModelError
            from models.run import _spec

            if run_new or diversity > 0:
                try:
                    _spec(model)
                except ModelError as exc:  # a model id with stored outputs only can't run
                    self.error = str(exc)
                    self.status.setText(f"Could not rank: {exc}")
                    return
            self.status.setText("Loading the model…")
            for name in WORKER_MODULES:
                importlib.import_module(name)
            self._close_process()
            self._process = ProposalProcess()
            runs = [model] if run_new or method == "disagreement" or diversity > 0 else []
            loaded = _process_models(self._process, runs + members)
        self.result, self.error = None, None
        self.run_button.setEnabled(False)
        self.status.setText(f"Ranking the unlabelled cases of {model}…")

        def work(post):
            from app.cli.quality_ws import new_cases, rank_workspace, run_model_outputs

            try:
                if run_new:
                    run_model_outputs(ops, model, new_cases(ops), runnable=loaded[model],
                                      progress=lambda d, t: post("progress", (d, t, "run")))
                out = rank_workspace(ops, model, diversity, method=method, members=members,
                                     loaded=loaded,
                                     progress=lambda d, t, *stage: post("progress",
                                                                        (d, t, *stage)))
            except Exception as exc:  # noqa: BLE001 - shown in the dialog as one line
                post("failed", exc)
            else:
                post("done", out)

        self._start_job(work, "quality-rank")

    def _job_progress(self, payload) -> None:
        done, total = payload[:2]
        if payload[2:] == ("run",):
            self.status.setText(f"Proposed on {done} of {total} new case(s)…")
        elif payload[2:] == ("describe",):
            self.status.setText(f"Described {done} of {total} case(s) not described "
                                "before, for diversity…")
        else:
            self.status.setText(f"Scored {done} of {total} case(s)…")

    def _job_ended(self, kind, payload) -> None:
        self.run_button.setEnabled(True)
        self._close_process()
        if kind == "failed":
            self.error = str(payload)
            self.status.setText(f"Could not rank: {payload}")
        else:
            self._show(payload)

    def _close_process(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None

    def _show(self, out: dict) -> None:
        from app.gui.quality_dashboard import rank_column

        self.result = out
        cases = out["cases"]
        how = out["method"] + (f" with {', '.join(out['members'])}" if out.get("members")
                               else "")
        if out.get("diversity"):
            how += f", diversity {out['diversity']:g}"
        self.status.setText(f"Ranked {len(cases)} unlabelled case(s) of {out['model']} by "
                            f"{how}; the worklist's rank column shows the order.")
        self.ranked.setText("\n".join(f"{r['rank']:>3}. {r['case']}  ({r['score']:.4f})"
                                      for r in cases[:10]))
        self.adjustSize()  # room for the result's lines: a dialog does not grow by itself
        controller = getattr(self.window, "workspace", None)
        if controller is not None and hasattr(controller, "extra_columns"):
            col = rank_column(self.window)
            if col is not None:
                controller.extra_columns["rank"] = col
            if hasattr(controller, "refresh_worklist"):
                controller.refresh_worklist()
