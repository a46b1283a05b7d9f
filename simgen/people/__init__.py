"""People: parametric human bodies of every age and build, posed and dressed, with exact keypoints
(the ``[people]`` extra; :mod:`simgen.people.model` loads the body model)."""
