"""Reading CSV files (plain or gzip-compressed) into raw columns, with errors that name the file and line.

    columns = read_csv("rows.csv")                       # dict header name → (N,) str array
    columns, labels = load_csv("ratings.csv", label="rating", threshold=4)
    for chunk in iter_csv("big.csv.gz", chunk_rows=200_000): ...

Every problem with a file is a :class:`ValueError` whose message starts with
the file's path and, where there is one, the line: a missing file or a
directory, an unreadable file, text that is not in the given encoding, a
file named ``.gz`` that is not gzip data or is cut short, an unclosed quote
(reported at the line where the quoted field began), a row with the wrong
number of fields, a field larger than :data:`MAX_FIELD_CHARS`. A UTF-8
byte-order mark is skipped.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from .features import parse_numbers

MAX_FIELD_CHARS = 16 * 1024 * 1024  # one field; Python's csv module stops at 131,072 by default
GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def _field_limit(limit: int):
    """Raise the csv module's (process-wide) field size limit while reading, then restore it."""
    old = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _open_binary(path: Path):
    """The file's bytes, decompressed if its name ends in .gz; ValueError naming the file otherwise."""
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a CSV file")
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise ValueError(f"{path}: cannot open ({error.strerror or error})") from None
    if path.suffix != ".gz":
        return raw
    if raw.read(2) != GZIP_MAGIC:
        raw.close()
        raise ValueError(f"{path}: the name ends in .gz but the file is not gzip-compressed "
                         "(compress it, or rename it without .gz)")
    raw.close()
    return gzip.open(path, "rb")  # opened by name, so closing it closes the file too


def _decoding_error_line(path: Path, encoding: str) -> int:
    """1-based line of the first text that does not decode (found by decoding again, line by line)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with _open_binary(path) as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            for i in range(len(chunk)):  # byte by byte only in this error path
                try:
                    line += decoder.decode(chunk[i:i + 1]).count("\n")
                except UnicodeDecodeError:
                    return line
    return line


def _rows(path: Path, encoding: str, encoding_name: str | None = None):
    """Yield (line number where the row began, fields) for each row of the file, header included.
    ``encoding_name``: the encoding as the user gave it, for messages (default ``encoding``)."""
    with _open_binary(path) as binary, _field_limit(MAX_FIELD_CHARS):
        text = io.TextIOWrapper(binary, encoding=encoding, newline="")
        reader = csv.reader(text, strict=True)
        start = 1
        try:
            for fields in reader:
                yield start, fields
                start = reader.line_num + 1
        except UnicodeDecodeError as error:
            line = _decoding_error_line(path, encoding)
            hint = " (it looks like UTF-16: give encoding='utf-16')" if error.object[:2] in (b"\xff\xfe", b"\xfe\xff") \
                else " (give the file's encoding, e.g. encoding='latin-1')"
            raise ValueError(f"{path}, line {line}: not valid {encoding_name or encoding} text{hint}") from None
        except csv.Error as error:
            message = str(error)
            if "unexpected end of data" in message:
                raise ValueError(f"{path}, line {start}: a quoted field that begins on this line is never "
                                 "closed") from None
            if "field larger than field limit" in message:
                raise ValueError(f"{path}, line {start}: a field is longer than {MAX_FIELD_CHARS:,} "
                                 "characters") from None
            raise ValueError(f"{path}, line {reader.line_num}: malformed CSV ({message})") from None
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise ValueError(f"{path}: the gzip data is corrupt or cut short after line {start - 1} "
                             f"({type(error).__name__}: {error})") from None
        except OSError as error:
            raise ValueError(f"{path}: cannot read ({error.strerror or error})") from None


def iter_csv(path, chunk_rows: int | None = 100_000, encoding: str = "utf-8"):
    """Read a CSV file with a header row in chunks of at most ``chunk_rows`` data rows.

    Surrounding spaces are stripped and blank lines skipped; ``.gz`` files are
    decompressed; a UTF-8 byte-order mark is skipped. Only one chunk is held in
    memory at a time; with ``chunk_rows=None`` the whole file is one chunk.

    Yields
    ------
    columns : dict header name → (n,) str array, n ≤ chunk_rows
    """
    path = Path(path)
    if chunk_rows is not None and chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1 or None, got {chunk_rows}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    reading = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding  # skips a byte-order mark
    with contextlib.closing(_rows(path, reading, encoding)) as rows:  # closing restores the field limit on any exit
        first = next(rows, None)
        if first is None:
            raise ValueError(f"{path}: empty file (expected a header row)")
        header = [h.strip() for h in first[1]]
        if len(set(header)) != len(header) or "" in header:
            raise ValueError(f"{path}, line 1: column names must be distinct and non-empty, got {header}")
        chunk, lines, any_rows = [], [], False
        for line, fields in rows:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != len(header):
                raise ValueError(f"{path}, line {line}: expected {len(header)} fields, got {len(fields)}")
            chunk.append(fields)
            lines.append(line)
            if chunk_rows is not None and len(chunk) == chunk_rows:
                yield _to_columns(path, header, chunk, lines)
                chunk, lines, any_rows = [], [], True
        if chunk:
            yield _to_columns(path, header, chunk, lines)
        elif not any_rows:
            raise ValueError(f"{path}: no data rows after the header")


def _to_columns(path, header, rows, lines) -> dict:
    if "\x00" in "".join(map("".join, rows)):  # NumPy strings cannot hold NUL, so check the text
        row = next(i for i, fields in enumerate(rows) if "\x00" in "".join(fields))
        raise ValueError(f"{path}, line {lines[row]}: the file holds NUL bytes; is it a binary file, "
                         "or text in another encoding (e.g. encoding='utf-16')?")
    table = np.char.strip(np.array(rows, dtype=str))
    return {name: table[:, j] for j, name in enumerate(header)}


def read_csv(path, encoding: str = "utf-8") -> dict:
    """Read a whole CSV file with a header row into columns of strings (see :func:`iter_csv`).

    Returns
    -------
    columns : dict header name → (N,) str array
    """
    return next(iter_csv(path, chunk_rows=None, encoding=encoding))


def binary_labels(values, column: str, positive=None, threshold: float | None = None) -> np.ndarray:
    """Turn a label column into 0/1.

    - ``threshold``: label 1 where the number is ≥ threshold (e.g. rating ≥ 4);
    - ``positive``: label 1 where the value equals ``positive`` (a value or a list
      of values); the column must then hold exactly two distinct values at most;
    - neither: the values must already be 0 and 1.
    """
    values = np.asarray(values)
    if positive is not None and threshold is not None:
        raise ValueError(f"label column {column!r}: give positive= or threshold=, not both")
    if threshold is not None:
        return (parse_numbers(values, column) >= threshold).astype(np.float64)
    text = np.char.strip(values.astype(str))
    if positive is None:
        bad = ~np.isin(text, ["0", "1", "0.0", "1.0"])
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"label column {column!r}, row {row}: {str(text[row])!r} is not 0 or 1 "
                             "(give positive= or threshold= to turn it into a binary label)")
        return text.astype(float)
    positives = [str(p) for p in (positive if isinstance(positive, (list, tuple, set)) else [positive])]
    is_positive = np.isin(text, positives)
    negatives = np.unique(text[~is_positive])
    if negatives.size > 1:
        numeric = _all_numbers(negatives)
        hint = (f"; for a numeric label such as a rating, give threshold= instead (label 1 where the value "
                f"is >= threshold, e.g. threshold={positives[0]})" if numeric else
                "; give every positive value as a list, positive=[...]")
        raise ValueError(f"label column {column!r} is not binary with positive={positive!r}: "
                         f"it also holds {negatives.size} other values {negatives[:10].tolist()}{hint}")
    return is_positive.astype(np.float64)


def _all_numbers(text) -> bool:
    try:
        np.asarray(text).astype(np.float64)
    except ValueError:
        return False
    return True


def load_csv(path, label: str, positive=None, threshold: float | None = None, encoding: str = "utf-8"):
    """Load a CSV with a header and a label column.

    Returns
    -------
    columns : dict name → (N,) str array, without the label column
    labels : (N,) float64 in {0, 1}
    """
    columns = read_csv(path, encoding)
    if label not in columns:
        raise ValueError(f"{path}: unknown label column {label!r}; the file has {sorted(columns)}")
    try:
        labels = binary_labels(columns.pop(label), label, positive, threshold)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return columns, labels
