"""Composing a run's settings: from the command line's overrides to validated Settings, with the scene
recipes known.

:mod:`simgen.config` declares the settings and checks them without knowing any recipe; this
package sits higher in the layers, above the recipes and just below :mod:`simgen.pipeline` (which
asks it what a run writes and which catalog it draws from), because it does know them (it loads
:mod:`simgen.recipes`). :mod:`.store` makes Hydra's config groups from the declarations
(every registered recipe's ``Config`` an option of ``scene``) and composes a config;
:mod:`.settings` turns a composed config into :class:`~simgen.config.Settings` typed by its
recipe's ``Config`` and holds :func:`~simgen.compose.settings.validate`, the one check of a
Settings tree, and :func:`~simgen.compose.settings.catalog_for`, the asset catalog settings name. Import the modules by their own names: this package hands nothing on.
"""
