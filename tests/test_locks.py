"""Liveness by lock (simgen.io.locks): a lock held by a live process is seen as held from any
process, including one that shares no PID namespace knowledge; a killed owner's lock is free."""

import subprocess
import sys

from simgen.io.locks import OwnerLock, is_held


def test_own_lock_is_held_and_released(tmp_path):
    path = tmp_path / "owner.lock"
    assert not is_held(path) and not path.exists()
    lock = OwnerLock(path)
    assert is_held(path)
    lock.release()
    assert not is_held(path)


def test_lock_of_another_process_is_held_until_it_dies(tmp_path):
    path = tmp_path / "owner.lock"
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; from simgen.io.locks import OwnerLock; "
                              f"l = OwnerLock({str(path)!r}); print('held', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        assert is_held(path)
        try:
            OwnerLock(path)
        except BlockingIOError:
            pass
        else:
            raise AssertionError("a second owner got a lock that is held")
    finally:
        child.kill()
        child.wait()
    assert not is_held(path)  # the kernel dropped the dead owner's lock


def test_symlinked_lock_is_not_judged(tmp_path):
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "owner.lock").symlink_to(tmp_path / "elsewhere")
    assert is_held(tmp_path / "owner.lock")  # never delete on a link's say-so


def test_fresh_lock_appears_locked_and_never_replaces(tmp_path):
    path = tmp_path / "owner.lock"
    lock = OwnerLock.fresh(path)
    assert is_held(path) and sorted(p.name for p in tmp_path.iterdir()) == ["owner.lock"]
    try:
        OwnerLock.fresh(path)
    except FileExistsError:
        pass
    else:
        raise AssertionError("fresh() replaced an existing lock file")
    lock.release()
    assert not is_held(path)
