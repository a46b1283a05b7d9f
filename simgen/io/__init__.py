"""Datasets on disk, in three layers, lowest first.

File mechanics, here: atomic file writers and their readers (files.py), liveness by lock
(locks.py), scratch space for the renders
in flight (scratch.py), Cycles' multilayer EXR read back as arrays (exr.py), and the top-level
names of a dataset folder (names.py: dataset.json, coco.json, meta/, logs/).

simgen.io.formats: the export formats (exporters.py: the registry; coco.py, yolo.py, bop.py,
flow.py), written from the COCO index of the frames on disk.

simgen.io.dataset: the dataset's layout (layout.py: its files, the writer), the output folder's
rules and claim (outdir.py), the COCO index (coco_index.py), the run log (runlog.py), merging
datasets (merge.py) and a read-only view of one (reader.py).
"""
