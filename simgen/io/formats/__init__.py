"""The export formats: their registry (exporters.py), what they read of the COCO index
(coco.py), YOLO (yolo.py), BOP (bop.py) and the optical-flow files (flow.py)."""
