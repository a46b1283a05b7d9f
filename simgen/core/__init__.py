"""Deprecated: simgen.core's modules moved to packages named for their job (simgen.scene, simgen.optics,
simgen.color) and to simgen.registry, simgen.paths, simgen.splits and simgen.image_header. The old import
paths work for one release, with a DeprecationWarning naming the new one; nothing of simgen imports them."""
