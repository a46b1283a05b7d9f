"""Asset libraries and ``simgen fetch`` against a fixture server on 127.0.0.1 (nothing here reaches
the internet), and ``simgen catalog`` on GSO- and YCB-style folders.

The server answers in each API's documented shape: Poly Haven ``/assets?t=`` and ``/files/ID``
(url, size, md5 per file), ambientCG ``/full_json`` (``foundAssets`` with
``downloadFolders.default.downloadFiletypeCategories.zip.downloads``: attribute, fileName,
downloadLink, size), Gazebo Fuel ``/GoogleResearch/models`` (a list of models with
license_name, version, tags, categories) and ``/GoogleResearch/models/NAME/VERSION/NAME.zip``.
It counts requests, honours Range, and can serve slowly or serve wrong bytes.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile
from pathlib import Path

import pytest

from simgen import SimgenError
from simgen.assets import fetch as fetch_mod
from simgen.assets.catalog import load_catalog
from simgen.assets.fetch import Request, fetch, pbtxt_categories
from simgen.assets.library import (
    clear_entry_cache,
    entry_for,
    permissive_license,
    safe_extract,
    sha256_of,
)

ROOT = Path(__file__).resolve().parents[1]
OBJ = "v 0 0 0\nv 0.1 0 0\nv 0 0.1 0\nv 0 0 0.1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"


def blob(n: int, seed: int) -> bytes:
    """n pseudo-random bytes (deterministic)."""
    out, h = bytearray(), hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h
    return bytes(out[:n])


def make_zip(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, target)
    return buf.getvalue()


class Server:
    """A threaded HTTP server on 127.0.0.1: ``routes[path] = fn(query) -> (status, bytes)`` or
    bytes; ``log`` of (path, headers); ``delay`` seconds per 16 KiB chunk; ``corrupt`` paths
    answered with one byte changed."""

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.log: list[tuple[str, dict]] = []
        self.delay = 0.0
        self.corrupt: set[str] = set()
        self.truncate: set[str] = set()
        self.drop: dict[str, int] = {}
        """path -> how many more times to close the connection halfway through the body"""
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                path = urllib.parse.unquote(url.path)
                server.log.append((path, dict(self.headers)))
                route = server.routes.get(path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body = (200, route) if isinstance(route, bytes) else route(
                    dict(urllib.parse.parse_qsl(url.query)))
                if path in server.corrupt:
                    body = body[:len(body) // 2] + bytes([body[len(body) // 2] ^ 0xFF]) + body[len(body) // 2 + 1:]
                start = 0
                rng = self.headers.get("Range")
                if rng and status == 200 and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                part = body[start:]
                if path in server.truncate:
                    part = part[: len(part) // 2]
                self.send_response(status)
                self.send_header("Content-Length", str(len(part)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if server.drop.get(path, 0) > 0:
                    server.drop[path] -= 1
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                try:
                    for i in range(0, len(part), 16384):
                        self.wfile.write(part[i:i + 16384])
                        if server.delay:
                            time.sleep(server.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def json(self, path: str, fn):
        self.routes[path] = lambda q: (200, json.dumps(fn(q)).encode())

    def hits(self, prefix: str) -> list[str]:
        return [p for p, _ in self.log if p.startswith(prefix)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ----------------------------------------------------------------------------- fixture sources


def polyhaven(server: Server) -> dict[str, bytes]:
    """Poly Haven at server.url/ph (API) and server.url/dl (files): 2 HDRIs, 1 texture, 1
    model. Returns {url path: bytes} of every file."""
    files: dict[str, bytes] = {}

    def entry(path: str, data: bytes) -> dict:
        files[path] = data
        server.routes[path] = data
        return {"url": server.url + path, "md5": hashlib.md5(data).hexdigest(), "size": len(data)}

    assets = {"hdris": {}, "textures": {}, "models": {}}
    trees = {}
    for i, name in enumerate(["sunny_field", "studio_small"]):
        assets["hdris"][name] = {"name": name.replace("_", " ").title(), "type": 0, "files_hash": f"h{i}",
                                 "authors": {"Greg Zaal": "All"}, "categories": ["outdoor" if i == 0 else "studio"],
                                 "tags": ["sky"] if i == 0 else ["indoor"], "date_published": 1600000000}
        trees[name] = {"hdri": {r: {f: entry(f"/dl/HDRIs/{f}/{r}/{name}_{r}.{f}", blob(60000 + 1000 * i, hash((name, r, f))
                                                                                           % 1000))
                                     for f in ("hdr", "exr")} for r in ("1k", "2k")}}
    tex = "brick_wall_02"
    assets["textures"][tex] = {"name": "Brick Wall 02", "type": 1, "files_hash": "t0", "authors":
                               {"Rob Tuytel": "Photography", "Dimitrios Savva": "Processing"},
                               "categories": ["brick", "wall"], "tags": ["red"]}
    maps = {"Diffuse": "diff", "nor_gl": "nor_gl", "nor_dx": "nor_dx", "Rough": "rough", "Displacement": "disp",
            "AO": "ao", "arm": "arm"}
    tree: dict = {k: {"1k": {"jpg": entry(f"/dl/Textures/jpg/1k/{tex}/{tex}_{v}_1k.jpg", blob(3000, len(k))),
                             "png": entry(f"/dl/Textures/png/1k/{tex}/{tex}_{v}_1k.png", blob(5000, len(k)))}}
                  for k, v in maps.items()}
    tree["blend"] = {"1k": {"blend": entry(f"/dl/Textures/blend/1k/{tex}/{tex}_1k.blend", b"BLENDER")}}
    trees[tex] = tree
    model = "wooden_crate"
    assets["models"][model] = {"name": "Wooden Crate", "type": 2, "files_hash": "m0", "authors": {"Jorge": "All"},
                               "categories": ["props"], "tags": ["box"]}
    gltf = entry(f"/dl/Models/gltf/1k/{model}/{model}_1k.gltf", b'{"asset": {"version": "2.0"}}')
    gltf["include"] = {f"textures/{model}_diff_1k.jpg": entry(f"/dl/Models/jpg/1k/{model}/{model}_diff_1k.jpg",
                                                               blob(2000, 7)),
                       f"{model}.bin": entry(f"/dl/Models/gltf/1k/{model}/{model}.bin", blob(1500, 8))}
    trees[model] = {"gltf": {"1k": {"gltf": gltf}}}

    def listing(q):
        out = assets[q.get("t", "hdris")]
        if q.get("c"):
            out = {k: v for k, v in out.items() if q["c"] in v["categories"]}
        return out

    server.json("/ph/assets", listing)
    for name, t in trees.items():
        server.json(f"/ph/files/{name}", lambda q, t=t: t)
    return files


def ambientcg(server: Server, size_lie: dict[str, int] | None = None) -> dict[str, bytes]:
    """ambientCG at server.url/acg/api/v2; downloads at /acg/get/NAME.zip. Returns {id: zip bytes}."""
    zips, found = {}, []
    for i, aid in enumerate(["Bricks075A", "Wood049", "Metal012"]):
        downloads = []
        for res in ("1K", "2K"):
            for fmt in ("JPG", "PNG"):
                attr = f"{res}-{fmt}"
                ext = fmt.lower()
                members = {f"{aid}_{attr}_{m}.{ext}": blob(1000 + 10 * j, hash((aid, attr, m)) % 997)
                           for j, m in enumerate(["Color", "NormalGL", "NormalDX", "Roughness", "Displacement",
                                                  "AmbientOcclusion"])}
                members[f"{aid}.png"] = b"preview"
                data = make_zip(members)
                name = f"{aid}_{attr}.zip"
                server.routes[f"/acg/get/{name}"] = data
                if attr == "1K-JPG":
                    zips[aid] = data
                size = (size_lie or {}).get(aid, len(data)) if attr == "1K-JPG" else len(data)
                downloads.append({"attribute": attr, "fileName": name, "size": size, "fileType": "zip",
                                  "downloadLink": f"{server.url}/acg/get/{name}",
                                  "rawLink": f"{server.url}/acg/get/{name}"})
        found.append({"assetId": aid, "displayName": aid, "displayCategory": ["Bricks", "Wood", "Metal"][i],
                      "dataType": "Material", "releaseDate": f"2021-0{i + 1}-01 00:00:00",
                      "tags": ["red", "brick"] if i == 0 else ["wood"] if i == 1 else ["metal"],
                      "shortLink": f"https://ambientcg.com/a/{aid}",
                      "downloadFolders": {"default": {"downloadFiletypeCategories": {"zip": {"downloads": downloads}}}}})

    def full_json(q):
        out = found
        if "id" in q:
            out = [a for a in out if a["assetId"] == q["id"]]
        if q.get("category"):
            out = [a for a in out if a["displayCategory"] == q["category"]]
        off, lim = int(q.get("offset", 0)), int(q.get("limit", 100))
        return {"numberOfResults": len(out), "foundAssets": out[off:off + lim]}

    server.json("/acg/api/v2/full_json", full_json)
    return zips


PBTXT = '''name: "{name}"
version: 1
authors {{
  name: "Google"
  email: "scanned-objects@google.com"
}}
legal {{
  copyright: "Copyright 2020 Google LLC"
  license: "CC-BY 4.0"
}}
annotations {{
  key: "category"
  value: "{category}"
}}
'''


def gso_zip(name: str, category: str | None) -> bytes:
    members = {"meshes/model.obj": ("mtllib model.mtl\nusemtl material_0\n" + OBJ).encode(),
               "meshes/model.mtl": b"newmtl material_0\nmap_Kd ../materials/textures/texture.png\n",
               "materials/textures/texture.png": blob(4000, hash(name) % 1000),
               "model.config": b"<?xml version='1.0'?><model><name>x</name></model>",
               "model.sdf": b"<sdf version='1.6'></sdf>",
               "thumbnails/0.jpg": blob(500, 3)}
    if category:
        members["metadata.pbtxt"] = PBTXT.format(name=name, category=category).encode()
    return make_zip(members)


def gso(server: Server, extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Fuel at server.url/fuel/1.0 with 3 GSO models (one NonCommercial). Returns {name: zip}."""
    models, zips = [], {}
    spec = [("Squirrel", "Toys", "Creative Commons - Attribution"),
            ("Sootheze_Cold_Therapy_Elephant", None, "Creative Commons - Attribution"),
            ("Not_Free_Mug", "Kitchen", "Creative Commons - Attribution - Non Commercial")]
    for name, cat, lic in spec:
        data = (extra or {}).get(name) or gso_zip(name, cat)
        zips[name] = data
        server.routes[f"/fuel/1.0/GoogleResearch/models/{name}/2/{name}.zip"] = data
        m = {"name": name, "owner": "GoogleResearch", "license_name": lic,
             "license_url": "https://creativecommons.org/licenses/by/4.0/", "tags": ["scanned"],
             "categories": [], "modify_date": "2022-06-02T00:00:00Z", "filesize": len(data)}
        models.append(m)  # as Fuel lists models: no version; the model's own endpoint has it
        server.json(f"/fuel/1.0/GoogleResearch/models/{name}", lambda q, m=m: {**m, "version": 2})

    def page(q):
        p, n = int(q.get("page", 1)), int(q.get("per_page", 20))
        return models[(p - 1) * n: p * n]

    server.json("/fuel/1.0/GoogleResearch/models", page)
    return zips


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def run_fetch(server, tmp_path, source, kind, *args, lib=None, **kw) -> tuple[int, str, str]:
    """``simgen fetch`` in this process (fast); (exit status, stdout, stderr)."""
    from simgen.cli import fetch_main

    api = {"polyhaven": "/ph", "ambientcg": "/acg/api/v2", "gso": "/fuel/1.0"}.get(source, "/none")
    argv = [source, kind, "--library", str(lib or tmp_path / "lib"), "--api-url", server.url + api, *args]
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    code = 0
    try:
        fetch_main(argv)
    except SystemExit as e:
        code = e.code or 0
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def manifest(lib: Path) -> dict:
    return json.loads((lib / "manifest.json").read_text())


def assert_entry_matches_folder(lib: Path, key: str) -> dict:
    folder = lib / key
    entry = json.loads((folder / "entry.json").read_text())
    assert entry["key"] == key and manifest(lib)["entries"][key] == entry
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                     and p.name != "entry.json")
    assert sorted(entry["files"]) == on_disk
    for rel, info in entry["files"].items():
        assert info == {"size": (folder / rel).stat().st_size, "sha256": sha256_of(folder / rel)}
    for k in ("kind", "source", "id", "name", "version", "license", "attribution", "url", "resolution", "tags",
              "categories", "fetched"):
        assert k in entry, k
    return entry


# ----------------------------------------------------------------------------- first fetches


def test_polyhaven_hdris_first_fetch(server, tmp_path):
    files = polyhaven(server)
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--count", "2")
    assert code == 0, err
    lib = tmp_path / "lib"
    m = manifest(lib)
    assert m["format"] == "simgen-library" and m["version"] == 1
    assert sorted(m["entries"]) == ["hdris/polyhaven/studio_small", "hdris/polyhaven/sunny_field"]
    e = assert_entry_matches_folder(lib, "hdris/polyhaven/sunny_field")
    assert list(e["files"]) == ["sunny_field_1k.hdr"]
    assert (lib / e["key"] / "sunny_field_1k.hdr").read_bytes() == files["/dl/HDRIs/hdr/1k/sunny_field_1k.hdr"]
    assert e["license"] == "CC0-1.0" and e["version"] == "h0" and e["url"] == "https://polyhaven.com/a/sunny_field"
    assert e["attribution"]["authors"] == ["Greg Zaal"] and e["resolution"] == "1k"
    assert "downloaded 2 asset(s)" in out and "failed 0" in out and "Powered by Poly Haven" in out
    agents = {h.get("User-Agent") for _, h in server.log}
    assert agents == {f"simgen/{__import__('simgen').__version__} (+asset fetcher)"}
    assert not list(lib.rglob("*.part"))


def test_polyhaven_hdri_exr_2k_and_category(server, tmp_path):
    files = polyhaven(server)
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--count", "5", "--category", "studio",
                               "--resolution", "2K", "--format", "exr")
    assert code == 0, err
    lib = tmp_path / "lib"
    assert list(manifest(lib)["entries"]) == ["hdris/polyhaven/studio_small"]
    p = lib / "hdris/polyhaven/studio_small/studio_small_2k.exr"
    assert p.read_bytes() == files["/dl/HDRIs/exr/2k/studio_small_2k.exr"]
    assert "lists only 1" in err


def test_polyhaven_textures_keep_the_source_names(server, tmp_path):
    polyhaven(server)
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "textures", "--ids", "brick_wall_02")
    assert code == 0, err
    e = assert_entry_matches_folder(tmp_path / "lib", "materials/polyhaven/brick_wall_02")
    assert sorted(e["files"]) == sorted(f"brick_wall_02_{m}_1k.jpg" for m in
                                        ("diff", "nor_gl", "nor_dx", "rough", "disp", "ao", "arm"))
    assert e["attribution"]["authors"] == ["Rob Tuytel (Photography)", "Dimitrios Savva (Processing)"]
    assert not server.hits("/dl/Textures/blend")


def test_polyhaven_model_with_its_textures(server, tmp_path):
    polyhaven(server)
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "models", "--count", "1")
    assert code == 0, err
    e = assert_entry_matches_folder(tmp_path / "lib", "models/polyhaven/wooden_crate")
    assert sorted(e["files"]) == ["textures/wooden_crate_diff_1k.jpg", "wooden_crate.bin", "wooden_crate_1k.gltf"]


def test_ambientcg_materials_unpacked_and_checked(server, tmp_path):
    zips = ambientcg(server)
    code, out, err = run_fetch(server, tmp_path, "ambientcg", "materials", "--count", "2", "--jobs", "2")
    assert code == 0, err
    lib = tmp_path / "lib"
    assert sorted(manifest(lib)["entries"]) == ["materials/ambientcg/Bricks075A", "materials/ambientcg/Wood049"]
    e = assert_entry_matches_folder(lib, "materials/ambientcg/Bricks075A")
    with zipfile.ZipFile(io.BytesIO(zips["Bricks075A"])) as z:
        assert sorted(e["files"]) == sorted(z.namelist())
        for name in z.namelist():
            assert (lib / e["key"] / name).read_bytes() == z.read(name)
    assert "Bricks075A_1K-JPG_NormalGL.jpg" in e["files"] and not list(lib.rglob("*.zip"))
    assert e["resolution"] == "1K-JPG" and e["license"] == "CC0-1.0" and e["categories"] == ["Bricks"]


def test_pbtxt_categories_in_each_form_gso_writes():
    text = ('name: "x"\ncategories: "Toys"\ncategories {\n  first: "Consumer Goods"\n}\n'
            'annotations {\n  key: "category"\n  value: "Kitchen"\n}\nannotations {\n  key: "color"\n  value: "red"\n}\n')
    assert pbtxt_categories(text) == ["Toys", "Consumer Goods", "Kitchen"]


def test_gso_models_with_attribution_and_categories(server, tmp_path):
    gso(server)
    code, out, err = run_fetch(server, tmp_path, "gso", "models", "--ids", "Squirrel")
    assert code == 0, err
    e = assert_entry_matches_folder(tmp_path / "lib", "models/gso/Squirrel")
    assert "meshes/model.obj" in e["files"] and "materials/textures/texture.png" in e["files"]
    assert e["license"] == "CC-BY-4.0" and e["attribution"]["required"] is True
    assert "Google Scanned Objects" in e["attribution"]["text"] and "Squirrel" in e["attribution"]["text"]
    assert e["categories"] == ["Toys"] and e["version"].startswith("2 ")
    assert server.hits("/fuel/1.0/GoogleResearch/models/Squirrel/2/Squirrel.zip")


# ----------------------------------------------------------------------------- skips, resumes, failures


def test_second_run_downloads_nothing(server, tmp_path):
    polyhaven(server)
    ambientcg(server)
    for source, kind, args in [("polyhaven", "hdris", ["--count", "2"]), ("polyhaven", "textures", ["--count", "1"]),
                               ("ambientcg", "materials", ["--count", "2"])]:
        assert run_fetch(server, tmp_path, source, kind, *args)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "lib").rglob("*") if p.is_file()}
    server.log.clear()
    for source, kind, args in [("polyhaven", "hdris", ["--count", "2"]), ("polyhaven", "textures", ["--count", "1"]),
                               ("ambientcg", "materials", ["--count", "2"])]:
        code, out, err = run_fetch(server, tmp_path, source, kind, *args)
        assert code == 0 and "nothing to download" in out, out + err
    assert not server.hits("/dl/") and not server.hits("/acg/get/")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "lib").rglob("*") if p.is_file()} == before
    server.log.clear()  # named ids already there: not even the API is asked
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--ids", "sunny_field,studio_small")
    assert code == 0 and "nothing to download" in out and server.log == [] and "warning" not in err
    # asked at another resolution: kept (one set per folder), said in one warning line
    code, out, err = run_fetch(server, tmp_path, "ambientcg", "materials", "--count", "2", "--resolution", "2k")
    assert code == 0 and "nothing to download" in out and not server.hits("/acg/get/")
    assert len(err.strip().splitlines()) == 1 and "Bricks075A (1K-JPG jpg)" in err and "2K-JPG" in err


def test_a_missing_file_is_fetched_again(server, tmp_path):
    polyhaven(server)
    assert run_fetch(server, tmp_path, "polyhaven", "textures", "--count", "1")[0] == 0
    folder = tmp_path / "lib/materials/polyhaven/brick_wall_02"
    (folder / "brick_wall_02_rough_1k.jpg").unlink()
    server.log.clear()
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "textures", "--count", "1")
    assert code == 0, err
    assert server.hits("/dl/") == ["/dl/Textures/jpg/1k/brick_wall_02/brick_wall_02_rough_1k.jpg"]
    assert_entry_matches_folder(tmp_path / "lib", "materials/polyhaven/brick_wall_02")


def test_corrupt_download_detected(server, tmp_path):
    polyhaven(server)
    server.corrupt.add("/dl/HDRIs/hdr/1k/sunny_field_1k.hdr")
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--count", "2")
    assert code == 1
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "hdris/polyhaven/sunny_field" in lines[0] and "md5" in lines[0], err
    folder = tmp_path / "lib/hdris/polyhaven/sunny_field"
    assert not (folder / "entry.json").exists() and not list(folder.iterdir())
    assert "hdris/polyhaven/sunny_field" not in manifest(tmp_path / "lib")["entries"]
    assert (tmp_path / "lib/hdris/polyhaven/studio_small/entry.json").is_file()  # the other one completed
    assert "failed 1" in out
    server.corrupt.clear()  # the same command again repairs it
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--count", "2")
    assert code == 0 and "downloaded 1" in out and "skipped 1" in out
    assert_entry_matches_folder(tmp_path / "lib", "hdris/polyhaven/sunny_field")


def test_truncated_and_wrong_size_zips_detected(server, tmp_path):
    ambientcg(server, size_lie={"Wood049": 123})
    server.truncate.add("/acg/get/Bricks075A_1K-JPG.zip")
    code, out, err = run_fetch(server, tmp_path, "ambientcg", "materials", "--count", "2")
    assert code == 1
    lines = sorted(ln for ln in err.splitlines() if "error" in ln)
    assert len(lines) == 2 and "Bricks075A" in lines[0] and "Wood049" in lines[1] and "expected 123" in lines[1]
    for aid in ("Bricks075A", "Wood049"):
        assert not list((tmp_path / "lib/materials/ambientcg" / aid).iterdir())


def test_dropped_connections_are_resumed(server, tmp_path):
    """A connection closed halfway: retried at once from where it stopped (Range); when it keeps
    failing, the partial file stays for the next run, which finishes it."""
    files = polyhaven(server)
    path = "/dl/HDRIs/hdr/1k/sunny_field_1k.hdr"
    server.drop[path] = 1
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--ids", "sunny_field")
    assert code == 0, err
    half = len(files[path]) // 2
    assert [h.get("Range") for p, h in server.log if p == path] == [None, f"bytes={half}-"]
    assert (tmp_path / "lib/hdris/polyhaven/sunny_field/sunny_field_1k.hdr").read_bytes() == files[path]
    server.log.clear()
    path = "/dl/HDRIs/hdr/1k/studio_small_1k.hdr"
    server.drop[path] = 99
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--ids", "studio_small")
    assert code == 1 and "studio_small" in err and "run again" in err
    part = tmp_path / "lib/hdris/polyhaven/studio_small/studio_small_1k.hdr.part"
    assert 0 < part.stat().st_size < len(files[path])
    had = part.stat().st_size
    server.drop.clear()
    server.log.clear()
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--ids", "studio_small")
    assert code == 0, err
    assert [h.get("Range") for p, h in server.log if p == path] == [f"bytes={had}-"]
    assert (part.parent / "studio_small_1k.hdr").read_bytes() == files[path] and not part.exists()


def test_corrupt_zip_content_detected(server, tmp_path):
    """A zip whose size is right but whose bytes are not: its CRCs catch it while unpacking."""
    zips = gso(server)
    data = bytearray(zips["Squirrel"])
    name = b"materials/textures/texture.png"
    i = data.index(name) + len(name) + 1000  # inside the texture's data (its local header comes first)
    data[i] ^= 0xFF
    server.routes["/fuel/1.0/GoogleResearch/models/Squirrel/2/Squirrel.zip"] = bytes(data)
    code, out, err = run_fetch(server, tmp_path, "gso", "models", "--ids", "Squirrel")
    assert code == 1 and "models/gso/Squirrel" in err and ("corrupt" in err or "zip" in err), err
    assert not (tmp_path / "lib/models/gso/Squirrel/entry.json").exists()


def test_unknown_asset_named_in_one_line(server, tmp_path):
    polyhaven(server)
    ambientcg(server)
    gso(server)
    for source, kind, ids, bad in [("polyhaven", "hdris", "sunny_field,no_such_sky", "no_such_sky"),
                                   ("ambientcg", "materials", "Nope001", "Nope001"),
                                   ("gso", "models", "Squirrel,Unicorn", "Unicorn")]:
        server.log.clear()
        code, out, err = run_fetch(server, tmp_path, source, kind, "--ids", ids)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert err.startswith("simgen fetch: error: ") and bad in err and "Traceback" not in err
        assert not server.hits("/dl/") and not server.hits("/acg/get/") and not [
            p for p in server.hits("/fuel/") if p.endswith(".zip")]
    assert not (tmp_path / "lib" / "manifest.json").exists()


def test_usage_errors_are_one_line(server, tmp_path):
    for args in (["poly", "hdris", "--count", "1"], ["polyhaven", "hdri", "--count", "1"], ["polyhaven", "hdris"],
                 ["polyhaven", "hdris", "--count", "1", "--resolution", "3k"],
                 ["polyhaven", "hdris", "--count", "1", "--format", "png"],
                 ["gso", "models", "--count", "1", "--resolution", "1k"],
                 ["polyhaven", "hdris", "--ids", "../etc"]):
        code, out, err = run_fetch(server, tmp_path, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "simgen fetch: error:" in err, (args, err)
    assert not server.log
    busy = tmp_path / "home"
    busy.mkdir()
    (busy / "thesis.tex").write_text("x")
    code, out, err = run_fetch(server, tmp_path, "polyhaven", "hdris", "--count", "1", lib=busy)
    assert code == 2 and "not an asset library" in err and sorted(os.listdir(busy)) == ["thesis.tex"]
    assert not server.log


def test_non_permissive_licence_refused(server, tmp_path):
    gso(server)
    code, out, err = run_fetch(server, tmp_path, "gso", "models", "--ids", "Not_Free_Mug")
    assert code == 2 and "Not_Free_Mug" in err and "licence" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_fetch(server, tmp_path, "gso", "models", "--count", "5")
    assert code == 0, err
    assert sorted(manifest(tmp_path / "lib")["entries"]) == ["models/gso/Sootheze_Cold_Therapy_Elephant",
                                                             "models/gso/Squirrel"]
    assert "Not_Free_Mug" in err and "refused" in out
    assert not [p for p in server.hits("/fuel/") if "Not_Free_Mug" in p and p.endswith(".zip")]
    listed = manifest(tmp_path / "lib")["entries"]["models/gso/Squirrel"]  # found by the listing, not by id
    assert listed["version"].startswith("2 ") and server.hits("/fuel/1.0/GoogleResearch/models/Squirrel/2/Squirrel.zip")
    assert permissive_license("Creative Commons Attribution 4.0 International") == "CC-BY-4.0"
    assert permissive_license("CC0") == "CC0-1.0"
    for bad in ("CC BY-NC 4.0", "Creative Commons - Attribution - Share Alike", "CC-BY-ND", "proprietary", None):
        assert permissive_license(bad) is None, bad


def test_zip_members_leaving_the_folder_are_refused(server, tmp_path):
    for members, links in [({"../evil.txt": b"x", "ok.txt": b"y"}, None), ({"/abs/evil.txt": b"x"}, None),
                           ({"a/../../evil.txt": b"x"}, None), ({"ok.txt": b"y"}, {"link": "/etc/passwd"})]:
        z = tmp_path / "t.zip"
        z.write_bytes(make_zip(members, links))
        dest = tmp_path / "dest"
        with pytest.raises(SimgenError, match="refused"):
            safe_extract(z, dest)
        assert not dest.exists() and not (tmp_path / "evil.txt").exists()
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(make_zip({"zeros.bin": bytes(2_000_000)}))
    with pytest.raises(SimgenError, match="more than"):
        safe_extract(bomb, tmp_path / "b", max_bytes=1_000_000)
    # end to end: a GSO zip with ../evil is refused, nothing written outside, no entry
    gso(server, extra={"Squirrel": make_zip({"meshes/model.obj": OBJ.encode(), "../evil.txt": b"x"})})
    code, out, err = run_fetch(server, tmp_path, "gso", "models", "--ids", "Squirrel")
    assert code == 1 and "refused" in err and "evil" in err
    assert not (tmp_path / "lib/models/gso/evil.txt").exists() and not list(tmp_path.rglob("evil.txt"))
    assert not (tmp_path / "lib/models/gso/Squirrel/entry.json").exists()


def test_killed_fetch_resumes_with_range(server, tmp_path):
    """`python -m simgen.cli fetch` killed with SIGKILL mid-download; the same command again
    completes, asks only for the bytes it lacked and gives the same files."""
    files = polyhaven(server)
    big = "/dl/HDRIs/hdr/1k/sunny_field_1k.hdr"
    data = blob(1_500_000, 42)
    files[big] = data
    server.routes[big] = data
    tree = {"hdri": {"1k": {"hdr": {"url": server.url + big, "md5": hashlib.md5(data).hexdigest(),
                                    "size": len(data)}}}}
    server.json("/ph/files/sunny_field", lambda q: tree)
    server.delay = 0.02  # ~0.8 MB/s
    lib = tmp_path / "lib"
    cmd = [sys.executable, "-m", "simgen.cli", "fetch", "polyhaven", "hdris", "--library", str(lib), "--api-url",
           server.url + "/ph", "--count", "2", "--jobs", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = lib / "hdris/polyhaven/sunny_field/sunny_field_1k.hdr.part"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (part.exists() and part.stat().st_size > 200_000):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    proc.stderr.close()
    had = part.stat().st_size
    assert 200_000 <= had < len(data) and not (part.parent / "entry.json").exists()
    server.delay = 0.0
    server.log.clear()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ranges = [h.get("Range") for p, h in server.log if p == big]
    assert ranges == [f"bytes={had}-"]
    assert (part.parent / "sunny_field_1k.hdr").read_bytes() == data and not part.exists()
    assert_entry_matches_folder(lib, "hdris/polyhaven/sunny_field")
    assert_entry_matches_folder(lib, "hdris/polyhaven/studio_small")
    assert "downloaded" in done.stdout


def test_ctrl_c_stops_at_once_and_keeps_the_partial_file(server, tmp_path):
    polyhaven(server)
    big = "/dl/HDRIs/hdr/1k/sunny_field_1k.hdr"
    data = blob(2_000_000, 43)
    server.routes[big] = data
    tree = {"hdri": {"1k": {"hdr": {"url": server.url + big, "md5": hashlib.md5(data).hexdigest(),
                                    "size": len(data)}}}}
    server.json("/ph/files/sunny_field", lambda q: tree)
    server.delay = 0.02
    lib = tmp_path / "lib"
    cmd = [sys.executable, "-m", "simgen.cli", "fetch", "polyhaven", "hdris", "--library", str(lib), "--api-url",
           server.url + "/ph", "--ids", "sunny_field"]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    part = lib / "hdris/polyhaven/sunny_field/sunny_field_1k.hdr.part"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (part.exists() and part.stat().st_size > 100_000):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)  # a hang guard: it stops in well under a second
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    # at once, not after the rest of the download (~1.5 s more at this rate): the part file is
    # still short and no entry was written, however long the machine took to deliver the signal
    assert 100_000 <= part.stat().st_size < len(data) and not (part.parent / "entry.json").exists()


def test_two_fetches_into_one_library_keep_every_entry(server, tmp_path):
    polyhaven(server)
    ambientcg(server)
    gso(server)
    lib = tmp_path / "lib"
    results = []
    jobs = [("polyhaven", "hdris", "/ph"), ("ambientcg", "materials", "/acg/api/v2"), ("gso", "models", "/fuel/1.0"),
            ("polyhaven", "textures", "/ph")]
    threads = [threading.Thread(target=lambda s=s, k=k, a=a: results.append(
        fetch(s, k, lib, Request(k, count=3), api_url=server.url + a, stream=io.StringIO()))) for s, k, a in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not r.failed for r in results)
    assert len(manifest(lib)["entries"]) == 2 + 3 + 2 + 1
    # and across processes: a second process adds to the same manifest under the lock
    code = subprocess.run([sys.executable, "-c", "import sys; from simgen.assets.library import Library; "
                           "L = Library(sys.argv[1]); [L.update_manifest([{'key': f'models/x/{i}'}]) for i in range(20)]",
                           str(lib)], env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60).returncode
    assert code == 0 and len(manifest(lib)["entries"]) == 8 + 20


# ----------------------------------------------------------------------------- entry_for


def test_entry_for(server, tmp_path):
    gso(server)
    polyhaven(server)
    assert run_fetch(server, tmp_path, "gso", "models", "--ids", "Squirrel")[0] == 0
    assert run_fetch(server, tmp_path, "polyhaven", "hdris", "--count", "1")[0] == 0
    lib = tmp_path / "lib"
    clear_entry_cache()
    e = entry_for(lib / "models/gso/Squirrel/materials/textures/texture.png")
    assert e == {"library": str(lib), "key": "models/gso/Squirrel", "kind": "models", "source": "gso",
                 "id": "Squirrel", "version": e["version"], "license": "CC-BY-4.0",
                 "attribution": json.loads((lib / "models/gso/Squirrel/entry.json").read_text())["attribution"]}
    assert entry_for(lib / "models/gso/Squirrel/meshes/model.obj")["key"] == "models/gso/Squirrel"
    assert entry_for(str(lib / "hdris/polyhaven/sunny_field/sunny_field_1k.hdr"))["license"] == "CC0-1.0"
    assert entry_for(lib / "manifest.json") is None and entry_for(tmp_path / "elsewhere.png") is None
    # a link inside the library to a file outside belongs to no entry; nor does a linked folder
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.png").write_bytes(b"x")
    (lib / "models/gso/Squirrel/link.png").symlink_to(outside / "x.png")
    (lib / "models/gso/Squirrel/linkdir").symlink_to(outside)
    assert entry_for(lib / "models/gso/Squirrel/link.png") is None
    assert entry_for(lib / "models/gso/Squirrel/linkdir/x.png") is None
    # an entry.json above the library's manifest folder is not reached
    (tmp_path / "entry.json").write_text(json.dumps({"key": "x"}))
    assert entry_for(lib / "hdris/polyhaven/notthere.hdr") is None
    # cached per folder: a second look-up reads nothing (the entry.json gone, it still answers),
    # until clear_entry_cache()
    squirrel = entry_for(lib / "models/gso/Squirrel/meshes/model.obj")
    entry_json = lib / "models/gso/Squirrel/entry.json"
    kept = entry_json.read_bytes()
    entry_json.unlink()
    assert entry_for(lib / "models/gso/Squirrel/meshes/model.obj") == squirrel
    assert entry_for(lib / "models/gso/Squirrel/materials/textures/texture.png") == squirrel
    clear_entry_cache()
    assert entry_for(lib / "models/gso/Squirrel/meshes/model.obj") is None
    entry_json.write_bytes(kept)
    clear_entry_cache()


# ----------------------------------------------------------------------------- catalogs


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``simgen ARGS`` in the worker's served child (conftest.simgen_cli: its stdout and stderr as a
    process of its own writes them, without a process start of 3-4 s CPU each)."""
    from conftest import simgen_cli

    return simgen_cli(*args, cwd=ROOT)


def test_catalog_from_a_fetched_gso_library(server, tmp_path):
    from simgen.cli import catalog_main

    gso(server)
    assert run_fetch(server, tmp_path, "gso", "models", "--count", "5")[0] == 0
    out = tmp_path / "cat" / "gso.yaml"
    catalog_main([str(tmp_path / "lib"), "--out", str(out)])  # the elephant has no category: left out
    cat = load_catalog(out)
    assert cat.category_names == ("Toys",) and len(cat.assets) == 1
    assert cat.assets[0].path == (tmp_path / "lib/models/gso/Squirrel/meshes/model.obj").resolve()
    assert cat.assets[0].scale == 1.0
    text = out.read_text()
    assert "../lib/models/gso/Squirrel/meshes/model.obj" in text and "CC BY 4.0" in text
    mapping = tmp_path / "map.yaml"
    mapping.write_text("toy: [Squirrel]\nelephant: ['Sootheze_*']\n")
    r = _cli("catalog", str(tmp_path / "lib"), "--out", str(out), "--categories", str(mapping), "--scale", "0.5")
    assert r.returncode == 0, r.stderr
    cat = load_catalog(out)
    assert cat.category_names == ("toy", "elephant") and {a.scale for a in cat.assets} == {0.5}


def test_catalog_from_gso_and_ycb_folders(tmp_path):
    gso_dir = tmp_path / "gso"
    for name, cat in [("Squirrel", "Toys"), ("Mug_A", "Kitchen"), ("Bare", None)]:
        with zipfile.ZipFile(io.BytesIO(gso_zip(name, cat))) as z:
            z.extractall(gso_dir / name)
    out = tmp_path / "gso.yaml"
    r = _cli("catalog", str(gso_dir), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "warning" in r.stderr and "Bare" in r.stderr
    cat = load_catalog(out)
    assert cat.category_names == ("Kitchen", "Toys")
    assert sorted(a.path.parent.parent.name for a in cat.assets) == ["Mug_A", "Squirrel"]
    r = _cli("catalog", str(gso_dir), "--out", str(out), "--default-category", "misc")
    assert r.returncode == 0 and not r.stderr.strip()
    assert load_catalog(out).category_names == ("Kitchen", "misc", "Toys")  # the mapping's order, then by name

    ycb = tmp_path / "ycb"
    for i in ("002_master_chef_can", "003_cracker_box", "011_banana"):
        (ycb / i / "google_16k").mkdir(parents=True)
        (ycb / i / "google_16k" / "textured.obj").write_text(OBJ)
    mapping = tmp_path / "ycb_map.yaml"
    mapping.write_text("can: ['*_can']\nbox: ['*_box']\nfruit: [011_banana]\n")
    out = tmp_path / "sub" / "ycb.yaml"
    r = _cli("catalog", str(ycb), "--out", str(out), "--categories", str(mapping))
    assert r.returncode == 0, r.stderr
    cat = load_catalog(out)
    assert cat.category_names == ("can", "box", "fruit")
    assert {a.category: a.path.parent.parent.name for a in cat.assets} == {
        "can": "002_master_chef_can", "box": "003_cracker_box", "fruit": "011_banana"}
    assert "../ycb/002_master_chef_can/google_16k/textured.obj" in out.read_text()
    from simgen.assets.meshes import load_mesh

    assert load_mesh(cat.assets[0].path).extents.max() == pytest.approx(0.1)  # metres, as written
    r = _cli("catalog", str(ycb), "--out", str(out))  # YCB has no metadata: no category, nothing listed
    assert r.returncode == 2 and "simgen catalog: error:" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_fetcher_is_the_only_downloader():
    """Nothing else in simgen opens URLs: rendering reads the library folder."""
    client = ROOT / "simgen" / "assets" / "fetch" / "client.py"  # the fetcher's HTTP client
    users = []
    for p in (ROOT / "simgen").rglob("*.py"):
        text = p.read_text()
        if ("urllib.request" in text or "urlopen" in text or "http.client" in text) and p != client:
            users.append(str(p.relative_to(ROOT)))
    assert users == []
    assert fetch_mod.USER_AGENT.startswith("simgen/")


@pytest.mark.render
def test_frames_and_dataset_json_name_the_library_entries_they_drew(tmp_path):
    """Models and an HDRI from a library (entry.json beside them): each frame's meta names the
    entries it drew (key, source, id, version, licence, attribution) and dataset.json every entry
    drawn by the runs into the folder, a later run's added to an earlier one's (seed 2 draws the
    ball for frames 0 and 1 and the box for frame 2: the box comes with the second run, the ball
    stays from the first), and an HDRI and a PBR set from LIB/hdris and LIB/materials, searched
    recursively."""
    import shutil

    import trimesh
    from omegaconf import OmegaConf

    from simgen.compose.store import compose
    from simgen.pipeline import run
    from simgen.compose.settings import to_settings

    repo = Path(__file__).resolve().parents[1]
    lib = tmp_path / "lib"
    for kind, source, asset, license_ in (("models", "test", "box", "CC-BY-4.0"), ("models", "test", "ball", "CC0-1.0"),
                                          ("hdris", "test", "sky", "CC0-1.0")):
        folder = lib / kind / source / asset
        folder.mkdir(parents=True)
        (folder / "entry.json").write_text(json.dumps({
            "key": f"{kind}/{source}/{asset}", "kind": kind, "source": source, "id": asset, "version": "v7",
            "license": license_, "attribution": {"authors": ["A. Author"], "text": "by A. Author", "required": True}}))
    (lib / "manifest.json").write_text(json.dumps({"format": "simgen-library", "version": 1, "entries": {}}))
    trimesh.creation.box(extents=(0.1, 0.1, 0.1)).apply_translation([0, 0, 0.05]).export(
        lib / "models/test/box/box.ply")
    trimesh.creation.icosphere(radius=0.05).apply_translation([0, 0, 0.05]).export(lib / "models/test/ball/ball.ply")
    shutil.copy(repo / "assets/hdri/default_sky.hdr", lib / "hdris/test/sky/sky.hdr")
    (tmp_path / "catalog.yaml").write_text(
        f"categories: [box, ball]\nassets:\n  - mesh: {lib / 'models/test/box/box.ply'}\n    category: box\n"
        f"  - mesh: {lib / 'models/test/ball/ball.ply'}\n    category: ball\n")
    out = tmp_path / "out"

    def render(*extra: str) -> None:
        cfg = compose([
            "render.width=48", "render.height=32", "render.samples=1", "render.device=cpu", "seed=2",
            f"objects.catalog={tmp_path / 'catalog.yaml'}", "objects.count=[1,1]", f"output.dir={out}", *extra])
        run(to_settings(cfg), OmegaConf.to_container(cfg, resolve=True))

    def drawn(index: int) -> list[str]:
        return [e["key"] for e in json.loads((out / "meta" / f"{index:06d}.json").read_text())["library"]]

    def recorded() -> list[str]:
        return [e["key"] for e in json.loads((out / "dataset.json").read_text())["library"]]

    render("frames=2")  # the ground light is uniform: only the models are library entries
    assert drawn(0) == drawn(1) == ["models/test/ball"] and recorded() == ["models/test/ball"]
    render("start=2", "frames=1")  # the same config, one more frame: its entry is added
    assert drawn(2) == ["models/test/box"]
    box = json.loads((out / "meta" / "000002.json").read_text())["library"][0]
    assert box["version"] == "v7" and box["license"] == "CC-BY-4.0" and box["attribution"]["text"] == "by A. Author"
    assert recorded() == ["models/test/ball", "models/test/box"]
    folder = lib / "materials" / "test" / "tiles"
    shutil.copytree(repo / "assets" / "materials" / "SimgenTiles001", folder)
    (folder / "entry.json").write_text(json.dumps({"key": "materials/test/tiles", "kind": "materials",
                                                   "source": "test", "id": "tiles", "license": "CC0-1.0"}))
    render("start=2", "frames=1", "lighting=hdri", f"lighting.hdri_dir={lib / 'hdris'}", "materials=pbr",
           f"materials.pbr_dir={lib / 'materials'}", "output.overwrite=true")
    keys = drawn(2)
    assert keys[:2] == ["hdris/test/sky", "materials/test/tiles"] and len(keys) == 3 and keys[2].startswith("models/")
    assert recorded() == keys  # the overwrite left frame 2 alone
    assert [e["key"] for e in json.loads((out / "dataset.json").read_text())["library"]] == [
        "hdris/test/sky", "materials/test/tiles", "models/test/box"]


@pytest.mark.render
def test_the_asset_library_tutorials_scanned_objects_render(server, tmp_path, monkeypatch):
    """docs/tutorials/asset-libraries.md, steps 3 to 5, as written, against the local stand-in for
    Gazebo Fuel (its scans with a texture that decodes): the page's fetch line, its gso_map.yaml and
    catalog line give one category per object; the page's render line (one frame at 48x32) draws
    them; the page's script prints each library entry that dataset.json records, with its licence
    and the credit CC BY asks for."""
    import cv2
    import numpy as np

    from conftest import simgen_cli
    from docblocks import blocks_of
    from simgen.cli import fetch_main

    page = blocks_of(ROOT / "docs" / "tutorials" / "asset-libraries.md")
    lines = [c.text for b in page if b.is_shell for c in b.commands]
    fetch_line = next(ln for ln in lines if ln.startswith("simgen fetch gso"))
    catalog_line = next(ln for ln in lines if ln.startswith("simgen catalog"))
    render_line = next(ln for ln in lines if "objects.catalog=" in ln)
    (mapping,) = [b.text for b in page if b.lang == "yaml" and "gso_map.yaml" in str(b.verdict)]
    (script,) = [b.text for b in page if b.lang == "python"]

    texture = cv2.imencode(".png", np.full((16, 16, 3), (40, 120, 200), np.uint8))[1].tobytes()
    scans = {}
    for name, category in (("Squirrel", "Toys"), ("Sootheze_Cold_Therapy_Elephant", None)):
        with zipfile.ZipFile(io.BytesIO(gso_zip(name, category))) as z:
            members = {n: z.read(n) for n in z.namelist()}
        scans[name] = make_zip({**members, "materials/textures/texture.png": texture})
    gso(server, extra=scans)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        fetch_main(fetch_line.split()[2:] + ["--api-url", server.url + "/fuel/1.0"])
    assert done.value.code in (0, None)
    (tmp_path / "gso_map.yaml").write_text(mapping)
    r = simgen_cli(*catalog_line.split()[1:], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    cat = load_catalog(tmp_path / "gso.yaml")
    assert cat.category_names == ("squirrel", "elephant")
    assert {a.category: a.path.parent.parent.name for a in cat.assets} == {
        "squirrel": "Squirrel", "elephant": "Sootheze_Cold_Therapy_Elephant"}
    r = simgen_cli(*render_line.split()[1:], "render.width=48", "render.height=32", "render.samples=1", "frames=1",
                   "seed=1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / render_line.split("output.dir=")[1].split()[0]
    recorded = json.loads((out / "dataset.json").read_text())["library"]
    assert recorded and all(e["key"].startswith("models/gso/") and e["license"] == "CC-BY-4.0" for e in recorded)
    printed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines() == [ln for e in recorded for ln in (
        f"{e['key']} {e['license']}", f"    {e['attribution']['text']}")]
    assert "Google Scanned Objects" in printed.stdout
