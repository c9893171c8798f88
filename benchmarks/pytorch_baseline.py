"""The same Wide & Deep model on Adult in PyTorch, to compare speed with wdnumpy (optional).

    pip install torch==2.13.0          # not a project requirement; the CPU build is enough
    python benchmarks/pytorch_baseline.py

Same features (wdnumpy's Adult spec), same architecture (wide: a sum of one weight per active
feature; deep: eight 8-dim embeddings and the five numbers through 100, 50 ReLU units to one logit;
one shared bias), float64, batch 256, Adam with learning rate 0.001, the same rows per epoch. Prints
one JSON line with the median seconds per epoch of each library over 5 epochs after a warm-up epoch,
and each model's test AUC as a sanity check.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wdnumpy.datasets import adult_spec, load_adult  # noqa: E402
from wdnumpy.metrics import roc_auc  # noqa: E402
from wdnumpy.model import WideDeep  # noqa: E402
from wdnumpy.optim import Adam  # noqa: E402
from wdnumpy.train import train  # noqa: E402

EPOCHS, BATCH = 5, 256


def torch_epochs(spec, train_batch, test_batch):
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    names = [f.name for f in spec.embedding_fields()]

    def tensors(batch):
        n = len(batch)
        per_row = np.diff(batch.wide.indptr)
        if not np.all(per_row == per_row[0]):
            raise SystemExit("this baseline expects the same number of active wide features in every row")
        return (torch.from_numpy(batch.wide.indices.reshape(n, per_row[0]).astype(np.int64)),
                torch.from_numpy(np.stack([batch.categorical[f] for f in names], axis=1).astype(np.int64)),
                torch.from_numpy(batch.continuous), torch.from_numpy(batch.labels))

    class WideAndDeep(nn.Module):
        def __init__(self):
            super().__init__()
            self.wide = nn.EmbeddingBag(spec.wide_dim, 1, mode="sum")
            nn.init.zeros_(self.wide.weight)
            self.embeddings = nn.ModuleList(nn.Embedding(f.vocab_size, f.dim) for f in spec.embedding_fields())
            width = sum(f.dim for f in spec.embedding_fields()) + len(spec.continuous)
            self.mlp = nn.Sequential(nn.Linear(width, 100), nn.ReLU(), nn.Linear(100, 50), nn.ReLU(),
                                     nn.Linear(50, 1, bias=False))
            self.bias = nn.Parameter(torch.zeros(1))

        def forward(self, wide, ids, numbers):
            deep_in = torch.cat([e(ids[:, k]) for k, e in enumerate(self.embeddings)] + [numbers], dim=1)
            return (self.wide(wide) + self.mlp(deep_in) + self.bias).squeeze(1)

    wide, ids, numbers, labels = tensors(train_batch)
    model = WideAndDeep()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(0)
    times = []
    for epoch in range(EPOCHS + 1):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(labels)))
        for first in range(0, len(labels), BATCH):
            rows = order[first:first + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(wide[rows], ids[rows], numbers[rows]), labels[rows])
            loss.backward()
            optimizer.step()
        if epoch:  # the first epoch warms up
            times.append(time.perf_counter() - start)
    test_wide, test_ids, test_numbers, _ = tensors(test_batch)
    with torch.no_grad():
        p = torch.sigmoid(model(test_wide, test_ids, test_numbers)).numpy()
    return float(np.median(times)), roc_auc(test_batch.labels, p), torch.__version__, torch.get_num_threads()


def main() -> int:
    train_columns, train_labels = load_adult("train")
    test_columns, test_labels = load_adult("test")
    spec = adult_spec().fit(train_columns)
    train_batch, test_batch = spec.transform(train_columns, train_labels), spec.transform(test_columns, test_labels)

    model, optimizer = WideDeep(**spec.model_kwargs(), hidden=(100, 50), seed=0), Adam(1e-3)
    train(model, train_batch, optimizer, epochs=1, batch_size=BATCH)  # warm-up epoch
    history = train(model, train_batch, optimizer, epochs=EPOCHS, batch_size=BATCH, seed=1)
    ours = float(np.median(history.column("seconds")))
    ours_auc = roc_auc(test_labels, model.predict_proba(test_batch))

    theirs, theirs_auc, version, threads = torch_epochs(spec, train_batch, test_batch)
    print(json.dumps({"wdnumpy_seconds_per_epoch": ours, "pytorch_seconds_per_epoch": theirs,
                      "pytorch_over_wdnumpy": theirs / ours, "wdnumpy_test_auc": ours_auc,
                      "pytorch_test_auc": theirs_auc, "torch": version, "torch_threads": threads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
