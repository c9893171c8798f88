"""Time and random splits, and a validation set held out by the trainer."""
import numpy as np
import pytest

from conftest import make_batch, make_model
from wdnumpy.splits import parse_split, split, split_rows
from wdnumpy.train import train


def test_a_time_split_keeps_the_latest_rows_for_testing():
    columns = {"t": np.array([5, 1, 9, 3, 7, 2, 8, 6, 4, 10]), "user": np.array(list("abcdefghij"))}
    labels = np.arange(10) % 2
    train_columns, train_labels, test_columns, test_labels = split(columns, labels, by="time", column="t",
                                                                   test_fraction=0.3)
    assert sorted(test_columns["t"].tolist()) == [8, 9, 10]
    assert max(train_columns["t"]) < min(test_columns["t"])
    assert test_columns["user"].tolist() == ["c", "g", "j"]  # rows keep their order
    np.testing.assert_array_equal(test_labels, labels[[2, 6, 9]])
    assert len(train_labels) == 7


def test_a_random_split_is_seeded_disjoint_and_complete():
    a_train, a_test = split_rows(100, 0.25, seed=3)
    b_train, b_test = split_rows(100, 0.25, seed=3)
    c_train, _ = split_rows(100, 0.25, seed=4)
    np.testing.assert_array_equal(a_train, b_train)
    assert not np.array_equal(a_train, c_train)
    assert len(a_test) == 25 and sorted(np.concatenate([a_train, a_test]).tolist()) == list(range(100))


@pytest.mark.parametrize("kwargs, message", [
    (dict(by="time"), "column="),
    (dict(by="time", column="nope"), "'nope'"),
    (dict(by="alphabet"), "split by"),
    (dict(test_fraction=1.0), "test_fraction"),
    (dict(test_fraction=0.0), "test_fraction"),
])
def test_bad_splits_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split({"t": np.arange(5)}, np.zeros(5), **kwargs)


def test_split_specs_of_the_command_line():
    assert parse_split("random:0.2") == ("random", None, 0.2)
    assert parse_split("time:timestamp:0.1") == ("time", "timestamp", 0.1)
    for bad in ("time:0.2", "random", "random:x", "shuffle:0.2"):
        with pytest.raises(ValueError, match="random:FRACTION or time:COLUMN:FRACTION"):
            parse_split(bad)


def test_train_holds_out_a_validation_fraction_and_reports_it():
    big = make_batch().take(np.arange(8).repeat(30))
    model = make_model()
    history = train(model, big, "adam", epochs=3, batch_size=32, validation=0.25, patience=2)
    assert "valid_auc" in history.epochs[0] and history.best_epoch is not None
    with pytest.raises(ValueError, match="not both"):
        train(make_model(), big, "adam", epochs=1, valid=big, validation=0.1)


def test_a_time_split_keeps_tied_rows_in_their_order():
    """Ties keep the rows' order: among rows with the same time, the later rows are the test part."""
    times = np.random.default_rng(0).integers(0, 3, 200).astype(float)
    train_rows, test_rows = split_rows(200, 0.25, by="time", order_by=times)
    in_order = np.argsort(times, kind="stable")
    np.testing.assert_array_equal(test_rows, np.sort(in_order[150:]))
    np.testing.assert_array_equal(train_rows, np.sort(in_order[:150]))


def test_a_time_column_that_is_not_numeric_is_named_in_the_error():
    with pytest.raises(ValueError, match="column 'when', row 1: 'noon' is not a number"):
        split({"when": np.array(["1", "noon", "3"])}, None, by="time", column="when", test_fraction=0.3)


def test_split_and_split_rows_default_to_seed_0():
    """The signatures promise seed=0: a split without a seed is the seed-0 split."""
    columns, labels = {"x": np.arange(30)}, np.arange(30) % 2
    default, seeded = split(columns, labels), split(columns, labels, seed=0)
    np.testing.assert_array_equal(default[2]["x"], seeded[2]["x"])
    np.testing.assert_array_equal(default[3], seeded[3])
    for default_rows, seeded_rows in zip(split_rows(30, 0.2), split_rows(30, 0.2, seed=0)):
        np.testing.assert_array_equal(default_rows, seeded_rows)


def test_a_tiny_test_fraction_still_gives_the_test_part_exactly_one_row():
    """'at least one row goes to each part': 1% of 10 rows rounds to none, so one row (not two) is tested."""
    train_rows, test_rows = split_rows(10, 0.01)
    assert len(test_rows) == 1 and len(train_rows) == 9
    train_rows, test_rows = split_rows(10, 0.01, by="time", order_by=np.arange(10.0))
    assert test_rows.tolist() == [9] and train_rows.tolist() == list(range(9))
    # and the other way round: 99% (or 95%) of 10 rows rounds to all of them, yet one row is left to train on
    for test_fraction in (0.99, 0.95):
        train_rows, test_rows = split_rows(10, test_fraction)
        assert len(train_rows) == 1 and len(test_rows) == 9
        train_rows, test_rows = split_rows(10, test_fraction, by="time", order_by=np.arange(10.0)[::-1])
        assert train_rows.tolist() == [9] and test_rows.tolist() == list(range(9))


def test_a_time_split_of_rows_without_one_time_per_row_says_so():
    for order_by in (None, np.arange(4.0)):
        with pytest.raises(ValueError, match=r"a time split needs one time value per row \(order_by\)"):
            split_rows(5, 0.2, by="time", order_by=order_by)


def test_split_without_labels_gives_none_and_labels_of_another_length_are_refused():
    """'labels None if none were given'; labels whose length differs from the columns' are an error."""
    columns = {"x": np.arange(10)}
    train_columns, train_labels, test_columns, test_labels = split(columns)
    assert train_labels is None and test_labels is None
    assert sorted(np.concatenate([train_columns["x"], test_columns["x"]]).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="labels have 9 rows but the columns have 10"):
        split(columns, np.zeros(9))


def test_two_rows_split_into_one_each_and_fewer_are_refused():
    """'at least one row goes to each part': two rows are enough (one each, by either kind of split); one row
    or none cannot be split, and the error says how many rows there were."""
    for test_fraction in (0.1, 0.5, 0.9):
        train_rows, test_rows = split_rows(2, test_fraction, seed=1)
        assert len(train_rows) == 1 and len(test_rows) == 1 and {*train_rows, *test_rows} == {0, 1}
    assert [rows.tolist() for rows in split_rows(2, 0.5, by="time", order_by=np.array([7.0, 3.0]))] == [[1], [0]]
    for n in (0, 1):
        with pytest.raises(ValueError, match=rf"cannot split {n} row\(s\) into a training and a test part"):
            split_rows(n, 0.5)


def test_split_passes_its_seed_on():
    """split(..., seed=s) makes the seed-s split of split_rows: another seed, another random split."""
    columns, labels = {"x": np.arange(40)}, np.arange(40) % 3
    for seed in (3, 7):
        train_rows, test_rows = split_rows(40, 0.25, seed=seed)
        train_columns, train_labels, test_columns, test_labels = split(columns, labels, test_fraction=0.25, seed=seed)
        np.testing.assert_array_equal(test_columns["x"], test_rows)
        np.testing.assert_array_equal(train_columns["x"], train_rows)
        np.testing.assert_array_equal(test_labels, labels[test_rows])
    assert not np.array_equal(split(columns, seed=3)[2]["x"], split(columns, seed=0)[2]["x"])


def test_a_time_split_spec_needs_a_column_name():
    """parse_split: "time:COLUMN:FRACTION" with an empty COLUMN ("time::0.2") is refused, like a missing one."""
    for bad in ("time::0.2", "time:ts:", "time:ts:x", "random:0.2:3", "shuffle:ts:0.2", "time:ts:0.2:1"):
        with pytest.raises(ValueError, match=f"expected random:FRACTION or time:COLUMN:FRACTION, got '{bad}'"):
            parse_split(bad)
