"""Plain-data scene description, camera maths, the tone curve and the label conventions."""
