"""Sensor models (the ``sensor`` group; docs/how-to/sensors.md): what a depth camera, a LiDAR, a
rolling shutter or an event camera returns, made from simgen's exact renders and labels. Pure
numpy (and OpenCV): Blender's side of a sensor is in simgen.blender, the files in simgen.io."""
