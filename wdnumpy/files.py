"""Writing output files safely: check the path before any work, then replace the file atomically.

:func:`atomic_write` writes to a temporary file in the target's directory,
syncs it, renames it over the target and syncs the directory, so that a crash
or a power cut leaves either the old file or the new one, never a part of
either. A symlink is written through (its target is replaced, the link stays);
anything that is not a regular file (a directory, a device) is never replaced.
Temporary files have short names derived from the target, are removed on every
error, and those left by a killed save of the same target are removed by the
next save. Every problem is a ValueError that names the path.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

TEMPORARY_SUFFIX = ".wdtmp"


def resolve_output(path, what: str = "output path") -> Path:
    """The file that writing to ``path`` will replace (a symlink's target), after checking that it
    can be written: ValueError naming ``what`` and the path if not.

    Checks: the path is not empty; its directory exists and is writable; it is not a
    directory, nor any other non-regular file; its name is not longer than the file
    system allows.
    """
    text = os.fspath(path) if path is not None else ""
    if not str(text).strip():
        raise ValueError(f"{what}: the path is empty")
    target = Path(os.path.realpath(text))
    directory = target.parent
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(target.name.encode("utf-8", "surrogateescape")) > name_max:
        raise ValueError(f"{what} {text}: the file name is longer than the {name_max} bytes the file system allows")
    try:
        if target.is_dir():
            raise ValueError(f"{what} {text}: is a directory; give a file name")
        if target.exists() and not stat.S_ISREG(target.stat().st_mode):
            raise ValueError(f"{what} {text}: exists and is not a regular file; refusing to replace it")
        if not directory.is_dir():
            raise ValueError(f"{what} {text}: the directory {directory} does not exist")
    except OSError as error:  # a path too long as a whole, a loop of links, a directory we may not search
        raise ValueError(f"{what} {text}: {error.strerror or error}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {text}: the directory {directory} is not writable")
    return target


def check_output_path(path, what: str = "output path") -> None:
    """Raise ValueError now if ``path`` could not be written later (see :func:`resolve_output`);
    ``"-"`` (standard output) is always fine."""
    if path != "-":
        resolve_output(path, what)


def _temporary_prefix(target: Path) -> str:
    """Hidden, short, and the same for every save of one target (so stale ones can be found)."""
    return "." + hashlib.blake2b(target.name.encode("utf-8", "surrogateescape"), digest_size=6).hexdigest() + "-"


_WRITING: set = set()  # the temporaries this process is writing now


def _remove_stale_temporaries(target: Path, prefix: str) -> None:
    """Remove temporary files of earlier saves of ``target`` whose process no longer runs."""
    for candidate in target.parent.glob(prefix + "*" + TEMPORARY_SUFFIX):
        pid = candidate.name[len(prefix):-len(TEMPORARY_SUFFIX)]
        if not pid.isdigit() or candidate in _WRITING:
            continue
        if int(pid) != os.getpid() and _process_alive(int(pid)):
            continue  # (this process's own number: a process killed earlier had it, as in a container)
        try:
            candidate.unlink()
        except OSError:
            pass


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write(path, write, what: str = "output path") -> Path:
    """Write a file so that a crash leaves either the old file or the new one, never a part.

    ``write(f)`` writes the content to a binary file object. Returns the path written
    (a symlink's target). Raises ValueError naming the path for an unusable path or a
    failed write (a full disk, a file-size limit); the old file is then untouched.
    """
    target = resolve_output(path, what)
    prefix = _temporary_prefix(target)
    _remove_stale_temporaries(target, prefix)
    temporary = target.with_name(f"{prefix}{os.getpid()}{TEMPORARY_SUFFIX}")
    try:
        _WRITING.add(temporary)
        with open(temporary, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
        _sync_directory(target.parent)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        if error.errno == errno.EFBIG:
            reason = "the file is larger than this system's file-size limit"
        raise ValueError(f"cannot write {path}: {reason} (the previous file, if any, is unchanged)") from None
    finally:
        _WRITING.discard(temporary)
        if temporary.exists():
            temporary.unlink()
    return target


def _sync_directory(directory: Path) -> None:
    """Make the rename durable: sync the directory entry (where the platform allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
