"""The top-level names of a dataset folder, in one place: every module that reads or writes
them (the layout, the reader, merge, the reports, the trainers, the fits) names them from here.

The layout itself (what each file holds) is described in simgen.io.dataset.layout."""

DATASET_JSON = "dataset.json"
"""DIR/dataset.json: the run's description (versions, seed, categories, the resolved config)."""
COCO_JSON = "coco.json"
"""DIR/coco.json: the COCO instances file of every frame on disk."""
META_DIR = "meta"
"""DIR/meta/NNNNNN.json: each frame's meta, written last (its presence means the frame is complete)."""
LOGS_DIR = "logs"
"""DIR/logs/: the run's logs and locks (simgen.log, run-*.jsonl, dataset.lock, run.lock, scratch)."""
