"""Hydra's config groups, built from the declared settings.

Every setting is declared once, in its dataclass (:mod:`simgen.config`, a recipe's ``Config``):
type, default, bounds and meaning. :func:`register` stores those dataclasses in Hydra's
ConfigStore, so that the option ``configs/config.yaml`` picks for each group by default
(``render: cycles``, ``lighting: random``, ...) *is* the group's dataclass, and every shipped
recipe's ``Config`` is an option of ``scene`` (``scene=tabletop``, ``scene=flying``). The YAML
files under ``configs/<group>/`` are the other options: each names the default as its base
(``defaults: [random, _self_]``) and states only what differs. The top-level keys (seed,
start, frames) come from :class:`~simgen.config.Settings` as the node ``settings``.

:func:`register` runs before Hydra composes, in every entry point: the ``simgen`` command,
:func:`compose` (``simgen.cli.check_dataset``, the tests, the scripts). It is idempotent.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from typing import Any, Iterable

from simgen.errors import SimgenError, install_hint
from simgen.config import RUN_FOLDER, Settings
from simgen.config.schema import default_of, mapping_fields
from simgen.paths import CONFIG_DIR
from simgen.recipes import available, load_recipe

SETTINGS_NODE = "settings"
"""The ConfigStore name of the top-level keys (``seed``, ``start``, ``frames``) in config.yaml's defaults list."""


def composed(cls: type) -> type:
    """``cls`` as Hydra composes it: its {name: value} settings (``objects.dirs``, ``scene.labels``)
    untyped and null, so that ``objects.dirs={mug: /data/mugs}`` can set them (Hydra's struct mode
    refuses new keys in a typed {}, and OmegaConf cannot merge a mapping into a typed null); their
    values are checked against ``cls`` itself by :func:`simgen.compose.settings.to_settings`, which
    reads null as {}. ``cls`` itself when it has none."""
    mappings = mapping_fields(cls)
    if not mappings:
        return cls
    return dataclasses.make_dataclass(f"Composed{cls.__name__}", [(n, Any, dataclasses.field(default=None))
                                                                     for n in mappings], bases=(cls,))


def groups() -> dict[str, type]:
    """The config groups declared by :class:`~simgen.config.Settings` (``scene`` is typed by its recipe): name -> dataclass."""
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings) if dataclasses.is_dataclass(hints[f.name])}


@functools.lru_cache(maxsize=None)
def default_options() -> dict[str, str]:
    """Group -> the option configs/config.yaml picks by default (``render`` -> ``cycles``)."""
    import yaml

    data = yaml.safe_load((CONFIG_DIR / "config.yaml").read_text(encoding="utf-8"))
    picks = {k: v for entry in data.get("defaults", []) if isinstance(entry, dict) for k, v in entry.items()}
    return {g: str(picks[g]) for g in [*groups(), "scene"] if picks.get(g) is not None}


def _node(group: str, cls: type) -> Any:
    """The group's default option: its dataclass as Hydra composes it (:func:`composed`; output.dir
    Hydra's run folder)."""
    if group == "output":
        return cls(dir=RUN_FOLDER)
    return composed(cls)


def _the_store(store: Any, memo: dict) -> Any:
    """A deep copy of Hydra's ConfigStore (a process-wide singleton): the store itself. Hydra copies
    its config repository before each composition (CachingConfigRepository, so that setting up the
    search path leaves the original as it was), and with it every node stored here: a third of the
    CPU time of a command refused after composing (1.26 -> 0.85 s). Nothing is lost by sharing it:
    the store hands out a copy of a node on each load (ConfigStore.load), and the repository's
    sources, what the copy protects, are still copied."""
    return store


def register() -> None:
    """Store every group's default option (its dataclass), every registered recipe's Config (the
    shipped ones and a plugin's, by entry point) as an option of ``scene`` and the top-level keys
    in Hydra's ConfigStore. Idempotent; call it before Hydra composes (``simgen.cli`` and
    :func:`compose` do)."""
    from hydra.core.config_store import ConfigStore

    if "__deepcopy__" not in vars(ConfigStore):
        ConfigStore.__deepcopy__ = _the_store
    store = ConfigStore.instance()
    scenes = store.repo.get("scene", {})
    names = available()
    for name in names:  # the scene options mirror the recipes' registry: a plugin's may have come
        if f"{name}.yaml" not in scenes:
            store.store(group="scene", name=name, node=composed(load_recipe(name).Config))
    for gone in set(store.repo.get("scene", {})) - {f"{n}.yaml" for n in names}:  # ... or gone
        del store.repo["scene"][gone]
    if f"{SETTINGS_NODE}.yaml" in store.repo:  # stored last: the groups are there
        return
    for group, option in default_options().items():
        if group in groups():
            store.store(group=group, name=option, node=_node(group, groups()[group]))
    top = {f.name: default_of(f) for f in dataclasses.fields(Settings) if f.name not in groups() and f.name != "scene"}
    store.store(name=SETTINGS_NODE, node=top)


def registered(group: str, option: str) -> type | None:
    """The dataclass that is option ``group=option``, or None for a YAML option file."""
    if group == "scene" and option in available():
        return load_recipe(option).Config
    cls = groups().get(group)
    return cls if cls is not None and default_options().get(group) == option else None


def options(groups_: Iterable[str] | None = None, overrides: Iterable[str] = ()) -> dict[str, list[str]]:
    """Group -> its options as Hydra sees them: the registered dataclasses, the files under
    configs/<group>/ and under any ``hydra.searchpath`` given in ``overrides``. Default: the
    groups of Settings, ``scene`` and ``experiment``."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register()
    names = list(groups_) if groups_ is not None else ["scene", *groups(), "experiment"]
    searchpath = [o for o in overrides if o.partition("=")[0].lstrip("+") == "hydra.searchpath"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        repository = getattr(loader, "repository", None)  # Hydra's sources as they are: listed without a copy
        if repository is not None and not searchpath:
            return {g: repository.get_group_options(g) for g in names}
        return {g: loader.get_group_options(g, config_name="config", overrides=searchpath) for g in names}


def compose(overrides: Iterable[str] = (), return_hydra_config: bool = False) -> Any:
    """The config ``simgen OVERRIDES`` composes (Hydra's compose API; nothing runs). A value Hydra
    refuses is one line naming the key and a fix, as :func:`simgen.compose.settings.to_settings` words it."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name="simgen"):
            return hydra_compose(config_name="config", overrides=list(overrides),
                                 return_hydra_config=return_hydra_config)
    except (HydraException, OmegaConfBaseException) as e:
        raise composition_error(e) from None


def setting_error(e: BaseException) -> SimgenError | None:
    """One line for an error Hydra raised composing the config because of a setting (a value of
    the wrong type, an unknown key), worded as :func:`simgen.compose.settings.to_settings` words the same
    errors; None for any other error."""
    from omegaconf.errors import OmegaConfBaseException

    from simgen.compose.settings import value_error

    cause = e if getattr(e, "full_key", None) else e.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        return value_error(cause)
    return None


def composition_error(e: BaseException, details: str = "") -> SimgenError:
    """The one translation of an error Hydra (or OmegaConf under it) raised composing the config,
    for the ``simgen`` command and the compose API alike: :func:`setting_error` for a setting's,
    else Hydra's first line, followed by ``details`` in brackets when given (where to see more)."""
    error = setting_error(e)
    if error is not None:
        return error
    text = str(e).strip()
    first = " ".join(text.splitlines()[0].split()) if text else type(e).__name__
    launcher = re.search(r"Could not load '(hydra/launcher/\w+)'", first)
    if launcher:  # a launcher plugin is missing: name the extra that brings it
        first = (f"{launcher.group(1)} is a Hydra launcher plugin that is not installed: the cluster extra brings "
                 "Hydra's joblib, Ray and Slurm (submitit) launchers: " + install_hint("cluster"))
    return SimgenError(f"{first} ({details})" if details else first)
