"""Export building blocks: DICOM SEG, NIfTI label maps, signed manifests, de-identification.

Qt-free and viewer-free: functions take pydicom datasets of the source images, numpy masks
``(segments, k, j, i)``, 4x4 index->LPS affines and plain segment records (dicts).

* :mod:`compliance.export.dicom_seg` - BINARY DICOM SEG with highdicom
* :mod:`compliance.export.nifti` - NIfTI label maps with a JSON label table
* :mod:`compliance.export.manifest` - ``manifest.json`` + Ed25519 signature, ``verify_bundle``
* :mod:`compliance.export.deid` - PS3.15 Annex E Basic Profile de-identification
* :mod:`compliance.export.bundle` - ``write_bundle``: all of the above for a list of cases
* :mod:`compliance.export.sources` - source DICOM headers kept with a case (no pixel data)
* :mod:`compliance.export.workspace_export` - ``export_cases``: a workspace's approved versions,
  provenance, signatures and emergency flags into a bundle, permission-checked and audited
"""
