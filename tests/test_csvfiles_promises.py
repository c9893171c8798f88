"""csvfiles.py's promises found unpinned by mutmut survivors (test_csvfiles.py holds the rest)."""
import numpy as np

from wdnumpy.csvfiles import binary_labels, load_csv


def test_labels_written_as_floats_are_already_binary(tmp_path):
    """With neither positive= nor threshold=, a label column must already be 0 and 1: 0.0 and 1.0 (a column a
    float-typed tool wrote) count as 0 and 1."""
    np.testing.assert_array_equal(binary_labels(np.array(["0.0", "1.0", " 1.0 ", "1", "0"]), "clicked"),
                                  [0, 1, 1, 1, 0])
    path = tmp_path / "f.csv"
    path.write_text("user,clicked\nu1,1.0\nu2,0.0\n")
    columns, labels = load_csv(path, "clicked")
    assert labels.tolist() == [1.0, 0.0] and list(columns) == ["user"]
