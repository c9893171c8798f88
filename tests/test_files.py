"""files.py's promises that test_bad_inputs.py does not pin: the default "output path" in messages, "-" is
standard output, ``what`` names the path, the file-size limit's reason, and which stale temporaries a save
removes (those of processes that no longer run, and only those)."""
import errno
import os
import re
import subprocess
import sys

import pytest

from wdnumpy import files


def test_messages_name_the_output_path_by_default_or_by_what(tmp_path):
    with pytest.raises(ValueError, match="^output path: the path is empty"):
        files.check_output_path("")
    with pytest.raises(ValueError, match="^output path: the path is empty$"):  # resolve_output's own default
        files.resolve_output("  ")
    with pytest.raises(ValueError, match=f"^output path {tmp_path}: is a directory; give a file name$"):
        files.resolve_output(tmp_path)
    with pytest.raises(ValueError, match="^output path: the path is empty"):
        files.atomic_write("", lambda f: f.write(b"x"))


def test_atomic_write_names_the_path_as_what_says(tmp_path):
    with pytest.raises(ValueError, match="^--save .*: is a directory"):
        files.atomic_write(tmp_path, lambda f: f.write(b"x"), what="--save")


def test_dash_is_standard_output_and_always_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").mkdir()  # even where a file named "-" could not be written
    files.check_output_path("-")
    with pytest.raises(ValueError, match="is a directory"):
        files.check_output_path("./-")


def test_a_write_over_the_file_size_limit_says_so(tmp_path):
    def write(f):
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))

    with pytest.raises(ValueError, match="the file is larger than this system's file-size limit"):
        files.atomic_write(tmp_path / "big.npz", write)


def test_a_save_removes_the_temporaries_of_dead_processes_only(tmp_path):
    target = tmp_path / "model.npz"
    prefix = files._temporary_prefix(target)
    dead = [tmp_path / f"{prefix}{pid}{files.TEMPORARY_SUFFIX}" for pid in range(10**7, 10**7 + 6)]  # > pid_max
    # not pids (a running process's temporary is the next tests': no process is signalled here, not even our parent)
    kept = [tmp_path / f"{prefix}{name}{files.TEMPORARY_SUFFIX}" for name in ("note", "x1", "y2")]
    for path in dead + kept:
        path.write_bytes(b"partial")
    files.atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new"
    assert not any(path.exists() for path in dead)
    assert all(path.exists() for path in kept)


def test_no_path_is_an_empty_path_and_writes_nothing(tmp_path, monkeypatch):
    """None as the path gets resolve_output's "the path is empty", like "": nothing is written anywhere (not
    a file of some made-up name in the working directory); found unpinned by a mutmut survivor."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="^--out: the path is empty"):
        files.check_output_path(None, "--out")
    with pytest.raises(ValueError, match="^output path: the path is empty"):
        files.atomic_write(None, lambda f: f.write(b"x"))
    assert list(tmp_path.iterdir()) == []


def test_a_file_name_that_is_not_utf8_is_written(tmp_path):
    """A file name with bytes that are not UTF-8 (Python's surrogate escapes, as os.listdir gives them) is a
    valid output path: its temporary name derives from it too, and the save succeeds; found unpinned by a
    mutmut survivor."""
    target = tmp_path / os.fsdecode(b"caf\xe9.npz")
    assert files.atomic_write(target, lambda f: f.write(b"data")) == target
    assert os.listdir(os.fsencode(tmp_path)) == [b"caf\xe9.npz"] and target.read_bytes() == b"data"


def test_a_directory_the_system_will_not_let_us_write_or_search_is_refused(tmp_path, monkeypatch):
    """resolve_output: "its directory exists and is writable" means both writing (W_OK) and searching (X_OK) it,
    as the system's access check says (faked here: the tests may run as root, who passes every check)."""
    real_access = os.access
    for missing in (os.W_OK, os.X_OK):
        monkeypatch.setattr(os, "access", lambda path, mode, missing=missing: real_access(path, mode) and
                            not mode & missing)
        with pytest.raises(ValueError, match=f"^--save {tmp_path}/m.npz: the directory {tmp_path} is not writable$"):
            files.check_output_path(tmp_path / "m.npz", "--save")
    monkeypatch.setattr(os, "access", real_access)
    assert files.resolve_output(tmp_path / "m.npz") == tmp_path / "m.npz"


def test_names_are_bounded_by_255_bytes_where_the_file_system_does_not_say(tmp_path, monkeypatch):
    def unknown(path, name):
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(os, "pathconf", unknown)
    assert files.resolve_output(tmp_path / ("x" * 255)).name == "x" * 255
    with pytest.raises(ValueError, match="the file name is longer than the 255 bytes the file system allows$"):
        files.resolve_output(tmp_path / ("x" * 256))


def test_a_temporary_left_by_a_killed_process_with_this_process_s_number_does_not_block_the_save(tmp_path):
    """Process numbers are reused (in a container every run may get the same one): a temporary named with this
    process's number that this process is not writing is stale, and the save goes through."""
    target = tmp_path / "model.npz"
    stale = target.with_name(f"{files._temporary_prefix(target)}{os.getpid()}{files.TEMPORARY_SUFFIX}")
    stale.write_bytes(b"half a model")
    files.atomic_write(target, lambda f: f.write(b"whole"))
    assert target.read_bytes() == b"whole" and not stale.exists()


def test_a_save_leaves_the_temporary_of_a_running_process_and_does_not_signal_it(tmp_path):
    """A stale temporary is removed only if its process no longer runs; asking whether it runs sends it nothing."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        target = tmp_path / "model.npz"
        running = tmp_path / f"{files._temporary_prefix(target)}{child.pid}{files.TEMPORARY_SUFFIX}"
        running.write_bytes(b"partial")
        files.atomic_write(target, lambda f: f.write(b"new"))
        assert running.exists()
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.1)  # still running: not hung up on or killed
    finally:
        child.kill()
        child.wait()


def test_a_process_we_may_not_signal_still_runs(tmp_path, monkeypatch):
    """A process of another user (os.kill gives PermissionError; faked, as root may signal any) still runs: its
    temporary is kept; a process that does not exist (ProcessLookupError) has its temporary removed."""
    target = tmp_path / "model.npz"
    prefix = files._temporary_prefix(target)
    other_user = tmp_path / f"{prefix}424242{files.TEMPORARY_SUFFIX}"
    gone = tmp_path / f"{prefix}424243{files.TEMPORARY_SUFFIX}"
    for path in (other_user, gone):
        path.write_bytes(b"partial")
    real_kill = os.kill

    def kill(pid, signal):
        if pid == 424242:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        if pid == 424243:
            raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH))
        return real_kill(pid, signal)

    monkeypatch.setattr(os, "kill", kill)
    files.atomic_write(target, lambda f: f.write(b"new"))
    assert other_user.exists() and not gone.exists()


def test_a_path_too_long_as_a_whole_is_refused_with_the_systems_reason(tmp_path):
    """Each name within the limit, the whole path over PATH_MAX: one ValueError naming ``what``, the path and the
    system's reason (not a traceback)."""
    path = os.path.join(tmp_path, *["a" * 200] * 25, "m.npz")
    with pytest.raises(ValueError, match=f"^--out {re.escape(path)}: File name too long$"):
        files.check_output_path(path, "--out")
