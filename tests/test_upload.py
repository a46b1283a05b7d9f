"""output.upload: the streaming shards delivered to object storage as they are built, and
simgen.torch.ShardStream training from the bucket.

The store is a real S3-compatible server process on 127.0.0.1: moto's (``moto_server``, from the
``moto[server]`` test dependency: a pip install, no system package or binary download; it
speaks S3's HTTP API to s3fs/botocore as AWS or MinIO would), started by the fixture below with
its own port and throw-away credentials. Nothing reaches the internet.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import wait_for_frames
from fake_renderer import FakeRenderer
from simgen import SimgenError
from simgen.pipeline import Hooks, run
from test_streaming import FRAMES, TESTS, shard_settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
BUCKET = "simgen-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on a free local port, for the module; its endpoint URL."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("moto_server did not start")
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The server's endpoint and credentials in this process's environment, a fresh bucket; an
    s3fs file system on it."""
    import s3fs

    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_server}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    if fs.exists(BUCKET):
        fs.rm(BUCKET, recursive=True)
    fs.mkdir(BUCKET)
    return fs


def bucket_files(fs, prefix: str) -> dict[str, bytes]:
    fs.invalidate_cache()  # s3fs keeps listings: the bucket changed since
    return {p[len(f"{BUCKET}/{prefix}/"):]: fs.cat_file(p) for p in fs.find(f"{BUCKET}/{prefix}")}


def local_files(root: Path) -> dict[str, bytes]:
    out = {f"{fmt}/{p.name}": p.read_bytes() for fmt in ("webdataset", "parquet")
           for p in (root / fmt).iterdir() if p.name != "uploaded.json"}
    out["dataset.json"] = (root / "dataset.json").read_bytes()
    return out


def test_the_shards_their_indexes_and_dataset_json_reach_the_bucket_byte_for_byte(s3, tmp_path):
    out = tmp_path / "data"
    run(shard_settings(out, output__upload=f"s3://{BUCKET}/run1"), make_renderer=FakeRenderer)
    assert bucket_files(s3, "run1") == local_files(out)
    index = json.loads((out / "webdataset" / "shards.json").read_text())
    sent = json.loads((out / "webdataset" / "uploaded.json").read_text())
    assert sent == {name: f["sha256"] for r in index["ranges"].values() for name, f in r["files"].items()}


def test_a_range_s_shards_go_up_as_soon_as_they_are_built(s3, tmp_path):
    seen = {}

    class Look(Hooks):
        def frame_done(self, index, times):
            s3.invalidate_cache()
            seen[index] = sorted(p.rsplit("/", 1)[1] for p in s3.find(f"{BUCKET}/run2/webdataset"))

    run(shard_settings(tmp_path / "data", output__upload=f"s3://{BUCKET}/run2"), hooks=Look(),
        make_renderer=FakeRenderer)
    assert seen[2] == [] and "train-000000.tar" in seen[3] and "shards.json" in seen[3]


KILLED_RUN = """
import sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
from fake_renderer import FakeRenderer
from simgen.pipeline import Hooks, run
from test_streaming import shard_settings

class Slow(Hooks):
    def frame_done(self, index, times):
        time.sleep(0.2)

run(shard_settings(Path({out!r}), frames={frames}, output__upload={url!r}), hooks=Slow(), make_renderer=FakeRenderer)
"""


def test_kill_9_then_the_same_command_delivers_what_an_uninterrupted_run_delivers(s3, s3_server, tmp_path):
    frames = 14
    run(shard_settings(tmp_path / "reference", frames=frames, output__upload=f"s3://{BUCKET}/ref"),
        make_renderer=FakeRenderer)
    out, url = tmp_path / "data", f"s3://{BUCKET}/killed"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN.format(tests=str(TESTS), out=str(out), frames=frames,
                                                                     url=url)],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": s3_server})
    wait_for_frames(out, 6, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert "webdataset/train-000000.tar" in bucket_files(s3, "killed")  # range 0 went up before the kill
    run(shard_settings(out, frames=frames, output__upload=url), make_renderer=FakeRenderer)
    ref, got = bucket_files(s3, "ref"), bucket_files(s3, "killed")
    assert {k: v for k, v in got.items() if k != "dataset.json"} == {k: v for k, v in ref.items() if k != "dataset.json"}
    assert got["dataset.json"] == (out / "dataset.json").read_bytes()


def test_an_upload_that_fails_ends_the_run_in_one_line_and_the_same_command_sends_the_rest(s3, tmp_path, monkeypatch):
    from simgen.io.dataset.remote import Remote

    real, calls = Remote.put, []

    def flaky(self, local, rel):
        calls.append(rel)
        if rel.startswith("parquet/"):
            raise ConnectionError("connection reset by peer")
        return real(self, local, rel)

    monkeypatch.setattr(Remote, "put", flaky)
    out, url = tmp_path / "data", f"s3://{BUCKET}/flaky"
    with pytest.raises(SimgenError) as e:
        run(shard_settings(out, output__upload=url), make_renderer=FakeRenderer)
    assert "ConnectionError: connection reset by peer" in str(e.value) and "run the same command again" in str(e.value)
    assert "\n" not in str(e.value)
    assert len(list((out / "meta").glob("*.json"))) == FRAMES  # the dataset is complete on disk
    monkeypatch.setattr(Remote, "put", real)
    before = len(calls)
    run(shard_settings(out, output__upload=url), make_renderer=FakeRenderer)  # nothing to render: only the upload
    assert bucket_files(s3, "flaky") == local_files(out)
    assert before > 0


@pytest.mark.parametrize("case", ["unreachable", "no bucket", "no credentials", "no streaming format", "not a url"])
def test_a_store_it_cannot_write_to_is_refused_in_one_line_before_the_first_frame(s3, s3_server, tmp_path,
                                                                                  monkeypatch, case):
    url = f"s3://{BUCKET}/x"
    extra = {}
    if case == "unreachable":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        expect = "cannot write there (EndpointConnectionError"
    elif case == "no bucket":
        url = "s3://no-such-bucket-here/x"
        expect = "cannot write there (FileNotFoundError"
    elif case == "no credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        expect = "cannot write there (NoCredentialsError"
    elif case == "no streaming format":
        extra = {"output__formats": ["coco"]}
        expect = "output.upload sends the streaming formats' shards"
    else:
        url = "/data/bucket"
        expect = "is no URL of object storage"
    t0 = time.monotonic()
    with pytest.raises(SimgenError, match=re.escape(expect)) as e:
        run(shard_settings(tmp_path / "data", output__upload=url, **extra), make_renderer=FakeRenderer)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "data" / "meta").exists()
    assert time.monotonic() - t0 < 60  # a hang guard: an unreachable store fails in seconds


def test_shard_stream_trains_from_the_bucket_and_gives_simgen_dataset_s_samples(s3, tmp_path):
    import torch

    from simgen.experiment.training import TorchvisionTrainer
    from simgen.torch import ShardStream, SimgenDataset, collate_detection
    from simgen.torch.train import build_detector, train

    out = tmp_path / "data"
    run(shard_settings(out, output__upload=f"s3://{BUCKET}/train"), make_renderer=FakeRenderer)
    stream = ShardStream(f"s3://{BUCKET}/train/webdataset", split="train")
    local = SimgenDataset(out, split="train")
    assert len(stream) == len(local)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
    got = {t["frame_index"]: (im, t) for im, t in loader}
    assert sorted(got) == local.frames  # every train frame once, across the two workers
    for k, i in enumerate(local.frames):
        im, t = local[k]
        im2, t2 = got[i]
        assert torch.equal(im, im2) and t.keys() == t2.keys()
        for key in t:
            a, b = t[key], t2[key]
            assert (torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b), (i, key)
    model = build_detector(local.num_classes, "tiny_fcos", image_size=(48, 64))
    losses = train(model, stream, TorchvisionTrainer(steps=3, batch_size=2), num_workers=2)
    assert len(losses) == 3 and all(np.isfinite(v) for step in losses for v in step.values())


@pytest.mark.parametrize("member,expect", [("depth.npy", "is damaged: its SHA-256"), ("json", "cannot be decoded")])
def test_shard_stream_stops_at_a_damaged_shard_in_one_line(s3, tmp_path, member, expect):
    """A changed byte of an array is caught by the checksum at the shard's end; one that breaks a
    file's format, by its decoder, when the sample is read."""
    from simgen.torch import ShardStream

    out = tmp_path / "data"
    run(shard_settings(out, output__upload=f"s3://{BUCKET}/bad"), make_renderer=FakeRenderer)
    path = f"{BUCKET}/bad/webdataset/train-000000.tar"
    data = bytearray(s3.cat_file(path))
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        m = next(m for m in tar.getmembers() if m.name.endswith("." + member))
    data[m.offset_data + m.size - 5] ^= 0xFF  # inside the file's data
    s3.pipe_file(path, bytes(data))
    with pytest.raises(SimgenError, match=re.escape(expect)) as e:
        list(ShardStream(f"s3://{BUCKET}/bad/webdataset", split="train", extras=()))
    assert "train-000000.tar" in str(e.value) and "\n" not in str(e.value)
