"""Numbers that overflow, diverge or are not finite are reported, never trained on silently."""
import numpy as np
import pytest

from conftest import make_batch, make_model
from wdnumpy.optim import SGD
from wdnumpy.train import TrainingDiverged, train


def test_training_that_diverges_stops_with_the_epoch_and_step():
    model, batch = make_model(), make_batch()
    big = batch.take(np.arange(8).repeat(40))
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+: .*smaller learning rate"):
        train(model, big, SGD(1e300), epochs=3, batch_size=16)


def test_standardising_values_near_the_float_limit_neither_overflows_nor_loses_them():
    from wdnumpy.features import Numeric
    x = np.array([1e300, -1e300, 5e299, 0.0, 1e300])
    column = Numeric("huge", normalization="standard").fit({"huge": x})
    values = column.values({"huge": x})
    assert np.all(np.isfinite(values)) and np.std(values) == pytest.approx(1.0)
    np.testing.assert_allclose(values, (x / 1e300 - np.mean(x / 1e300)) / np.std(x / 1e300))
    edge = np.array([1.7e308, 1.7e308, -1.7e308])  # x − mean overflows: the values are still finite
    edge_values = Numeric("edge", normalization="standard").fit({"edge": edge}).values({"edge": edge})
    assert np.all(np.isfinite(edge_values)) and edge_values[0] > 0 > edge_values[2]


def test_a_constant_column_standardises_to_zero():
    from wdnumpy.features import Numeric
    column = Numeric("c", normalization="standard").fit({"c": np.full(4, 7.0)})
    np.testing.assert_array_equal(column.values({"c": np.full(3, 7.0)}), np.zeros(3))


def test_unscaled_values_whose_square_overflows_are_refused_naming_column_and_row():
    from wdnumpy.features import Numeric
    huge = {"x": np.array([1.0, 2.0, 1e300, 3.0])}
    with pytest.raises(ValueError, match=r"column 'x', row 2: 1e\+300 is too large"):
        Numeric("x", normalization="none").fit(huge)
    column = Numeric("x", normalization="none").fit({"x": np.array([1.0, 2.0, 3.0])})
    with pytest.raises(ValueError, match=r"column 'x', row 1"):
        column.values({"x": np.array([0.5, -1e200])})


def test_large_unscaled_training_values_warn_naming_the_column():
    from wdnumpy.features import Numeric
    with pytest.warns(UserWarning, match="column 'income'.*unscaled"):
        Numeric("income", normalization="none").fit({"income": np.array([1.0, 5e7])})
    Numeric("small", normalization="none").fit({"small": np.array([1.0, 5e5])})  # no warning below 1e6
