"""Spec files: JSON and TOML describe the same spec, a bad file is named, and the draft's choice of kinds."""
import json
from pathlib import Path

import numpy as np
import pytest

from wdnumpy.features import FeatureSpec
from wdnumpy.specfiles import MAX_VOCABULARY, draft_spec, load_spec, save_spec

JSON_SPEC = {
    "columns": [{"kind": "categorical", "name": "user_id", "min_count": 2},
                {"kind": "multivalent", "name": "genres", "separator": "|"},
                {"kind": "numeric", "name": "age", "fill": "median"},
                {"kind": "categorical", "name": "gender"},
                {"kind": "crossed", "name": "genres_x_gender", "columns": ["genres", "gender"], "buckets": 1000}],
    "wide": ["genres_x_gender", "gender"],
    "embeddings": {"user_id": 16, "genres": 8},
    "continuous": ["age"],
}

TOML_SPEC = """
wide = ["genres_x_gender", "gender"]
continuous = ["age"]

[embeddings]
user_id = 16
genres = 8

[[columns]]
kind = "categorical"
name = "user_id"
min_count = 2

[[columns]]
kind = "multivalent"
name = "genres"
separator = "|"

[[columns]]
kind = "numeric"
name = "age"
fill = "median"

[[columns]]
kind = "categorical"
name = "gender"

[[columns]]
kind = "crossed"
name = "genres_x_gender"
columns = ["genres", "gender"]
buckets = 1000
"""


def test_json_and_toml_give_the_same_spec(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps(JSON_SPEC))
    (tmp_path / "spec.toml").write_text(TOML_SPEC)
    from_json, from_toml = load_spec(tmp_path / "spec.json"), load_spec(tmp_path / "spec.toml")
    assert isinstance(from_json, FeatureSpec)
    assert from_json.to_dict() == from_toml.to_dict()
    assert from_json.wide == ["genres_x_gender", "gender"] and from_json.embeddings == {"user_id": 16, "genres": 8}


def test_a_saved_spec_loads_back_fitted(tmp_path):
    data = {"user_id": np.array(["1", "2", "1"]), "genres": np.array(["a|b", "b", ""]),
            "age": np.array(["30", "", "41"]), "gender": np.array(["f", "m", "f"])}
    spec = FeatureSpec.from_dict(JSON_SPEC).fit(data)
    loaded = load_spec(save_spec(tmp_path / "fitted.json", spec))
    assert loaded.fitted and loaded.to_dict() == spec.to_dict()


@pytest.mark.parametrize("name, text, message", [
    ("broken.json", '{"columns": [', "cannot read the spec"),
    ("broken.toml", "columns = [", "cannot read the spec"),
    ("list.json", "[1, 2]", "holds an object"),
    ("kind.json", '{"columns": [{"kind": "fancy", "name": "a"}]}', "unknown column kind 'fancy'"),
    ("role.json", '{"columns": [{"kind": "numeric", "name": "a"}], "wide": ["a"]}', "expected a categorical-like"),
    ("option.json", '{"columns": [{"kind": "categorical", "name": "a", "bukets": 3}]}', "bukets"),
])
def test_a_bad_spec_file_names_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        load_spec(path)
    assert str(error.value).startswith(str(path))
    with pytest.raises(ValueError, match="no such spec file"):
        load_spec(tmp_path / "missing.json")


def test_the_draft_picks_each_kind_from_the_values():
    n = 2 * MAX_VOCABULARY + 10
    rng = np.random.default_rng(0)
    columns = {
        "rating": rng.integers(1, 6, n).astype(str),                        # the label: left out
        "age": rng.integers(18, 70, n).astype(str),                         # numbers
        "income": np.where(rng.random(n) < 0.1, "", rng.normal(5e4, 1e4, n).round(2).astype(str)),
        "user_id": rng.integers(0, 50, n).astype(str),                      # whole numbers named ...id
        "genres": np.array(["Drama|Comedy", "Action", "Action|Thriller|Drama", "Comedy"] * (n // 4) + ["Drama"]
                           * (n % 4)),
        "country": rng.choice(["fr", "de", "us"], n),
        "session": np.array([f"s{i}" for i in range(n)]),                   # high cardinality text
    }
    draft = draft_spec(columns, label="rating")
    kinds = {c["name"]: c for c in draft["columns"]}
    assert "rating" not in kinds
    assert kinds["age"]["kind"] == "numeric" and kinds["age"]["fill"] is None
    assert kinds["income"]["kind"] == "numeric" and kinds["income"]["fill"] == "median"
    assert kinds["user_id"]["kind"] == "categorical" and kinds["user_id"]["min_count"] == 2
    assert kinds["genres"]["kind"] == "multivalent" and kinds["genres"]["separator"] == "|"
    assert kinds["country"] == {"kind": "categorical", "name": "country", "min_count": 1}
    assert kinds["session"]["kind"] == "hashed" and kinds["session"]["buckets"] == 4096  # 2^⌈log2(2·2010)⌉
    assert draft["continuous"] == ["age", "income"]
    assert set(draft["wide"]) == set(draft["embeddings"]) == {"user_id", "genres", "country", "session"}
    assert any("crossed" in note for note in draft["notes"])
    spec = FeatureSpec.from_dict(draft)  # the draft is a valid spec as it is (notes are ignored)
    spec.fit(columns)
    assert spec.transform(columns).wide.shape[0] == n


def test_the_draft_describes_the_columns_after_the_label_and_suggests_pairs():
    columns = {"label": ["1", "0"] * 3, "city": ["a", "b", "c"] * 2, "empty": [""] * 6,
               "genre": ["x", "y"] * 3, "age": ["30", "40", "50"] * 2}
    draft = draft_spec(columns, label="label", embedding_dim=5)
    assert [c["name"] for c in draft["columns"]] == ["city", "genre", "age"]
    assert draft["embeddings"] == {"city": 5, "genre": 5} and draft["continuous"] == ["age"]
    assert "Candidate pairs: city × genre" in draft["notes"][-1]


def test_the_draft_keeps_a_vocabulary_of_exactly_max_vocabulary_values():
    values = [f"v{i}" for i in range(MAX_VOCABULARY)]
    assert draft_spec({"c": values})["columns"][0]["kind"] == "categorical"
    assert draft_spec({"c": values + ["one more"]})["columns"][0]["kind"] == "hashed"


def test_an_unreadable_spec_file_names_the_parse_error(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"cannot read the spec \(JSONDecodeError: "):
        load_spec(path)


def test_a_spec_file_may_leave_out_wide_embeddings_and_continuous(tmp_path):
    """load_spec fills in what a file leaves out: no wide columns, no embeddings, no continuous inputs (a
    deep-only spec needs no "wide" key); found unpinned by a mutmut survivor."""
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"columns": [{"kind": "categorical", "name": "c"}, {"kind": "numeric", "name": "a"}],
                                "embeddings": {"c": 3}, "continuous": ["a"]}))
    spec = load_spec(path)
    assert spec.wide == [] and spec.embeddings == {"c": 3} and spec.continuous == ["a"]
    path.write_text(json.dumps({"columns": [{"kind": "categorical", "name": "c"}], "wide": ["c"]}))
    spec = load_spec(path)
    assert spec.wide == ["c"] and spec.embeddings == {} and spec.continuous == []


def test_the_draft_embeds_in_8_dimensions_by_default():
    """draft_spec's signature default embedding_dim=8 (the command line's --embedding-dim default too)."""
    assert draft_spec({"city": ["a", "b", "a"], "age": ["1", "2", "3"]})["embeddings"] == {"city": 8}


def test_the_drafts_notes_show_how_to_add_a_cross_and_list_every_pair_of_id_columns():
    """draft_spec: 'Crosses are left to the user: the description's notes suggests some.' The first note says how
    to add one, with a crossed column description that is valid as it stands; the second lists each pair of the
    columns that go to the wide part, in column order, separated by commas."""
    draft = draft_spec({"a": ["x", "y"], "age": ["1", "2"], "b": ["u", "v"], "c": ["p", "q"]})
    assert draft["notes"][0] == ('Crosses memorize pairs of values in the wide part: add, for example, '
                                 '{"kind": "crossed", "name": "a_x_b", "columns": ["a", "b"], "buckets": 10000} '
                                 'to columns and its name to wide.')
    example = json.loads(draft["notes"][0].split("for example, ")[1].split(" to columns")[0])
    spec = FeatureSpec.from_dict({**draft, "columns": draft["columns"] + [example], "wide": draft["wide"] + ["a_x_b"]})
    assert list(spec.columns["a_x_b"].parents) == ["a", "b"] and "a_x_b" in spec.wide
    assert draft["notes"][1] == "Candidate pairs: a × b, a × c, b × c"
    assert len(draft_spec({"a": ["x", "y"], "age": ["1", "2"]})["notes"]) == 1  # one id column: no pair


def test_the_draft_finds_a_separator_anywhere_in_the_values_of_a_list_column():
    """A value that holds the separator at its very start (an empty first item) holds it too; a list column
    is found when 30% of its values hold a separator (most lists in a column may have one item), and the draft
    gives it min_count 2 like a large categorical column."""
    for values in (["|a", "|b", "|c", "|a"], [";a", ";b"], [",a", ",b"]):
        column = draft_spec({"tags": values})["columns"][0]
        assert column == {"kind": "multivalent", "name": "tags", "separator": values[0][0], "min_count": 2}
    three_in_ten = ["a|b", "c|d", "e|f"] + [f"g{i}" for i in range(7)]
    assert draft_spec({"tags": three_in_ten})["columns"][0]["kind"] == "multivalent"
    two_in_ten = ["a|b", "c|d"] + [f"g{i}" for i in range(8)]
    assert draft_spec({"tags": two_in_ten})["columns"][0] == {"kind": "categorical", "name": "tags", "min_count": 1}


def test_the_draft_drops_rare_values_only_of_categorical_columns_with_more_than_20_values():
    """min_count 2 (rare values pooled into the unknown id) from 21 distinct values on, 1 up to 20."""
    for distinct, min_count in ((20, 1), (21, 2)):
        values = [f"v{i}" for i in range(distinct)] * 2
        assert draft_spec({"c": values})["columns"][0] == {"kind": "categorical", "name": "c", "min_count": min_count}


def test_the_draft_describes_a_column_with_a_single_present_value():
    """Only a column without any present value is left out; one value (a one-row sample) is enough."""
    draft = draft_spec({"city": ["Paris"], "age": ["30"], "none": [""]})
    assert [c["name"] for c in draft["columns"]] == ["city", "age"]
    draft = draft_spec({"city": ["", "Paris", ""], "age": ["", "", "30"]})
    assert draft["columns"] == [{"kind": "categorical", "name": "city", "min_count": 1},
                                {"kind": "numeric", "name": "age", "fill": "median"}]


def test_an_id_is_a_column_named_id_in_any_case_holding_whole_numbers():
    """'unless its name ends in "id" and its values are whole numbers': UserID counts, a fractional paid does not."""
    draft = draft_spec({"UserID": ["3", "17", "3.0"], "paid": ["1.5", "2", "3"], "Id": ["1", "2", "2"]})
    kinds = {c["name"]: c["kind"] for c in draft["columns"]}
    assert kinds == {"UserID": "categorical", "paid": "numeric", "Id": "categorical"}


def test_a_saved_spec_is_indented_json_like_the_readmes(tmp_path):
    """save_spec writes the README's spec.json layout: '{', then each key on its own line indented one space,
    so that a saved spec is a file to read and edit (and to diff line by line)."""
    spec = FeatureSpec.from_dict(JSON_SPEC)
    text = save_spec(tmp_path / "spec.json", spec).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "{" and lines[1] == ' "columns": [' and lines[2] == "  {" and lines[-1] == "}"
    assert json.loads(text) == spec.to_dict()


def test_a_spec_file_that_is_not_utf8_is_named(tmp_path):
    """A spec file is UTF-8 text (as JSON and TOML are): other bytes give the file's name and the decoding error."""
    path = tmp_path / "latin.json"
    path.write_bytes('{"columns": [{"kind": "categorical", "name": "ville"}], "wide": ["ville"], "x": "é"}'
                     .encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.json: cannot read the spec \(UnicodeDecodeError: "):
        load_spec(path)
    with pytest.raises(ValueError, match=r": no such spec file"):
        load_spec(tmp_path)  # a directory is not a spec file


def test_a_spec_file_is_read_as_utf8_whatever_the_locale(tmp_path):
    """JSON and TOML files are UTF-8: a spec naming a column 'città' loads the same under an ASCII (C) locale."""
    import os
    import subprocess
    import sys
    path = tmp_path / "spec.json"
    path.write_bytes(json.dumps({"columns": [{"kind": "categorical", "name": "città"}], "wide": ["città"]},
                                ensure_ascii=False).encode("utf-8"))
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0",
           "PYTHONIOENCODING": "utf-8"}
    code = "import sys; from wdnumpy.specfiles import load_spec; print(load_spec(sys.argv[1]).wide == ['citt\\xe0'])"
    result = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                            cwd=str(Path(__file__).resolve().parent.parent))
    assert result.stdout.strip() == "True", result.stderr
