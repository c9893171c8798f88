"""Reading CSV files: every bad file gets one ValueError that names the file (and line)."""
import gc
import gzip
import warnings

import numpy as np
import pytest

from wdnumpy.csvfiles import MAX_FIELD_CHARS, binary_labels, iter_csv, load_csv, read_csv

ROWS = "age,city\n30,Paris\n41,Lyon\n"


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_plain_and_gzip_files_read_the_same(tmp_path):
    plain = read_csv(write(tmp_path, "a.csv", ROWS))
    packed = read_csv(write(tmp_path, "a.csv.gz", gzip.compress(ROWS.encode())))
    assert plain["city"].tolist() == packed["city"].tolist() == ["Paris", "Lyon"]


def test_reading_a_gzip_file_closes_it(tmp_path):
    # the compressed file is closed with the reader, not left for the garbage collector ("unclosed file")
    path = write(tmp_path, "a.csv.gz", gzip.compress(ROWS.encode()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_csv(path)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_read_csv_reads_every_row_however_many(tmp_path):
    # one dict of every row: not only the first chunk that iter_csv reads by default (100,000 rows)
    rows = 100_001
    columns = read_csv(write(tmp_path, "long.csv", "n\n" + "7\n" * rows))
    assert columns["n"].shape == (rows,)


def test_a_utf8_byte_order_mark_is_skipped(tmp_path):
    columns = read_csv(write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + ROWS.encode()))
    assert list(columns) == ["age", "city"]


def test_other_encodings_are_read_when_named(tmp_path):
    text = "age,city\n30,Besançon\n41,Orléans\n"
    assert read_csv(write(tmp_path, "l1.csv", text.encode("latin-1")), encoding="latin-1")["city"][0] == "Besançon"
    assert read_csv(write(tmp_path, "u16.csv", text.encode("utf-16")), encoding="utf-16")["city"][1] == "Orléans"


@pytest.mark.parametrize("name, content, message", [
    ("latin1.csv", "age,city\n30,Paris\n41,Besançon\n".encode("latin-1"), r"line 3: not valid utf-8 text.*encoding="),
    ("utf16.csv", "age,city\n30,Paris\n".encode("utf-16"), r"line 1: not valid utf-8 text.*utf-16"),
    ("binary.csv", b"age,city\n30,Paris\n\x00\x01\x02,\x00\n", r"line 3: .*NUL"),
    ("quote.csv", 'age,city\n30,Paris\n41,"Lyon\n52,Nice\n60,Metz\n', r"line 3: a quoted field .* never closed"),
    ("fields.csv", "age,city\n30,Paris\n41\n", r"line 3: expected 2 fields, got 1"),
    ("empty.csv", "", r"empty file"),
    ("header.csv", "age,city\n", r"no data rows"),
    ("dup.csv", "age,age\n1,2\n", r"line 1: column names must be distinct"),
    ("plain.csv.gz", ROWS, r"not gzip-compressed"),
    ("cut.csv.gz", gzip.compress((ROWS * 200).encode())[:-40], r"gzip data is corrupt or cut short"),
])
def test_bad_files_name_the_file_and_line(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(ValueError, match=message) as error:
        read_csv(path)
    assert str(error.value).startswith(str(path))


def test_missing_files_and_directories(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_csv(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="is a directory"):
        read_csv(tmp_path)
    with pytest.raises(ValueError, match="unknown encoding"):
        read_csv(write(tmp_path, "a.csv", ROWS), encoding="klingon")


def test_long_fields_are_read_up_to_the_limit(tmp_path):
    long_value = "x" * 200_000
    columns = read_csv(write(tmp_path, "long.csv", f"id,text\n1,{long_value}\n"))
    assert columns["text"][0] == long_value
    with pytest.raises(ValueError, match=rf"line 2: a field is longer than {MAX_FIELD_CHARS:,} characters"):
        read_csv(write(tmp_path, "huge.csv", "id,text\n1," + "y" * (MAX_FIELD_CHARS + 1) + "\n"))
    import csv
    assert csv.field_size_limit() == 131072  # the process-wide limit is restored


def test_a_quoted_field_may_span_lines(tmp_path):
    columns = read_csv(write(tmp_path, "multi.csv", 'id,text\n1,"two\nlines"\n2,b\n'))
    assert columns["text"].tolist() == ["two\nlines", "b"]


def test_a_line_of_spaces_or_tabs_is_skipped_as_blank(tmp_path):
    # iter_csv: "Surrounding spaces are stripped and blank lines skipped"; a line holding only whitespace is blank
    columns = read_csv(write(tmp_path, "two.csv", "age,city\n30,Paris\n   \n\t\n41,Lyon\n  \n"))
    assert columns["age"].tolist() == ["30", "41"] and columns["city"].tolist() == ["Paris", "Lyon"]
    one = write(tmp_path, "one.csv", "city\nParis\n   \nLyon\n \t \n")  # one column: no field count to trip on
    assert read_csv(one)["city"].tolist() == ["Paris", "Lyon"]
    assert [chunk["city"].tolist() for chunk in iter_csv(one, chunk_rows=1)] == [["Paris"], ["Lyon"]]


def test_chunks_cover_every_row_once(tmp_path):
    body = "".join(f"{i},{i % 7}\n" for i in range(25))
    chunks = list(iter_csv(write(tmp_path, "c.csv", "a,b\n" + body), chunk_rows=10))
    assert [len(c["a"]) for c in chunks] == [10, 10, 5]
    assert np.concatenate([c["a"] for c in chunks]).astype(int).tolist() == list(range(25))


def test_labels_point_to_the_fix(tmp_path):
    with pytest.raises(ValueError, match="threshold="):
        binary_labels(np.array(["1", "2", "3", "4", "5"]), "rating", positive=4)
    with pytest.raises(ValueError, match="not both"):
        binary_labels(np.array(["1", "5"]), "rating", positive="5", threshold=4)
    np.testing.assert_array_equal(binary_labels(np.array(["1", "4", "5"]), "rating", threshold=4), [0, 1, 1])
    path = write(tmp_path, "r.csv", "user,rating\nu1,5\nu2,3\nu3,1\n")
    with pytest.raises(ValueError, match=r"r\.csv: .*threshold="):
        load_csv(path, "rating", positive="5")
    columns, labels = load_csv(path, "rating", threshold=4)
    assert labels.tolist() == [1.0, 0.0, 0.0] and list(columns) == ["user"]


def test_a_label_that_is_not_0_or_1_says_how_to_make_it_binary():
    with pytest.raises(ValueError, match=r"label column 'stars', row 1: '4' is not 0 or 1 "
                                         r"\(give positive= or threshold= to turn it into a binary label\)"):
        binary_labels(["1", "4"], "stars")


def test_chunks_of_one_row(tmp_path):
    chunks = list(iter_csv(write(tmp_path, "c.csv", "a,b\n1,2\n3,4\n"), chunk_rows=1))
    assert [chunk["a"].tolist() for chunk in chunks] == [["1"], ["3"]]
