"""Colour: metering and tone mapping from the linear render to the 8-bit image (tone.py) and Blender's
view transforms through OpenColorIO (ocio.py), without importing bpy."""
