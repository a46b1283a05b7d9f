"""``simgen fit``: search the randomization settings so that simgen's renders look like a user's
own images (issue 29). Pure logic apart from the renders, which run as ``simgen`` child processes:
this package imports neither bpy nor torch. ``fit.objective=ap`` trains and scores through
:mod:`simgen.experiment`, the layer below; a study reads a fit's result back with
:mod:`simgen.experiment.from_fit`."""
