"""``simgen fit``: search the randomization settings so that simgen's renders look like a user's
own images (issue 29). Pure logic apart from the renders, which run as ``simgen`` child processes:
this package imports neither bpy nor torch."""
