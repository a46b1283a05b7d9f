"""The bundled asset set, catalogs and mesh loading (pure Python, no Blender)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from simgen import SimgenError
from simgen.assets import (
    BUNDLED_CATALOG,
    BUNDLED_GROUND,
    MESH_SUFFIXES,
    Catalog,
    build_catalog,
    clear_mesh_cache,
    load_catalog,
    load_mesh,
    validate_catalog,
)
from simgen.assets import catalog as catalog_module
from simgen.assets.meshes import _problem

REPO = Path(__file__).resolve().parents[1]


def _box(size: float = 0.1) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(size, size, size))


def _write(mesh: trimesh.Trimesh, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(path)
    return path


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(SimgenError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


@pytest.fixture
def catalog_file(tmp_path):
    """Write a catalog YAML in tmp_path; returns its (resolved) path."""

    def write(text: str, name: str = "catalog.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path.resolve()

    return write


# --------------------------------------------------------------------------- bundled set


def test_bundled_catalog_loads():
    catalog = load_catalog(BUNDLED_CATALOG)
    assert BUNDLED_CATALOG == REPO / "assets" / "catalog.yaml"
    assert build_catalog() == catalog
    assert len(catalog.categories) >= 5
    assert [c.id for c in catalog.categories] == list(range(1, len(catalog.categories) + 1))
    assert catalog.ground == BUNDLED_GROUND
    names = [c.name for c in catalog.categories]
    assert catalog.to_json() == [
        {"id": i + 1, "name": n, "supercategory": "object"} for i, n in enumerate(names)
    ]
    for name in names:
        assets = catalog.assets_of(name)
        assert len(assets) >= 2
        assert all(a.category_id == catalog.category_id(name) for a in assets)
    keys = [a.key for a in catalog.assets]
    assert len(set(keys)) == len(keys)
    assert all(k == f"{a.category}/{a.path.stem}" for k, a in zip(keys, catalog.assets))
    suffixes = {a.path.suffix for a in catalog.assets}
    assert {".obj", ".ply", ".stl", ".glb"} <= suffixes
    assert 5 <= len(catalog.distractors) <= 8
    assert len(set(catalog.distractors)) == len(catalog.distractors)
    assert all(p.parent == REPO / "assets" / "distractors" and p.suffix == ".ply" for p in catalog.distractors)


def test_bundled_meshes_load_and_are_sane():
    catalog = build_catalog()
    validate_catalog(catalog)
    for asset in catalog.assets:
        assert asset.path.is_absolute() and asset.path.is_file()
        assert asset.scale == 1.0
        mesh = load_mesh(asset.path)
        assert isinstance(mesh, trimesh.Trimesh)
        assert 0 < len(mesh.faces) <= 3000
        assert np.isfinite(mesh.vertices).all()
        assert mesh.is_winding_consistent and mesh.is_watertight, asset.key
        assert mesh.volume > 0, asset.key  # outward winding
        size = mesh.extents.max() * asset.scale
        assert 0.04 <= size <= 0.35, (asset.key, size)
        assert abs(mesh.bounds[0, 2]) < 1e-6, asset.key  # rests on z = 0
    for path in catalog.distractors:
        mesh = load_mesh(path)
        assert 0 < len(mesh.faces) < 2000, path.name
        assert mesh.is_winding_consistent and mesh.is_watertight, path.name
        assert mesh.volume > 0, path.name
        assert 0.1 <= mesh.extents.max() <= 0.3, path.name
        np.testing.assert_allclose(mesh.bounds.mean(axis=0), 0.0, atol=1e-9, err_msg=path.name)  # centred
    ground = load_mesh(catalog.ground)
    assert len(ground.faces) == 2
    np.testing.assert_allclose(ground.bounds, [[-0.5, -0.5, 0], [0.5, 0.5, 0]])
    np.testing.assert_allclose(ground.face_normals, [[0, 0, 1], [0, 0, 1]], atol=1e-12)


def test_no_stray_bundled_files():
    catalog = build_catalog()
    for folder, listed in (("meshes", {a.path for a in catalog.assets}), ("distractors", set(catalog.distractors))):
        on_disk = {
            p.resolve()
            for p in (REPO / "assets" / folder).rglob("*")
            if p.suffix.lower() in MESH_SUFFIXES
        }
        assert on_disk == listed, folder


def _load_script(monkeypatch):
    path = REPO / "scripts" / "make_assets.py"
    spec = importlib.util.spec_from_file_location("simgen_make_assets", path)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the class is created
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_make_assets_matches_committed(tmp_path, monkeypatch):
    script = _load_script(monkeypatch)
    script.write_assets(tmp_path)
    committed = REPO / "assets"
    assert (tmp_path / "catalog.yaml").read_text() == (committed / "catalog.yaml").read_text()
    fresh = load_catalog(tmp_path / "catalog.yaml")
    assert len(fresh.distractors) == len(load_catalog(committed / "catalog.yaml").distractors) > 0
    for new in [a.path for a in fresh.assets] + [fresh.ground, *fresh.distractors]:
        old = committed / new.relative_to(tmp_path)
        a = trimesh.load(new, force="mesh")
        b = trimesh.load(old, force="mesh")
        np.testing.assert_array_equal(a.faces, b.faces, err_msg=str(old))
        np.testing.assert_allclose(a.vertices, b.vertices, rtol=0, atol=1e-9, err_msg=str(old))


# --------------------------------------------------------------------------- user meshes


@pytest.fixture
def user_folder(tmp_path):
    folder = tmp_path / "widgets"
    _write(_box(0.1), folder / "b.obj")
    _write(trimesh.creation.icosphere(1, 0.05), folder / "A.PLY")  # upper-case suffix
    _write(trimesh.creation.cylinder(0.03, 0.1, sections=12), folder / "sub" / "c.glb")
    _write(_box(0.2), folder / "sub" / "deeper" / "d.stl")
    (folder / "notes.txt").write_text("not a mesh")
    _write(_box(), folder / ".hidden" / "x.obj")
    (folder / "._b.obj").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    return folder


def test_dirs_adds_category_sorted(user_folder):
    catalog = build_catalog(dirs={"widget": user_folder}, dir_scale=0.5)
    bundled = build_catalog()
    n = len(bundled.categories)
    assert catalog.categories[:n] == bundled.categories
    assert catalog.categories[n].name == "widget"
    assert catalog.category_id("widget") == n + 1
    assert catalog.assets[: len(bundled.assets)] == bundled.assets
    widgets = catalog.assets_of("widget")
    assert [a.key for a in widgets] == ["widget/A", "widget/b", "widget/c", "widget/d"]
    assert [a.path for a in widgets] == [
        (user_folder / rel).resolve() for rel in ("A.PLY", "b.obj", "sub/c.glb", "sub/deeper/d.stl")
    ]
    assert all(a.scale == 0.5 and a.category_id == n + 1 for a in widgets)
    validate_catalog(catalog)
    glb = load_mesh(widgets[2].path)
    assert len(glb.faces) > 0 and np.isfinite(glb.vertices).all()


def test_dirs_only_and_merge_into_existing(tmp_path, user_folder):
    alone = build_catalog(None, dirs={"widget": str(user_folder)})
    assert [c.name for c in alone.categories] == ["widget"]
    assert alone.distractors == ()  # folders bring no distractors
    assert alone.category_id("widget") == 1
    assert alone.ground == BUNDLED_GROUND
    assert all(a.scale == 1.0 for a in alone.assets)

    extra = tmp_path / "more_boxes"
    _write(_box(0.05), extra / "cube.obj")  # clashes with the bundled box/cube
    _write(_box(0.05), extra / "z" / "cube.ply")
    merged = build_catalog(dirs={"box": extra, "gizmo": user_folder})
    bundled = build_catalog()
    assert [c.name for c in merged.categories] == [c.name for c in bundled.categories] + ["gizmo"]
    assert merged.distractors == bundled.distractors
    boxes = merged.assets_of("box")
    assert [a.key for a in boxes] == [a.key for a in bundled.assets_of("box")] + [
        "box/cube_2",
        "box/cube_3",
    ]
    assert all(a.category_id == 1 for a in boxes)
    assert len({a.key for a in merged.assets}) == len(merged.assets)


def test_user_catalog_relative_paths_and_default_ground(tmp_path, monkeypatch, catalog_file):
    _write(_box(), tmp_path / "m" / "thing.obj")
    path = catalog_file(
        "categories: [thing, other]\n"
        "assets:\n"
        "  - {mesh: m/thing.obj, category: thing, scale: 0.01}\n"
        "  - {mesh: m/thing.obj, category: thing}\n"
    )
    monkeypatch.chdir(REPO)  # relative paths are relative to the catalog, not the cwd
    catalog = load_catalog(path)
    assert isinstance(catalog, Catalog)
    assert catalog.ground == BUNDLED_GROUND
    assert catalog.distractors == ()  # optional, none by default
    assert [a.key for a in catalog.assets] == ["thing/thing", "thing/thing_2"]
    assert catalog.assets[0].path == (tmp_path / "m" / "thing.obj").resolve()
    assert [a.scale for a in catalog.assets] == [0.01, 1.0]
    assert catalog.assets_of("other") == ()
    _write(trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]]), tmp_path / "g.ply")
    path = catalog_file(
        "categories: [thing]\nground: g.ply\nassets: [{mesh: m/thing.obj, category: thing}]\n"
    )
    assert load_catalog(path).ground == (tmp_path / "g.ply").resolve()
    _write(trimesh.creation.icosphere(1, 0.05), tmp_path / "junk" / "blob.ply")
    path = catalog_file(
        "categories: [thing]\ndistractors: [junk/blob.ply, m/thing.obj]\n"
        "assets: [{mesh: m/thing.obj, category: thing}]\n"
    )
    catalog = load_catalog(path)
    assert catalog.distractors == ((tmp_path / "junk" / "blob.ply").resolve(), (tmp_path / "m" / "thing.obj").resolve())
    validate_catalog(catalog)


def test_unknown_names():
    catalog = build_catalog()
    assert "nope" in _error(catalog.category_id, "nope")
    assert "nope" in _error(catalog.assets_of, "nope")
    assert catalog.asset("box/cube").category == "box"
    assert "box/nope" in _error(catalog.asset, "box/nope")


# --------------------------------------------------------------------------- errors


def test_catalog_file_errors(tmp_path, catalog_file):
    _write(_box(), tmp_path / "ok.obj")
    missing = tmp_path.resolve() / "nope.yaml"
    assert str(missing) in _error(load_catalog, missing)
    cases = {
        "categories: [a\nassets: [": "not valid YAML",
        "- just\n- a list\n": "mapping",
        "assets: []\n": "'categories'",
        "categories: []\nassets: []\n": "non-empty",
        "categories: [a, a]\nassets: []\n": "twice",
        "categories: [a]\n": "'assets'",
        "categories: [a]\nassets: []\n": "no assets",
        "categories: [a]\nassets: [{mesh: ok.obj, category: b}]\n": "'b'",
        "categories: [a]\nassets: [{mesh: ok.obj}]\n": "'category'",
        "categories: [a]\nassets: [{category: a}]\n": "'mesh'",
        "categories: [a]\nassets: [{mesh: ok.obj, category: a, sacle: 2}]\n": "'sacle'",
        "categories: [a]\nassets: [ok.obj]\n": "mapping",
        "categories: [a]\nassets: [{mesh: ok.obj, category: a, scale: 0}]\n": "scale",
        "categories: [a]\nassets: [{mesh: ok.obj, category: a, scale: -1}]\n": "scale",
        "categories: [a]\nassets: [{mesh: ok.obj, category: a, scale: big}]\n": "scale",
        "categories: [a]\nassets: [{mesh: ok.obj, category: a}]\nextra: 1\n": "'extra'",
        "categories: [a/b]\nassets: []\n": "a/b",
        "categories: [a]\ndistractors: ok.obj\nassets: [{mesh: ok.obj, category: a}]\n": "'distractors'",
        "categories: [a]\ndistractors: [5]\nassets: [{mesh: ok.obj, category: a}]\n": "distractors[0]",
        "categories: [a]\ndistractors: [gone.ply]\nassets: [{mesh: ok.obj, category: a}]\n": "gone.ply",
    }
    for i, (text, expected) in enumerate(cases.items()):
        path = catalog_file(text, name=f"c{i}.yaml")
        message = _error(load_catalog, path)
        assert str(path) in message, (text, message)
        assert expected in message, (text, message)


def test_catalog_missing_and_unsupported_mesh_files(tmp_path, catalog_file, monkeypatch):
    path = catalog_file("categories: [a]\nassets: [{mesh: gone/x.obj, category: a}]\n")
    message = _error(load_catalog, path)
    gone = (tmp_path / "gone" / "x.obj").resolve()
    assert message.startswith(f"asset file not found: {gone} (listed in {path})")
    assert message.endswith("fix the path")
    # only the bundled catalog suggests regenerating it
    monkeypatch.setitem(catalog_module.BUNDLED_CATALOGS, "bundled", path)
    assert _error(load_catalog, path).endswith(
        "fix the path or regenerate with scripts/make_assets.py"
    )
    monkeypatch.undo()
    (tmp_path / "x.fbx").write_bytes(b"fbx")
    path = catalog_file("categories: [a]\nassets: [{mesh: x.fbx, category: a}]\n")
    message = _error(load_catalog, path)
    assert "x.fbx" in message and "unsupported" in message and ".obj" in message
    path = catalog_file("categories: [a]\nground: nope.obj\nassets: []\n")
    assert "nope.obj" in _error(load_catalog, path)


def test_dirs_errors(tmp_path):
    missing = tmp_path.resolve() / "nowhere"
    message = _error(build_catalog, None, dirs={"a": missing})
    assert str(missing) in message and "not found" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no meshes here")
    message = _error(build_catalog, None, dirs={"a": empty})
    assert str(empty.resolve()) in message and "no mesh files" in message
    assert "no assets" in _error(build_catalog, None)
    ok = tmp_path / "ok"
    _write(_box(), ok / "a.obj")
    assert "scale" in _error(build_catalog, None, dirs={"a": ok}, dir_scale=0)
    assert "scale" in _error(build_catalog, None, dirs={"a": ok}, dir_scale=float("nan"))
    assert "a/b" in _error(build_catalog, None, dirs={"a/b": ok})


def test_bad_mesh_files(tmp_path):
    tmp_path = tmp_path.resolve()
    corrupt = tmp_path / "corrupt.ply"
    corrupt.write_bytes(bytes(range(256)) * 3)
    empty = tmp_path / "empty.obj"
    empty.write_text("")
    points = tmp_path / "points.obj"
    points.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    garbage_stl = tmp_path / "garbage.stl"
    garbage_stl.write_bytes(b"\x01" * 300)
    garbage_glb = tmp_path / "garbage.glb"
    garbage_glb.write_bytes(b"glTF" + b"\xff" * 100)
    degenerate = tmp_path / "degenerate.obj"
    degenerate.write_text("v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n")
    for path in (corrupt, empty, points, garbage_stl, garbage_glb, degenerate):
        message = _error(load_mesh, path)
        assert message.startswith(f"cannot load mesh {path}: "), message
    assert str(tmp_path / "nope.obj") in _error(load_mesh, tmp_path / "nope.obj")
    (tmp_path / "x.fbx").write_bytes(b"fbx")
    assert "unsupported" in _error(load_mesh, tmp_path / "x.fbx")

    # a catalog listing a corrupt mesh fails at validation, naming the file
    folder = tmp_path / "user"
    _write(_box(), folder / "good.obj")
    (folder / "bad.ply").write_bytes(b"garbage" * 50)
    catalog = build_catalog(None, dirs={"thing": folder})  # only paths are checked here
    message = _error(validate_catalog, catalog)
    assert str((folder / "bad.ply").resolve()) in message


def test_mesh_problems():
    assert "no mesh geometry" in _problem(trimesh.Scene())
    nan = trimesh.Trimesh([[0, 0, np.nan], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], process=False)
    assert "finite" in _problem(nan)
    assert "no faces" in _problem(trimesh.Trimesh())
    assert _problem(_box()) is None


def test_load_mesh_cache(tmp_path, monkeypatch):
    path = _write(_box(), tmp_path / "cached.stl")
    first = load_mesh(path)
    assert load_mesh(str(path)) is first
    monkeypatch.chdir(tmp_path)
    assert load_mesh("cached.stl") is first
    assert load_mesh(Path("./sub/../cached.stl")) is first
    clear_mesh_cache()
    again = load_mesh(path)
    assert again is not first
    np.testing.assert_array_equal(again.vertices, first.vertices)
