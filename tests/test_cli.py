"""The command line: train, predict, explain, and bad arguments without tracebacks."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wdnumpy.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    """Run the CLI in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "wdnumpy", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "adult.npz"
    out = run("train", "--data", "adult", "--epochs", "1", "--hidden", "16", "--save", str(path), "--json")
    assert out.returncode == 0, out.stderr
    return path, json.loads(out.stdout.strip().splitlines()[-1]), out


def test_train_reports_json_and_progress(saved_model):
    _, result, out = saved_model
    for key in ("data", "model", "auc", "accuracy", "logloss", "seconds_per_epoch", "epochs", "params"):
        assert key in result
    assert result["data"] == "adult" and result["model"] == "wide_deep" and result["epochs"] == 1
    assert 0.8 < result["auc"] <= 1 and result["params"] > 1000
    assert "epoch 1" in out.stderr and "test: auc" in out.stderr


def test_train_app_store_reports_bayes_auc(capsys):
    assert main(["train", "--data", "app_store", "--model", "wide", "--epochs", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bayes_auc"] > result["auc"] > 0.5
    assert {"auc_seen", "auc_unseen", "auc_none", "bayes_auc_seen"} <= set(result)


def adult_rows(tmp_path, n=5):
    import gzip
    with gzip.open(ROOT / "data" / "adult.test.csv.gz", "rt") as f:
        lines = [next(f) for _ in range(n + 1)]
    path = tmp_path / "rows.csv"
    path.write_text("".join(lines))
    return path


def test_predict_and_explain(saved_model, tmp_path):
    model, _, _ = saved_model
    rows = adult_rows(tmp_path)
    out_file = tmp_path / "p.csv"
    assert main(["predict", "--model", str(model), "--csv", str(rows), "--out", str(out_file)]) == 0
    lines = out_file.read_text().splitlines()
    assert lines[0] == "probability" and len(lines) == 6
    assert all(0 < float(x) < 1 for x in lines[1:])
    out = run("explain", "--model", str(model), "--csv", str(rows), "--row", "2")
    assert out.returncode == 0, out.stderr
    assert "education=" in out.stdout and " × " in out.stdout and "= logit" in out.stdout
    total = 0.0
    for line in out.stdout.splitlines()[:-1]:
        total += float(line.split()[-1])
    logit = float(out.stdout.splitlines()[-1].split()[2])
    assert total == pytest.approx(logit, abs=5e-4 * len(out.stdout.splitlines()))


@pytest.mark.parametrize("args, message", [
    (["train", "--epochs", "0"], "positive integer"),
    (["train", "--epochs", "ten"], "positive integer"),
    (["train", "--hidden", "100,x"], "comma-separated"),
    (["train", "--lr", "-1"], "positive number"),
    (["train", "--model", "forest"], "invalid choice"),
    (["train", "--data", "mnist"], "invalid choice"),
    (["train", "--optimizer", "rmsprop"], "invalid choice"),
    (["predict", "--csv", "x.csv"], "required"),
    (["explain", "--model", "m.npz", "--csv", "x.csv", "--row", "-1"], "non-negative integer"),
    ([], "required"),
])
def test_bad_arguments_give_usage_and_nonzero_exit(args, message):
    out = run(*args)
    assert out.returncode != 0
    assert "usage:" in out.stderr and message in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_files_give_an_error_not_a_traceback(saved_model, tmp_path):
    model, _, _ = saved_model
    out = run("predict", "--model", str(tmp_path / "none.npz"), "--csv", "x.csv")
    assert out.returncode == 1 and "no such model file" in out.stderr and "Traceback" not in out.stderr
    rows = adult_rows(tmp_path, n=2)
    out = run("explain", "--model", str(model), "--csv", str(rows), "--row", "5")
    assert out.returncode == 1 and "row must lie in [0, 2)" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("age,workclass\n39,State-gov\n")
    out = run("predict", "--model", str(model), "--csv", str(bad))
    assert out.returncode == 1 and "unknown column" in out.stderr and "Traceback" not in out.stderr
