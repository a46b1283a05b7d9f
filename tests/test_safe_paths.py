"""A dataset given to simgen is data, confined to its folder (simgen.safe_paths): crafted paths
in meta and COCO files, symlinked files and folders, and split names that climb out end in one
line (or a validation report entry), and nothing outside the folders given is written or read."""

import json
import os
import shutil

import pytest

from simgen import SimgenError
from simgen.safe_paths import inside

pytestmark = pytest.mark.render  # uses the rendered fixture (conftest)


@pytest.fixture
def crafted(rendered, tmp_path):
    """A copy of a rendered dataset to tamper with, and a sentinel file outside it."""
    root = tmp_path / "in"
    shutil.copytree(rendered, root, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.ply").write_bytes(b"the user's file")
    return root, outside


def edit_meta(root, index, fn):
    path = root / "meta" / f"{index:06d}.json"
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta))


def one_line(e) -> str:
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("rel, why", [("/etc/passwd", "absolute"), ("models/../../outside/secret.ply", "'..'"),
                                      ("models/link/secret.ply", "symbolic link"), ("", "not a relative path"),
                                      ("C:/x.ply", "absolute"), ("models\\..\\x", "absolute")])
def test_inside_refuses_paths_out_of_the_dataset(crafted, rel, why):
    root, outside = crafted
    (root / "models" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SimgenError, match=why) as e:
        inside(root, rel, "meta/000000.json objects' mesh")
    assert "meta/000000.json" in one_line(e)
    (root / "models" / "inner").symlink_to(root / "models", target_is_directory=True)
    assert inside(root, "models/inner", "x") == root / "models" / "inner"  # a link that stays inside is fine


@pytest.mark.parametrize("mesh", ["models/../../outside/secret.ply", "models/link/secret.ply"])
def test_merge_refuses_a_mesh_path_out_of_the_dataset(crafted, tmp_path, mesh):
    from simgen.io.dataset.merge import merge

    root, outside = crafted
    (root / "models" / "link").symlink_to(outside, target_is_directory=True)
    edit_meta(root, 1, lambda m: m["objects"][0].update(mesh=mesh))
    with pytest.raises(SimgenError, match="objects' mesh") as e:
        merge(tmp_path / "out", [root])
    one_line(e)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.ply"]
    assert (outside / "secret.ply").read_bytes() == b"the user's file"


def test_merge_never_carries_a_link(crafted, tmp_path):
    from simgen.io.dataset.merge import merge

    root, outside = crafted
    (root / "images" / "000001.png").unlink()
    (root / "images" / "000001.png").symlink_to(outside / "secret.ply")
    with pytest.raises(SimgenError, match="symbolic link") as e:
        merge(tmp_path / "out", [root])
    assert "images/000001.png" in one_line(e)
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_symlink()]


def test_a_split_name_that_climbs_out_is_refused(crafted, tmp_path):
    from simgen.io.dataset.merge import merge

    root, _ = crafted
    edit_meta(root, 0, lambda m: m["coco"]["image"].setdefault("simgen", {}).update(split="../../escaped"))
    with pytest.raises(SimgenError, match="names the split '../../escaped'") as e:
        merge(tmp_path / "out", [root])
    one_line(e)
    assert not list(tmp_path.rglob("*escaped*"))


def test_inspect_and_the_torch_dataset_refuse_a_frame_file_linked_out(crafted, tmp_path):
    from simgen.report.inspect import inspect

    root, outside = crafted
    (root / "instance" / "000000.png").unlink()
    (root / "instance" / "000000.png").symlink_to(outside / "secret.ply")
    with pytest.raises(SimgenError, match="leads out through the symbolic link") as e:
        inspect(root, tmp_path / "report.html")
    one_line(e)
    from simgen.torch import dataset as torch_dataset
    with pytest.raises(SimgenError, match="leads out through the symbolic link"):
        torch_dataset.SimgenDataset(root)[0]


def test_the_torch_dataset_refuses_a_flow_path_out_of_the_dataset(crafted):
    from simgen.torch import dataset as torch_dataset
    root, outside = crafted
    edit_meta(root, 0, lambda m: m.update(flow={"forward": {"flow": "../outside/secret.ply", "valid": "x.png"}}))
    with pytest.raises(SimgenError, match="flow.forward gives the path '../outside/secret.ply'") as e:
        torch_dataset.SimgenDataset(root, extras=("flow",))[0]
    one_line(e)


def test_validate_reports_a_coco_file_name_out_of_the_dataset(crafted):
    """The file the crafted name leads to exists (the frame's own image, copied outside): the
    report names the path leaving the dataset, not a missing file."""
    from simgen.report.validate import validate

    root, outside = crafted
    shutil.copy(root / "images" / "000000.png", outside / "000000.png")
    coco = json.loads((root / "coco.json").read_text())
    coco["images"][0]["file_name"] = "images/../../outside/000000.png"
    (root / "coco.json").write_text(json.dumps(coco))
    report = validate(root)
    text = json.dumps(report.as_dict()) if hasattr(report, "as_dict") else str(report.__dict__)
    assert not report.ok and "images/../../outside/000000.png" in text and "must stay inside its folder" in text
    assert "does not exist" not in text


def test_a_coco_file_name_out_of_the_image_folder_is_refused(crafted, tmp_path):
    from simgen.torch import coco as coco_mod
    root, outside = crafted
    coco = json.loads((root / "coco.json").read_text())
    coco["images"][0]["file_name"] = str(outside / "secret.ply")
    (tmp_path / "crafted.json").write_text(json.dumps(coco))
    names = [c["name"] for c in coco["categories"]]
    with pytest.raises(SimgenError, match="is absolute") as e:
        coco_mod.CocoImages(tmp_path / "crafted.json", names, images=root)
    one_line(e)


def test_compare_refuses_a_coco_file_name_out_of_its_folder(crafted, tmp_path):
    from simgen.report.compare import compare

    root, _ = crafted
    coco = json.loads((root / "coco.json").read_text())
    for im in coco["images"]:
        im["file_name"] = "../" + im["file_name"]
    (root / "real.json").write_text(json.dumps(coco))
    with pytest.raises(SimgenError, match="climbs out") as e:
        compare(root, f"{root / 'real.json'}", tmp_path / "c.html")
    one_line(e)
    assert os.path.exists(root / "real.json")


def test_dataset_readers_measure_an_image_before_decoding_it(crafted, tmp_path):
    """inspect, compare and the torch COCO loader read images of datasets they were given: a
    decompression bomb among them is one line, never decoded."""
    import struct
    import zlib

    from simgen.report.compare import compare

    root, _ = crafted
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    bomb = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + bytes(64))
    (root / "images" / "000000.png").write_bytes(bomb)
    with pytest.raises(SimgenError, match="30000x30000") as e:
        compare(root, root, tmp_path / "c.html")
    one_line(e)
    from simgen.torch import coco as coco_mod
    names = [c["name"] for c in json.loads((root / "coco.json").read_text())["categories"]]
    with pytest.raises(SimgenError, match="30000x30000"):
        coco_mod.CocoImages(root / "coco.json", names, images=root)[0]
