"""Segmentation proposals: built-in models, MONAI bundles, confidence, refinement, training.

Qt-free and viewer-free: every entry point takes numpy arrays with axes ``(k, j, i)`` and a
4x4 index->LPS affine, and returns plain records (:class:`models.proposal.Proposal`).
torch and MONAI are imported by the modules that run networks, never by this package's
``__init__`` or by :mod:`models.registry`'s listing of built-in models.
"""
