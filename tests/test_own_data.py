"""Your own data, end to end through the command line, as a new user would run it: a ratings table
joined with users and items (a multivalent genre list), a spec drafted and then written by hand,
training with a time split, predictions and an explanation, each command in its own process."""
import csv
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wdnumpy.csvfiles import read_csv
from wdnumpy.ensemble import Ensemble
from wdnumpy.features import FeatureSpec
from wdnumpy.io import load_model
from wdnumpy.model import WideDeep

ROOT = Path(__file__).resolve().parent.parent
N_ROWS, N_USERS, N_ITEMS = 600, 60, 40
GENRES = ["Drama", "Comedy", "Action", "Thriller", "Romance"]

SPEC_TOML = """
wide = ["genres_x_gender", "item_id"]
continuous = ["age"]

[embeddings]
user_id = 8
item_id = 8
genres = 4

[[columns]]
kind = "categorical"
name = "user_id"

[[columns]]
kind = "categorical"
name = "item_id"

[[columns]]
kind = "multivalent"
name = "genres"
separator = "|"

[[columns]]
kind = "categorical"
name = "gender"

[[columns]]
kind = "numeric"
name = "age"

[[columns]]
kind = "crossed"
name = "genres_x_gender"
columns = ["genres", "gender"]
buckets = 64
"""


def write_ratings(directory: Path) -> list:
    """ratings ⋈ users ⋈ items as ratings.csv and ratings.csv.gz; the rows as dicts.

    A user rates an item higher when the item holds the user's favourite genre.
    """
    rng = np.random.default_rng(0)
    favourite = rng.integers(0, len(GENRES), N_USERS)
    gender = rng.choice(["f", "m"], N_USERS)
    age = rng.integers(18, 70, N_USERS)
    item_genres = [sorted(rng.choice(len(GENRES), rng.integers(1, 4), replace=False)) for _ in range(N_ITEMS)]
    rows = []
    for t in range(N_ROWS):
        user, item = int(rng.integers(N_USERS)), int(rng.integers(N_ITEMS))
        liked = favourite[user] in item_genres[item]
        rating = int(np.clip(rng.normal(4.2 if liked else 2.6, 0.8), 1, 5).round())
        rows.append({"user_id": user, "item_id": 1000 + item, "rating": rating,
                     "timestamp": 1_700_000_000 + 3600 * t + int(rng.integers(3600)),
                     "genres": "|".join(GENRES[g] for g in item_genres[item]),
                     "gender": gender[user], "age": int(age[user])})
    with open(directory / "ratings.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (directory / "ratings.csv.gz").write_bytes(gzip.compress((directory / "ratings.csv").read_bytes()))
    return rows


def cli(*args, cwd=ROOT):
    """``python -m wdnumpy ARGS`` in a fresh process from the repository root."""
    return subprocess.run([sys.executable, "-m", "wdnumpy", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.slow
def test_csv_to_spec_to_model_to_predictions_and_an_explanation(tmp_path):
    rows = write_ratings(tmp_path)
    csv_path, gz_path = tmp_path / "ratings.csv", tmp_path / "ratings.csv.gz"

    # 1. a first spec drafted from the file (here the compressed one)
    draft = cli("spec", "--csv", gz_path, "--label", "rating")
    assert draft.returncode == 0, draft.stderr
    kinds = {c["name"]: c for c in json.loads(draft.stdout)["columns"]}
    assert "rating" not in kinds
    assert kinds["user_id"]["kind"] == kinds["item_id"]["kind"] == "categorical"  # whole numbers named ...id
    assert kinds["genres"]["kind"] == "multivalent" and kinds["genres"]["separator"] == "|"
    assert kinds["gender"]["kind"] == "categorical"
    assert kinds["age"]["kind"] == kinds["timestamp"]["kind"] == "numeric"

    # 2. train on the earliest 80% of the ratings, test on the latest 20%, with the spec written by hand
    (tmp_path / "spec.toml").write_text(SPEC_TOML)
    trained = cli("train", "--csv", gz_path, "--spec", tmp_path / "spec.toml", "--label", "rating",
                  "--threshold", 4, "--split", "time:timestamp:0.2", "--epochs", 3, "--hidden", 8,
                  "--optimizer", "adam", "--save", tmp_path / "model.npz", "--json")
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert result["train_rows"] == 480 and result["test_rows"] == 120
    assert 0.5 < result["auc"] <= 1  # genre taste is learnable from 480 ratings

    # what load_model returns: the model, its fitted spec, and the run's metadata
    model, spec, metadata = load_model(tmp_path / "model.npz")
    assert isinstance(model, WideDeep) and not isinstance(model, Ensemble) and model.mode == "wide_deep"
    assert isinstance(spec, FeatureSpec) and spec.fitted and spec.wide == ["genres_x_gender", "item_id"]
    assert metadata["test_rows"] == 120 and metadata["auc"] == result["auc"]
    assert set(spec.columns["genres"].vocabulary) <= set(GENRES)

    # 3. a probability for every row, the same as the loaded model gives
    predicted = cli("predict", "--model", tmp_path / "model.npz", "--csv", csv_path)
    assert predicted.returncode == 0, predicted.stderr
    lines = predicted.stdout.splitlines()
    assert lines[0] == "probability" and len(lines) == 1 + len(rows)
    probability = np.array(lines[1:], dtype=float)
    assert np.all((probability >= 0) & (probability <= 1))
    expected = model.predict_proba(spec.transform(read_csv(csv_path)))
    np.testing.assert_allclose(probability, expected, atol=1e-6)

    # 4. one row's logit, term by term: the terms add up to the logit, which gives the prediction
    row = 5
    explained = cli("explain", "--model", tmp_path / "model.npz", "--csv", csv_path, "--row", row)
    assert explained.returncode == 0, explained.stderr
    out = explained.stdout.splitlines()
    number = re.compile(r"[+-]\d+\.\d{4}")
    terms = [float(number.findall(line)[-1]) for line in out[:-1]]
    logit = float(number.findall(out[-1])[0])
    assert out[0].startswith("bias") and out[-2].startswith("deep part logit")
    assert any("genres=" in line and "gender=" in line for line in out)  # the row's crosses, by name
    assert abs(sum(terms) - logit) <= 1e-4 * len(terms)
    assert abs(1 / (1 + np.exp(-logit)) - probability[row]) < 1e-3
