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
