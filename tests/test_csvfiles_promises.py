"""csvfiles.py's promises found unpinned by mutmut survivors (test_csvfiles.py holds the rest)."""
import gzip

import numpy as np
import pytest

from wdnumpy.csvfiles import binary_labels, iter_csv, load_csv, read_csv


def test_labels_written_as_floats_are_already_binary(tmp_path):
    """With neither positive= nor threshold=, a label column must already be 0 and 1: 0.0 and 1.0 (a column a
    float-typed tool wrote) count as 0 and 1."""
    np.testing.assert_array_equal(binary_labels(np.array(["0.0", "1.0", " 1.0 ", "1", "0"]), "clicked"),
                                  [0, 1, 1, 1, 0])
    path = tmp_path / "f.csv"
    path.write_text("user,clicked\nu1,1.0\nu2,0.0\n")
    columns, labels = load_csv(path, "clicked")
    assert labels.tolist() == [1.0, 0.0] and list(columns) == ["user"]


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_a_file_that_cannot_be_opened_or_read_names_the_file_and_the_systems_reason(tmp_path, monkeypatch):
    """'an unreadable file' is a ValueError starting with the path: 'cannot open (reason)' when opening fails,
    'cannot read (reason)' when reading does, the reason being the system's words (or the error's own)."""
    import errno
    import io

    from wdnumpy import csvfiles

    class Failing(io.RawIOBase):
        def __init__(self, error):
            self.error = error

        def readable(self):
            return True

        def readinto(self, buffer):
            raise self.error

    path = write(tmp_path, "a.csv", "a,b\n1,2\n")
    cases = [(PermissionError(errno.EACCES, "Permission denied"), "open", "Permission denied"),
             (OSError("the disk went away"), "open", "the disk went away")]
    for error, verb, reason in cases:
        def refuse(*args, error=error):
            raise error
        monkeypatch.setattr(csvfiles, "open", refuse, raising=False)
        with pytest.raises(ValueError) as caught:
            read_csv(path)
        assert str(caught.value) == f"{path}: cannot open ({reason})"
    for error, reason in ((OSError(errno.EIO, "Input/output error"), "Input/output error"),
                          (OSError("the disk went away"), "the disk went away")):
        monkeypatch.setattr(csvfiles, "open", lambda *args, error=error: io.BufferedReader(Failing(error)),
                            raising=False)
        with pytest.raises(ValueError) as caught:
            read_csv(path)
        assert str(caught.value) == f"{path}: cannot read ({reason})"


def test_a_gz_name_on_a_plain_file_says_how_to_fix_it(tmp_path):
    path = write(tmp_path, "rows.csv.gz", "a,b\n1,2\n")
    with pytest.raises(ValueError) as caught:
        read_csv(path)
    assert str(caught.value) == (f"{path}: the name ends in .gz but the file is not gzip-compressed "
                                 "(compress it, or rename it without .gz)")


def test_a_cut_or_corrupt_gzip_file_says_after_which_line_and_why(tmp_path):
    """The error names the last line read whole before the gzip data failed, and the error's type."""
    data = gzip.compress(b"a,b\n1,2\n3,4\n")
    with pytest.raises(ValueError, match=r"cut\.csv\.gz: the gzip data is corrupt or cut short after line 3 "
                                         r"\(EOFError: "):
        read_csv(write(tmp_path, "cut.csv.gz", data[:-4]))
    with pytest.raises(ValueError, match=r"bad\.csv\.gz: the gzip data is corrupt or cut short after line 3 "
                                         r"\(BadGzipFile: "):
        read_csv(write(tmp_path, "bad.csv.gz", data + b"garbage!"))


def test_an_unclosed_quote_in_the_header_is_reported_at_line_1(tmp_path):
    with pytest.raises(ValueError, match=r"h\.csv, line 1: a quoted field that begins on this line is never closed$"):
        read_csv(write(tmp_path, "h.csv", 'a,"b\nc\n'))


def test_other_malformed_csv_names_the_line_and_the_csv_modules_complaint(tmp_path):
    """A quote followed by more text in the same field is malformed CSV (strict reading), not silently joined."""
    with pytest.raises(ValueError) as caught:
        read_csv(write(tmp_path, "m.csv", 'a,b\n1,2\n3,"x"y\n'))
    assert str(caught.value) == f"{tmp_path / 'm.csv'}, line 3: malformed CSV (',' expected after '\"')"


def test_the_encoding_hints(tmp_path):
    """Text not in the encoding: a UTF-16 byte-order mark (either byte order) suggests encoding='utf-16', other
    bytes suggest giving the file's encoding, e.g. latin-1."""
    for bom in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be"
        path = write(tmp_path, "u16.csv", bom + "a,b\n1,2\n".encode(codec))
        with pytest.raises(ValueError, match=r"u16\.csv, line 1: not valid \S+ text "
                                             r"\(it looks like UTF-16: give encoding='utf-16'\)$"):
            read_csv(path)
    path = write(tmp_path, "l1.csv", "a,b\n1,é\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"l1\.csv, line 2: not valid ascii text "
                                         r"\(give the file's encoding, e\.g\. encoding='latin-1'\)$"):
        read_csv(path, encoding="ascii")


def test_a_file_with_nul_bytes_asks_whether_it_is_binary_or_another_encoding(tmp_path):
    """The NUL error names the line of the first row holding one, also in a later chunk."""
    path = write(tmp_path, "nul.csv", "a,b\n" + "1,2\n" * 5 + "3,\x00\n" + "4,5\n" * 5)
    message = (f"{path}, line 7: the file holds NUL bytes; is it a binary file, "
               "or text in another encoding (e.g. encoding='utf-16')?")
    for chunk_rows in (None, 3, 6):
        with pytest.raises(ValueError) as caught:
            list(iter_csv(path, chunk_rows=chunk_rows))
        assert str(caught.value) == message


def test_a_quoted_field_keeps_its_windows_line_break(tmp_path):
    """Fields are read as written: a quoted field spanning lines of a file with CRLF line ends keeps its CRLF."""
    columns = read_csv(write(tmp_path, "crlf.csv", b'id,text\r\n1,"two\r\nlines"\r\n2,b\r\n'))
    assert columns["text"].tolist() == ["two\r\nlines", "b"] and columns["id"].tolist() == ["1", "2"]


def test_column_names_must_be_distinct_after_stripping_and_non_empty(tmp_path):
    for header, names in (("a,,b", ["a", "", "b"]), ("a, a", ["a", "a"])):
        path = write(tmp_path, "h.csv", header + "\n" + ",".join("1" * len(names)) + "\n")
        with pytest.raises(ValueError) as caught:
            read_csv(path)
        assert str(caught.value) == f"{path}, line 1: column names must be distinct and non-empty, got {names}"


def test_a_row_with_empty_fields_is_a_row_with_missing_values(tmp_path):
    """Only a line without any text is blank; a row whose first fields are empty (missing values) is kept."""
    columns = read_csv(write(tmp_path, "m.csv", "a,b,c\n,x,\n , ,\n1,2,3\n"))
    assert columns["a"].tolist() == ["", "", "1"] and columns["b"].tolist() == ["x", "", "2"]
    assert columns["c"].tolist() == ["", "", "3"]


def test_iter_csv_reads_100000_rows_a_chunk_by_default():
    """iter_csv's signature default chunk_rows=100_000 (read from the signature: a file of 100,001 rows would
    take half a second)."""
    import inspect
    assert inspect.signature(iter_csv).parameters["chunk_rows"].default == 100_000


def test_a_label_not_binary_with_text_values_asks_for_every_positive_value(tmp_path):
    """With positive= and more than one other value: numbers suggest threshold= (with the positive value as the
    example), text suggests listing every positive value; the message names the column and the other values."""
    with pytest.raises(ValueError) as caught:
        binary_labels(np.array(["yes", "no", "maybe", "yes"]), "clicked", positive="yes")
    assert str(caught.value) == ("label column 'clicked' is not binary with positive='yes': it also holds 2 other "
                                 "values ['maybe', 'no']; give every positive value as a list, positive=[...]")
    with pytest.raises(ValueError) as caught:
        binary_labels(np.array(["5", "4", "1", "2"]), "stars", positive="5")
    assert str(caught.value) == ("label column 'stars' is not binary with positive='5': it also holds 3 other "
                                 "values ['1', '2', '4']; for a numeric label such as a rating, give threshold= "
                                 "instead (label 1 where the value is >= threshold, e.g. threshold=5)")


def test_positive_may_be_a_list_tuple_or_set_of_values():
    values = np.array(["yes", "y", "no", "YES"])
    for positive in (["yes", "y", "YES"], ("yes", "y", "YES"), {"yes", "y", "YES"}):
        np.testing.assert_array_equal(binary_labels(values, "c", positive=positive), [1, 1, 0, 1])
    np.testing.assert_array_equal(binary_labels(np.array(["1", "2", "2"]), "c", positive=2), [0, 1, 1])


def test_load_csv_reads_the_encoding_it_is_given(tmp_path):
    path = write(tmp_path, "l1.csv", "city,clicked\nBesançon,1\nOrléans,0\n".encode("latin-1"))
    columns, labels = load_csv(path, "clicked", encoding="latin-1")
    assert columns["city"].tolist() == ["Besançon", "Orléans"] and labels.tolist() == [1.0, 0.0]
