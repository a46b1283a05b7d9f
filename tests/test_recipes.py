"""The recipe protocol: a recipe declares RECIPE = Recipe(...), checked when it is loaded."""

from __future__ import annotations

import sys
import textwrap

import pytest

from simgen import SimgenError
from simgen.recipes import Recipe, available, load_recipe


def test_shipped_recipes_declare_the_protocol():
    assert available() == ["bin_picking", "environment", "flying", "tabletop"]
    for name in available():
        recipe = load_recipe(name)
        assert isinstance(recipe, Recipe) and recipe.name == name and recipe.Config().recipe == name


GOOD = """
from dataclasses import dataclass
from simgen.recipes import Recipe

@dataclass
class Config:
    recipe: str = "{name}"

def make_sequence(settings, catalog, rng, length):
    return []

RECIPE = Recipe(name="{name}", Config=Config, make_sequence=make_sequence)
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write tmp_path/userrecipes/<name>.py and make it importable as userrecipes.<name>."""
    pkg = tmp_path / "userrecipes"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (pkg / f"{name}.py").write_text(textwrap.dedent(source))
        sys.modules.pop(f"userrecipes.{name}", None)
        return f"userrecipes.{name}"
    yield write
    for key in [k for k in sys.modules if k.startswith("userrecipes")]:
        del sys.modules[key]


def test_a_recipe_outside_scenes_loads_by_dotted_path(user_module):
    name = user_module("mine", GOOD.format(name="userrecipes.mine"))
    assert load_recipe(name).make_sequence(None, None, None, 1) == []


@pytest.mark.parametrize("source,message", [
    ("x = 1\n", "declares no RECIPE"),
    (GOOD.format(name="other"), "declares the name 'other'"),
    (GOOD.format(name="userrecipes.bad").replace("    recipe: str", "    kind: str"), "needs a field `recipe"),
    (GOOD.format(name="userrecipes.bad").replace("@dataclass\n", ""), "must be a dataclass"),
    (GOOD.format(name="userrecipes.bad").replace("rng, length", "rng"), "make_sequence must be a function of 4"),
    (GOOD.format(name="userrecipes.bad").replace("make_sequence)", "make_sequence, ignores=('camera.exposur',))"),
     "RECIPE.ignores: unknown key 'camera.exposur'; did you mean 'camera.exposure'"),
    (GOOD.format(name="userrecipes.bad").replace("make_sequence)", "make_sequence, ignores=('scene.depth',))"),
     "names settings of other groups"),
])
def test_malformed_recipes_fail_when_loaded(user_module, source, message):
    name = user_module("bad", source)
    with pytest.raises(SimgenError, match=message) as e:
        load_recipe(name)
    assert "\n" not in str(e.value)


def test_unknown_recipe_names_the_choices():
    with pytest.raises(SimgenError, match=r"unknown scene recipe 'nope'; choose one of \['bin_picking', 'environment', 'flying', 'tabletop'\]"):
        load_recipe("nope")


def test_a_recipe_outside_scenes_is_picked_on_the_command_line(user_module, tmp_path):
    """``~scene +scene.recipe=PKG.MODULE +scene.KEY=VALUE``: no shipped option of the scene group,
    the recipe's own Config types what the command line sets (as for a shipped recipe)."""
    from simgen.cli import check_overrides
    from simgen.compose.store import compose
    from simgen.compose.settings import to_settings

    source = GOOD.replace('    recipe: str = "{name}"\n', '    recipe: str = "{name}"\n    size: float = 1.0\n')
    name = user_module("mine", source.format(name="userrecipes.mine"))
    overrides = ["~scene", f"+scene.recipe={name}", "+scene.size=2", f"output.dir={tmp_path / 'out'}"]
    check_overrides(overrides)
    s = to_settings(compose(overrides))
    assert type(s.scene) is load_recipe(name).Config and s.scene.size == 2.0
    with pytest.raises(SimgenError, match=r"bad config value for 'scene.size'"):
        to_settings(compose([*overrides[:2], "+scene.size=big", *overrides[3:]]))


def test_a_setting_the_recipe_does_not_read_is_refused_unless_at_its_default():
    """flying exposes its frames by the metering alone: camera.exposure (and the rest of its
    IGNORES) is refused when set, from any source; at its default it passes."""
    import dataclasses

    from simgen.config import Settings
    from simgen.recipes import refuse_ignored

    flying = load_recipe("flying")
    assert {"camera.exposure", "camera.calibration"} <= set(flying.ignores)
    refuse_ignored(flying, Settings())
    s = Settings()
    s.camera = dataclasses.replace(s.camera, exposure=[1.0, 2.0])
    with pytest.raises(SimgenError, match=r"^camera.exposure=\[1.0,2.0\] does nothing with scene=flying: the flying "
                       r"recipe does not read it; leave it at its default"):
        refuse_ignored(flying, s)
    refuse_ignored(load_recipe("tabletop"), s)  # tabletop reads it
