"""The same Wide & Deep model in PyTorch, to compare speed with wdnumpy (optional).

    pip install torch==2.13.0          # not a project requirement; the CPU build is enough
    OPENBLAS_NUM_THREADS=1 python benchmarks/pytorch_baseline.py            # Adult
    OPENBLAS_NUM_THREADS=1 python benchmarks/pytorch_baseline.py clicklog   # the click log, 10⁶ rows

Same features, same architecture (wide: a sum of one weight per active feature; deep: one
embedding per categorical field and the numbers through 100, 50 ReLU units to one logit; one
shared bias), float64, Adam with learning rate 0.001, the same rows per epoch. The PyTorch model is
the idiomatic one: ``nn.Embedding`` and ``nn.EmbeddingBag`` with dense gradients and
``torch.optim.Adam``. PyTorch uses as many threads as ``--threads`` (default 1, like
``OPENBLAS_NUM_THREADS=1`` for wdnumpy).

- ``adult``: batch 256; a warm-up epoch each, then 5 epochs of each library in turn, so that both
  see the same load on a shared machine; the ratio is the median of the 5 per-pair ratios (also
  given: the fastest epoch of each, divided).
- ``clicklog``: the synthetic click log of ``benchmarks/clicklog.py``, 10⁶ rows with 2²⁰ hash
  buckets, batch 1024, one epoch of each (after a warm-up on 20,000 rows).

Prints one JSON line with each library's seconds per epoch, the ratio wdnumpy ÷ PyTorch, and each
model's test AUC as a sanity check.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from wdnumpy.metrics import roc_auc  # noqa: E402
from wdnumpy.model import WideDeep  # noqa: E402
from wdnumpy.optim import Adam  # noqa: E402
from wdnumpy.train import train  # noqa: E402


class TorchWideDeep:
    """The PyTorch model and its Adam, trained on the tensors of a wdnumpy Batch."""

    def __init__(self, fields, wide_dim: int, n_continuous: int, threads: int):
        import torch
        from torch import nn

        torch.manual_seed(0)
        torch.set_default_dtype(torch.float64)
        torch.set_num_threads(threads)
        self.torch, self.names = torch, [f.name for f in fields]

        class WideAndDeep(nn.Module):
            def __init__(self):
                super().__init__()
                self.wide = nn.EmbeddingBag(wide_dim, 1, mode="sum")
                nn.init.zeros_(self.wide.weight)
                self.embeddings = nn.ModuleList(nn.Embedding(f.vocab_size, f.dim) for f in fields)
                width = sum(f.dim for f in fields) + n_continuous
                self.mlp = nn.Sequential(nn.Linear(width, 100), nn.ReLU(), nn.Linear(100, 50), nn.ReLU(),
                                         nn.Linear(50, 1, bias=False))
                self.bias = nn.Parameter(torch.zeros(1))

            def forward(self, wide, ids, numbers):
                deep_in = torch.cat([e(ids[:, k]) for k, e in enumerate(self.embeddings)] + [numbers], dim=1)
                return (self.wide(wide) + self.mlp(deep_in) + self.bias).squeeze(1)

        self.model = WideAndDeep()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss_fn = nn.BCEWithLogitsLoss()

    def tensors(self, batch):
        n = len(batch)
        per_row = np.diff(batch.wide.indptr)
        if not np.all(per_row == per_row[0]) or not np.all(batch.wide.data == 1):
            raise SystemExit("this baseline expects the same number of active binary wide features in every row")
        t = self.torch
        return (t.from_numpy(batch.wide.indices.reshape(n, per_row[0]).astype(np.int64)),
                t.from_numpy(np.stack([batch.categorical[f] for f in self.names], axis=1).astype(np.int64)),
                t.from_numpy(np.asarray(batch.continuous, dtype=np.float64)),
                t.from_numpy(np.asarray(batch.labels, dtype=np.float64)))

    def epoch(self, data, batch_size: int, seed: int) -> float:
        """Seconds for one epoch over ``data`` (the tensors of :meth:`tensors`) in a seeded order."""
        wide, ids, numbers, labels = data
        start = time.perf_counter()
        order = self.torch.from_numpy(np.random.default_rng(seed).permutation(len(labels)))
        for first in range(0, len(labels), batch_size):
            rows = order[first:first + batch_size]
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(wide[rows], ids[rows], numbers[rows]), labels[rows])
            loss.backward()
            self.optimizer.step()
        return time.perf_counter() - start

    def auc(self, data) -> float:
        wide, ids, numbers, labels = data
        with self.torch.no_grad():
            return roc_auc(labels.numpy(), self.torch.sigmoid(self.model(wide, ids, numbers)).numpy())


def wdnumpy_epoch(model, optimizer, data, batch_size: int, seed: int) -> float:
    return float(train(model, data, optimizer, epochs=1, batch_size=batch_size, seed=seed).column("seconds")[0])


def bench_adult(args) -> dict:
    from wdnumpy.datasets import adult_spec, load_adult
    train_columns, train_labels = load_adult("train")
    test_columns, test_labels = load_adult("test")
    spec = adult_spec().fit(train_columns)
    train_batch, test_batch = spec.transform(train_columns, train_labels), spec.transform(test_columns, test_labels)
    batch_size = 256

    model, optimizer = WideDeep(**spec.model_kwargs(), hidden=(100, 50), seed=0), Adam(1e-3)
    theirs = TorchWideDeep(spec.embedding_fields(), spec.wide_dim, len(spec.continuous), args.threads)
    torch_train, torch_test = theirs.tensors(train_batch), theirs.tensors(test_batch)
    wdnumpy_epoch(model, optimizer, train_batch, batch_size, 0)  # warm-up epochs
    theirs.epoch(torch_train, batch_size, 0)
    ours_seconds, theirs_seconds = [], []
    for epoch in range(1, args.epochs + 1):  # in turn, so that both meet the same load
        ours_seconds.append(wdnumpy_epoch(model, optimizer, train_batch, batch_size, epoch))
        theirs_seconds.append(theirs.epoch(torch_train, batch_size, epoch))
    ratios = np.array(ours_seconds) / np.array(theirs_seconds)
    return {"benchmark": "adult", "wdnumpy_seconds_per_epoch": float(np.median(ours_seconds)),
            "pytorch_seconds_per_epoch": float(np.median(theirs_seconds)),
            "wdnumpy_over_pytorch": float(np.median(ratios)), "per_epoch_ratios": np.round(ratios, 3).tolist(),
            "ratio_of_minima": min(ours_seconds) / min(theirs_seconds),
            "wdnumpy_test_auc": roc_auc(test_labels, model.predict_proba(test_batch)),
            "pytorch_test_auc": theirs.auc(torch_test), **versions(theirs)}


def bench_clicklog(args) -> dict:
    from clicklog import N_NUMERIC, fields, make_click_log
    data = make_click_log(args.rows, hash_bits=20, seed=2)
    test = make_click_log(100_000, hash_bits=20, seed=3)
    batch_size = 1024
    model, optimizer = WideDeep(wide_dim=2 ** 20, fields=fields(), n_continuous=N_NUMERIC, hidden=(100, 50),
                                seed=0), Adam(1e-3)
    theirs = TorchWideDeep(fields(), 2 ** 20, N_NUMERIC, args.threads)
    torch_train, torch_test = theirs.tensors(data), theirs.tensors(test)
    warm = data.take(np.arange(20_000))
    wdnumpy_epoch(model, optimizer, warm, batch_size, 0)
    theirs.epoch(theirs.tensors(warm), batch_size, 0)
    ours = wdnumpy_epoch(model, optimizer, data, batch_size, 1)
    their_seconds = theirs.epoch(torch_train, batch_size, 1)
    return {"benchmark": "clicklog", "rows": args.rows, "wdnumpy_seconds_per_epoch": ours,
            "pytorch_seconds_per_epoch": their_seconds, "wdnumpy_over_pytorch": ours / their_seconds,
            "wdnumpy_test_auc": roc_auc(test.labels, model.predict_proba(test)),
            "pytorch_test_auc": theirs.auc(torch_test), **versions(theirs)}


def versions(theirs) -> dict:
    return {"torch": theirs.torch.__version__, "torch_threads": theirs.torch.get_num_threads()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", nargs="?", default="adult", choices=["adult", "clicklog"])
    parser.add_argument("--threads", type=int, default=1, help="PyTorch's threads (default 1)")
    parser.add_argument("--epochs", type=int, default=5, help="adult: epochs of each library after the warm-up")
    parser.add_argument("--rows", type=int, default=1_000_000, help="clicklog: rows of the training log")
    args = parser.parse_args()
    print(json.dumps(bench_adult(args) if args.benchmark == "adult" else bench_clicklog(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
