"""files.py's promises that test_bad_inputs.py does not pin: the default "output path" in messages, "-" is
standard output, ``what`` names the path, the file-size limit's reason, and which stale temporaries a save
removes (those of processes that no longer run, and only those)."""
import errno
import os

import pytest

from wdnumpy import files


def test_messages_name_the_output_path_by_default_or_by_what():
    with pytest.raises(ValueError, match="^output path: the path is empty"):
        files.check_output_path("")
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
    kept = [tmp_path / f"{prefix}{name}{files.TEMPORARY_SUFFIX}" for name in ("note", "x1", "y2", str(os.getppid()))]
    for path in dead + kept:
        path.write_bytes(b"partial")
    files.atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new"
    assert not any(path.exists() for path in dead)
    assert all(path.exists() for path in kept)  # not a pid, or a process that still runs


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
