"""Looking at a finished dataset: ``simgen inspect`` (an HTML report for people) and
``simgen validate`` (every consistency check, an exit status for scripts).

Both read only the files documented in docs/dataset.md (per-frame files, meta JSON, the
standard COCO keys), one frame at a time, so memory does not grow with the dataset.
"""
