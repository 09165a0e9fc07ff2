"""A full or read-only disk under `deepaug augment`: a clear error (what, where, what to do), nothing
partial left, and the same command, run again once there is room, finishes byte for byte.

The full and read-only file systems are real: a small tmpfs mounted in a user and mount namespace
of our own (`unshare -rm`, no privilege needed), filled by the run itself, then remounted larger
(or read-write) before the rerun. Where the kernel allows no such namespace those tests skip, and
`test_enospc_in_process_*` (an injected OSError(ENOSPC) from the file write) still holds the message.
"""
from __future__ import annotations

import errno
import os
import shlex
import sys
from pathlib import Path

import pytest

from _augment_data import REPO, in_namespace, markers, namespace_mounts, tree, write_images
from deepaug.api import augment
from deepaug.errors import InputError, RetryableError
from deepaug.storage import atomic, local
from deepaug.storage.disk import DiskError

@pytest.fixture
def namespace(tmp_path):
    if not namespace_mounts(tmp_path):
        pytest.skip("no user+mount namespace here (unshare -rm) to mount a small real file system in")
    return tmp_path


ARGS = ["--policy", "reference", "--variants", "2", "--shard-size", "4"]
OPTIONS = {"variants": 2, "shard_size": 4}


def _augment_command(src: Path, dst: Path, *extra: str) -> str:
    return shlex.join([sys.executable, "-m", "deepaug", "augment", *ARGS, *extra, "--input", str(src),
                       "--output", str(dst)])


def _footprint(files: dict[str, bytes]) -> int:
    """Bytes a tmpfs needs for these files (whole 4 KiB pages each)."""
    return sum(-(-max(1, len(data)) // 4096) * 4096 for data in files.values())


def test_a_full_disk_mid_run_is_named_and_the_same_command_then_finishes_byte_for_byte(namespace):
    tmp = namespace
    write_images(tmp / "src", per_class=20, shape=(64, 64))
    augment("reference", tmp / "src", tmp / "ref", **OPTIONS)
    reference = tree(tmp / "ref")
    small, mnt = _footprint(reference) // 3, tmp / "mnt"
    mnt.mkdir()
    command = _augment_command(tmp / "src", mnt / "out", "--workers", "2")  # the error crosses a worker process
    done = in_namespace(f"""
        mount -t tmpfs -o size={small} tmpfs {mnt}
        {command} 2> {tmp}/first.err; echo $? > {tmp}/first.rc
        (cd {mnt}/out && find . -type f | sort) > {tmp}/first.files
        mount -o remount,size={8 * small} {mnt}
        {command} 2> {tmp}/second.err; echo $? > {tmp}/second.rc
        cp -a {mnt}/out {tmp}/copy""")
    assert done.returncode == 0, done.stderr
    first = (tmp / "first.err").read_text()
    assert (tmp / "first.rc").read_text().strip() == "1", first
    assert "Traceback" not in first
    assert f"no space left on the file system mounted at {mnt}" in first, first
    assert "free space there or choose another folder, then run the same command again" in first
    left = [line[2:] for line in (tmp / "first.files").read_text().splitlines()]
    assert not [name for name in left if atomic.is_temp(Path(name).name)]  # no partial file
    assert 0 < len(markers(left)) < 10 and "manifest.json" not in left  # stopped mid-run, some shards complete
    assert (tmp / "second.rc").read_text().strip() == "0", (tmp / "second.err").read_text()
    assert tree(tmp / "copy") == reference


def test_a_read_only_file_system_is_named_and_nothing_is_lost(namespace):
    tmp = namespace
    write_images(tmp / "src")
    augment("reference", tmp / "src", tmp / "ref", **OPTIONS)
    mnt = tmp / "mnt"
    mnt.mkdir()
    command = _augment_command(tmp / "src", mnt / "out")
    done = in_namespace(f"""
        mount -t tmpfs -o size=8m tmpfs {mnt}
        {command} --shards 0-1 2> {tmp}/part.err || exit 3
        mount -o remount,ro {mnt}
        {command} 2> {tmp}/first.err; echo $? > {tmp}/first.rc
        mount -o remount,rw {mnt}
        {command} 2> {tmp}/second.err; echo $? > {tmp}/second.rc
        cp -a {mnt}/out {tmp}/copy""")
    assert done.returncode == 0, done.stderr + (tmp / "part.err").read_text()
    first = (tmp / "first.err").read_text()
    assert (tmp / "first.rc").read_text().strip() == "1", first
    assert "Traceback" not in first
    assert f"cannot write {mnt}/out/" in first and f"the file system mounted at {mnt} is read-only" in first, first
    assert "then run the same command again" in first
    assert (tmp / "second.rc").read_text().strip() == "0", (tmp / "second.err").read_text()
    assert tree(tmp / "copy") == tree(tmp / "ref")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a read-only mode: chmod cannot refuse it")
def test_a_read_only_output_folder_is_refused_with_its_path_and_a_rerun_finishes(tmp_path):
    write_images(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(InputError, match=f"cannot write {out}/.*permission denied.*run the same command again"):
            augment("reference", tmp_path / "src", out, **OPTIONS)
        assert tree(out) == {}
    finally:
        out.chmod(0o755)
    augment("reference", tmp_path / "src", tmp_path / "ref", **OPTIONS)
    assert augment("reference", tmp_path / "src", out, **OPTIONS).complete
    assert tree(out) == tree(tmp_path / "ref")


def test_enospc_in_process_is_a_retryable_disk_error_and_the_rerun_matches(tmp_path, monkeypatch):
    """Runs everywhere: the file system's OSError(ENOSPC) is injected into the 30th local write (the
    one function every local write goes through), mid-run."""
    write_images(tmp_path / "src")
    augment("reference", tmp_path / "src", tmp_path / "ref", **OPTIONS)
    real, calls = local.atomic_write, []

    def full_at_the_30th(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 30:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(local, "atomic_write", full_at_the_30th)
    with pytest.raises(DiskError, match="no space left on the file system mounted at .*then run the same") as caught:
        augment("reference", tmp_path / "src", tmp_path / "out", **OPTIONS)
    assert isinstance(caught.value, RetryableError) and caught.value.errno == errno.ENOSPC
    assert f"cannot write {calls[29]}:" in str(caught.value)
    assert 0 < len(markers(tree(tmp_path / "out"))) < 6
    monkeypatch.setattr(local, "atomic_write", real)
    assert augment("reference", tmp_path / "src", tmp_path / "out", **OPTIONS).complete
    assert tree(tmp_path / "out") == tree(tmp_path / "ref")
