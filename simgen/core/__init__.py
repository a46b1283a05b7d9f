"""Plain-data scene description, camera maths and the label conventions."""
