"""Scene recipes: one module per kind of scene, each with

    make_scene(settings: simgen.config.Settings, catalog: simgen.assets.Catalog,
               rng: numpy.random.Generator) -> simgen.core.scene.Scene

drawing everything from ``rng`` and touching no Blender. Select one with
``scene.recipe=<module name>`` (or a ``configs/scene/<name>.yaml``).
"""
