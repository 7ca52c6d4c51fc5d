"""Quality and automation: metrics against a reference, agreement, TBAL, active learning, drift.

Qt-free and viewer-free like the rest of :mod:`models`: everything takes numpy arrays with
axes ``(k, j, i)``, spacing ``(i, j, k)`` mm, and plain values, and returns plain records with
``as_json()``. Workspace-bound commands are thin wrappers that load arrays and call these.

- :mod:`models.quality.metrics` -- Dice, IoU, precision, recall, lesion-wise F1, HD95, ASD, volumes
- :mod:`models.quality.summary` -- bootstrap confidence intervals of per-case metrics
- :mod:`models.quality.agreement` -- Cohen's / Fleiss' kappa, pairwise Dice, STAPLE
- :mod:`models.quality.tbal` -- Clopper-Pearson threshold calibration and auto-acceptance
- :mod:`models.quality.planner` -- validated units needed for a target coverage
- :mod:`models.quality.ranking` -- active-learning uncertainty ranking
- :mod:`models.quality.drift` -- spot checks, per-batch estimates, suspension of the threshold
- :mod:`models.quality.tables` -- reading validation and pool CSVs with line-numbered errors

torch/MONAI are imported only by the surface-distance function; scipy by the statistics.
"""
