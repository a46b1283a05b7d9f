"""A study arm's ``from_fit``: the settings of a fit's best.yaml (what ``simgen fit`` writes,
:func:`simgen.fit.runner.write_best`) as simgen overrides."""

from __future__ import annotations

from pathlib import Path

from simgen.errors import SimgenError


def best_overrides(folder: str | Path, where: str) -> list[str]:
    """simgen overrides of the best.yaml in a fit's ``folder`` (its group options, then its
    settings): what a study arm with ``from_fit`` renders with. A one-line SimgenError naming
    ``where`` when there is none."""
    import yaml

    from simgen.config.schema import override_text

    path = Path(folder).expanduser() / "best.yaml"
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise SimgenError(f"{where}={folder}: cannot read {path} ({type(e).__name__}); give a fit's folder "
                          "(fits/NAME) once simgen fit has completed a trial there") from None
    if not isinstance(tree, dict):
        raise SimgenError(f"{where}={folder}: {path} is not a simgen fit's best.yaml")
    out = [f"{k.removeprefix('override').strip()}={override_text(v)}"
           for d in tree.pop("defaults", []) if isinstance(d, dict) for k, v in d.items()]

    def walk(node: dict, prefix: str) -> None:
        for k, v in node.items():
            if isinstance(v, dict) and v:
                walk(v, f"{prefix}{k}.")
            else:
                out.append(f"{prefix}{k}={override_text(v)}")
    walk(tree, "")
    return out
