"""Camera maths: the pinhole model and camera poses (camera.py), lens models (lens.py) and calibration
files (calibration.py). No Blender."""
