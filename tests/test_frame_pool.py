"""simgen.pipeline.concurrency.FramePool: the frame loop's worker threads. Items prepare in
parallel and out of order, yet jobs are committed in the order they were arranged; at most
``depth`` items are in flight; a failure commits everything before it and nothing after."""

from __future__ import annotations

import random
import threading
import time

import pytest

from simgen.pipeline.concurrency import FramePool, worker_count


class Recorder:
    """prepare/arrange/commit that sleep at random and record what happens, by thread."""

    def __init__(self, seed: int = 0, fail_prepare: int | None = None, fail_job: int | None = None,
                 pairs: bool = False):
        self.rng = random.Random(seed)
        self.fail_prepare, self.fail_job, self.pairs = fail_prepare, fail_job, pairs
        self.lock = threading.Lock()
        self.committed: list[int] = []
        self.arranged: list[int] = []
        self.threads: dict[str, set[str]] = {"prepare": set(), "arrange": set(), "work": set(), "commit": set()}
        self.alive = 0
        self.most_alive = 0
        self.held: list[int] = []

    def _nap(self) -> None:
        with self.lock:
            t = self.rng.random() * 0.004
        time.sleep(t)

    def _seen(self, what: str) -> None:
        with self.lock:
            self.threads[what].add(threading.current_thread().name)

    def prepare(self, item: int) -> int:
        self._seen("prepare")
        self._nap()
        if item == self.fail_prepare:
            raise ValueError(f"prepare {item}")
        return item * 10

    def arrange(self, item: int, prepared: int) -> list:
        self._seen("arrange")
        assert prepared == item * 10
        self.arranged.append(item)
        if self.pairs:  # like a sequence whose frames need the next step: odd items release two
            if item % 2 == 0:
                self.held.append(item)
                return []
            keys = [self.held.pop(), item]
        else:
            keys = [item]
        return [(k, lambda k=k: self.work(k)) for k in keys]

    def work(self, key: int) -> int:
        self._seen("work")
        self._nap()
        if key == self.fail_job:
            raise ValueError(f"job {key}")
        return -key

    def commit(self, key: int, result: int) -> None:
        self._seen("commit")
        assert result == -key
        self.committed.append(key)


def run_pool(rec: Recorder, items: int, workers: int, depth: int | None = None) -> FramePool:
    pool = FramePool(rec.prepare, rec.arrange, rec.commit, workers=workers, depth=depth)
    alive, lock = [0], threading.Lock()
    original_commit = rec.commit

    def commit(key, result):  # count items from submit to their commit
        original_commit(key, result)
        with lock:
            alive[0] -= 1

    pool.commit = commit
    try:
        for i in range(items):
            with lock:
                alive[0] += 1
                rec.most_alive = max(rec.most_alive, alive[0])
            pool.submit(i)
    finally:
        pool.close()
    return pool


@pytest.mark.parametrize("workers", [0, 1, 4])
def test_jobs_are_committed_in_order_whatever_finishes_first(workers):
    rec = Recorder(seed=workers)
    run_pool(rec, 40, workers)
    assert rec.committed == list(range(40)) and rec.arranged == list(range(40))
    if workers:
        assert rec.threads["commit"] == rec.threads["arrange"] == {"simgen-commit"}
        assert rec.threads["prepare"] | rec.threads["work"] <= {f"simgen-worker_{i}" for i in range(workers)}
    else:
        main = {threading.current_thread().name}
        assert rec.threads["prepare"] == rec.threads["commit"] == main


def test_items_that_release_several_jobs_commit_them_in_order():
    rec = Recorder(seed=3, pairs=True)
    run_pool(rec, 20, workers=3)
    assert rec.committed == list(range(20))


def test_several_workers_run_at_once():
    started, both = threading.Barrier(2, timeout=5), []

    def prepare(item):
        both.append(started.wait())  # returns only once two prepares run at the same time
        return item

    committed = []
    pool = FramePool(prepare, lambda item, p: [(item, lambda: item)], lambda k, r: committed.append(k), workers=2)
    pool.submit(0)
    pool.submit(1)
    pool.close()
    assert committed == [0, 1] and sorted(both) == [0, 1]


def test_at_most_depth_items_are_in_flight():
    rec = Recorder(seed=5)
    run_pool(rec, 30, workers=3, depth=2)
    assert rec.committed == list(range(30)) and rec.most_alive <= 3  # 2 in flight + the one being submitted


@pytest.mark.parametrize("fail", ["prepare", "job"])
def test_a_failure_commits_what_comes_before_it_and_nothing_after(fail):
    rec = Recorder(seed=7, **{f"fail_{fail}": 12})
    with pytest.raises(ValueError, match=f"{fail} 12"):
        run_pool(rec, 40, workers=4)
    assert rec.committed == list(range(12))


def test_a_failing_commit_stops_the_pool():
    committed = []

    def commit(key, result):
        if key == 5:
            raise OSError("disk full")
        committed.append(key)

    pool = FramePool(lambda i: i, lambda i, p: [(i, lambda: i)], commit, workers=2)
    with pytest.raises(OSError, match="disk full"):
        for i in range(100):
            pool.submit(i)
    with pytest.raises(OSError):
        pool.close()
    assert committed == [0, 1, 2, 3, 4]


def test_drain_waits_for_every_commit():
    rec = Recorder(seed=9)
    pool = FramePool(rec.prepare, rec.arrange, rec.commit, workers=3)
    for i in range(10):
        pool.submit(i)
    pool.drain()
    assert rec.committed == list(range(10))
    pool.close()


def test_worker_count_follows_the_render_settings(monkeypatch):
    class R:
        overlap, workers = True, 0

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(3)))
    assert worker_count(R) == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
    assert worker_count(R) == 8  # MAX_AUTO_WORKERS
    R.workers = 5
    assert worker_count(R) == 5
    R.overlap = False
    assert worker_count(R) == 0
