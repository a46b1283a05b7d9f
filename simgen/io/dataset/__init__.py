"""A dataset on disk: its layout and writer (layout.py), the output folder's rules and claim
(outdir.py), the COCO index (coco_index.py), the run log (runlog.py), merging datasets
(merge.py) and a read-only view of one (reader.py)."""
