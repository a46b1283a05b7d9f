"""The bundled scene recipes, installed as the package ``simgen.scenes``: one module per kind of
scene, each declaring ``RECIPE = simgen.recipes.Recipe(...)`` (see tabletop.py), whose
``make_sequence(settings, catalog, rng, length)`` draws plain scene data from ``rng`` and
touches no Blender. ``scene=<name>`` picks one (its ``Config`` is that option of the scene
group: simgen.compose.store registers it); a recipe of your own loads by its dotted module path.
"""
