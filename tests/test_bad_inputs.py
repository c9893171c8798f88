"""Bad inputs, each answered by one error that names the file, column, row or argument (issue 13).

Model files (crafted, damaged or foreign), output paths, CSV files given to the
command line, numbers out of range, and the command line's exit codes. Every
case asserts the exception type or the exit code *and* what the message names.
Everything runs on a model of a few dozen parameters; the three tests that need
a real process (a killed save, a file-size limit, a closed pipe) start one.
"""
import errno
import gzip
import io as pyio
import json
import os
import pickle
import re
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy_format

from test_cli import run_here
from wdnumpy import cli, csvfiles, files, io
from wdnumpy.csvfiles import read_csv
from wdnumpy.features import FeatureSpec
from wdnumpy.optim import FTRL, SGD, AdaGrad, Adam
from wdnumpy.specfiles import load_spec
from wdnumpy.train import make_model

ROOT = Path(__file__).resolve().parent.parent
CITIES = ["paris", "oslo", "lima", "rome"]
SPEC = {"columns": [{"kind": "categorical", "name": "city"}, {"kind": "hashed", "name": "user", "buckets": 8},
                    {"kind": "numeric", "name": "age"},
                    {"kind": "crossed", "name": "city_x_user", "columns": ["city", "user"], "buckets": 16}],
        "wide": ["city", "city_x_user"], "embeddings": {"city": 2, "user": 2}, "continuous": ["age"]}


def csv_text(n: int) -> str:
    return "city,user,age,y\n" + "".join(f"{CITIES[i % 4]},u{i % 7},{20 + i % 30},{i % 3 % 2}\n" for i in range(n))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory with rows.csv, spec.json, a wide & deep model m.npz and an ensemble e.npz fitted on it."""
    root = tmp_path_factory.mktemp("bad")
    (root / "rows.csv").write_text(csv_text(40))
    (root / "spec.json").write_text(json.dumps(SPEC))
    spec = load_spec(root / "spec.json").fit(read_csv(root / "rows.csv"))
    io.save_model(root / "m.npz", make_model("wide_deep", spec, hidden=(3, 2)), spec)
    io.save_model(root / "e.npz", make_model("ensemble", spec, hidden=(3,)), spec)
    return root


def contents(path):
    """(arrays, meta) of a model file, to change and write back with :func:`write_model`."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return arrays, json.loads(arrays.pop("__meta__").tobytes())


def write_model(path, arrays, meta):
    text = meta if isinstance(meta, str) else json.dumps(meta)
    np.savez(path, __meta__=np.frombuffer(text.encode(), dtype=np.uint8), **arrays)
    return path


def npy(shape, descr="<f8", data=b""):
    """An .npy member written by hand: magic, version 1.0, header length, header dict, then ``data``."""
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def write_zip(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def refused(path, match):
    """load_model(path) raises a ValueError that starts with the path and matches ``match``; its message."""
    with pytest.raises(ValueError, match=match) as error:
        io.load_model(path)
    message = str(error.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "pickle" not in message.lower()
    return message


# -- model files that are not model files -------------------------------------------------------------------

def _object_array(path):
    np.savez(path, __meta__=np.array([{"format": "wdnumpy-model"}], dtype=object))


NOT_A_ZIP = "it is not a zip archive of arrays"
NOT_MODELS = {  # what the file is → (how to make it, the reason the message gives in brackets)
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(300)), NOT_A_ZIP),
    "a CSV": (lambda p: p.write_text(csv_text(5)), NOT_A_ZIP),
    "an empty file": (lambda p: p.write_bytes(b""), NOT_A_ZIP),
    "a pickle": (lambda p: p.write_bytes(pickle.dumps({"param:bias": [0.0]})), NOT_A_ZIP),
    "a bare .npy": (lambda p: p.write_bytes(npy((1,), data=bytes(8))), NOT_A_ZIP),
    "a zip of text": (lambda p: write_zip(p, {"readme.txt": "hello"}), "it holds 'readme.txt', which is not an array"),
    "an object array": (_object_array, "array '__meta__' holds Python objects"),
    "a garbage .npy header": (lambda p: write_zip(p, {"__meta__.npy": b"\x93NUMPY\x01\x00\xff\xffgarbage"}),
                              "array '__meta__' has no valid .npy header"),
    "a .npy format of the future": (lambda p: write_zip(p, {"__meta__.npy": b"\x93NUMPY\x03\x00" + npy((0,), "|u1")[8:]}),
                                    "array '__meta__' uses .npy format version (3, 0), which wdnumpy never writes"),
    "a negative shape": (lambda p: write_zip(p, {"__meta__.npy": npy((-1,), "|u1")}),
                         "array '__meta__' declares a negative shape (-1,)"),
    "no metadata": (lambda p: np.savez(p, weights=np.zeros(3)), "it has no __meta__ record"),
    "metadata not JSON": (lambda p: np.savez(p, __meta__=np.frombuffer(b"{not json", dtype=np.uint8)),
                          "its __meta__ record is not JSON"),
    "metadata empty": (lambda p: np.savez(p, __meta__=np.zeros(0, dtype=np.uint8)), "its __meta__ record is not JSON"),
    "metadata not UTF-8": (lambda p: np.savez(p, __meta__=np.frombuffer(b'{"format": "\xff"}', dtype=np.uint8)),
                           "its __meta__ record is not UTF-8 text"),
    "metadata of floats": (lambda p: np.savez(p, __meta__=np.zeros(3)), "its __meta__ record is not text"),
    "metadata of bytes in rows": (lambda p: np.savez(p, __meta__=np.zeros((2, 2), dtype=np.uint8)),
                                  "its __meta__ record is not text"),
    "another format": (lambda p: write_model(p, {}, {"format": "keras"}),
                       "its __meta__ record is not a wdnumpy model description"),
    "metadata a JSON list": (lambda p: write_model(p, {}, '["wdnumpy-model"]'),
                             "its __meta__ record is not a wdnumpy model description"),
}


@pytest.mark.parametrize("make, reason", NOT_MODELS.values(), ids=NOT_MODELS.keys())
def test_what_is_not_a_model_file_is_called_that(tmp_path, make, reason):
    """Each kind of foreign file is "not a wdnumpy model file", and the message says why in brackets."""
    path = tmp_path / "model.npz"
    make(path)
    refused(path, rf"^{re.escape(str(path))}: not a wdnumpy model file \({re.escape(reason)}\)$")


def test_two_arrays_of_one_name_are_refused(tmp_path):
    path = tmp_path / "twice.npz"
    with pytest.warns(UserWarning, match="Duplicate"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("__meta__.npy", npy((0,), "|u1"))
            archive.writestr("__meta__.npy", npy((0,), "|u1"))
    refused(path, "two arrays named '__meta__'")


def test_a_directory_is_not_a_model_file(tmp_path):
    refused(tmp_path, "not a regular file")


# -- model files whose parts disagree -------------------------------------------------------------------------

def _set(*keys_and_value):
    """A change of the description: meta[k1][k2]... = value."""
    *keys, last, value = keys_and_value

    def change(arrays, meta):
        for key in keys:
            meta = meta[key]
        meta[last] = value
    return change


def _delete(*keys):
    def change(arrays, meta):
        for key in keys[:-1]:
            meta = meta[key]
        del meta[keys[-1]]
    return change


def _array(name, make):
    def change(arrays, meta):
        arrays[name] = make(arrays[name])
    return change


def _spec_column(name, key, change_value):
    def change(arrays, meta):
        [column] = [c for c in meta["spec"]["columns"] if c["name"] == name]
        column[key] = change_value(column[key])
    return change


def _poison(value, index=0):
    def make(a):
        a = a.copy()
        a.flat[index] = value
        return a
    return make


DISAGREEMENTS = {  # change → what the message must say
    "version missing": (_delete("version"), r"cannot load model: format version None is not supported \(expected 1\)$"),
    "version of the future": (_set("version", 2), r"format version 2 is not supported \(expected 1\)$"),
    "kind missing": (_delete("kind"), r"unknown model kind None; expected one of \['ensemble', 'single'\]$"),
    "kind unknown": (_set("kind", "forest"), r"unknown model kind 'forest'; expected one of \['ensemble', 'single'\]$"),
    "members of another kind": (_set("kind", "ensemble"), r"an ensemble model has the members \['deep', 'wide'\], "
                                                          r"but the file describes \[''\]$"),
    "configs not a mapping": (_set("configs", [1]),
                              r"a single model has the members \[''\], but the file describes \[1\]$"),
    "config not a mapping": (_set("configs", "", 5), r"cannot load model: the model's configuration is not a mapping$"),
    "config lacks hidden": (_delete("configs", "", "hidden"), r"the model's configuration lacks \['hidden'\]$"),
    "config lacks several": (lambda a, m: [m["configs"][""].pop(k) for k in ("dtype", "mode", "n_continuous")],
                             r"the model's configuration lacks \['mode', 'n_continuous', 'dtype'\]$"),
    "mode unknown": (_set("configs", "", "mode", "forest"),
                     r"the model's mode 'forest' is not one of \('wide', 'deep', 'wide_deep'\)$"),
    "dtype int64": (_set("configs", "", "dtype", "int64"), "the model's dtype 'int64' is not float32 or float64$"),
    "dtype nonsense": (_set("configs", "", "dtype", "float99"), "the model's dtype 'float99' is not float32 or float64$"),
    "dtype not a name": (_set("configs", "", "dtype", [1]), r"the model's dtype \[1\] is not float32 or float64$"),
    "fields not a list": (_set("configs", "", "fields", "city"),
                          "the model's fields are not a list of field descriptions$"),
    "fields not descriptions": (_set("configs", "", "fields", [1, 2]),
                                "the model's fields are not a list of field descriptions$"),
    "field without dim": (_delete("configs", "", "fields", 0, "dim"),
                          "the model's fields do not describe embedding fields: .*dim"),
    "wide_dim not a number": (_set("configs", "", "wide_dim", [21]),
                              r"cannot load model: its contents are inconsistent \(TypeError: int\(\) argument must "
                              r"be .*, not 'list'\)$"),
    "wide_dim": (lambda a, m: m["configs"][""].update(wide_dim=m["configs"][""]["wide_dim"] + 1),
                 r"parameter 'param:wide.w' has shape \(21,\) and dtype float64, but the configuration needs \(22,\) "
                 r"and float64 \(wide_dim 22\)$"),
    "vocab_size against the table": (lambda a, m: m["configs"][""]["fields"][0].update(vocab_size=9),
                                     r"parameter 'param:deep.embedding.city' has shape \(5, 2\) and dtype float64, "
                                     r"but the configuration needs \(9, 2\) and float64 \(field 'city': vocab_size 9, "
                                     r"dim 2\)$"),
    "deep input width": (_set("configs", "", "n_continuous", 3),
                         r"'param:deep.W1' has shape \(5, 3\) and dtype float64, but the configuration needs \(7, 3\) and "
                         r"float64 \(deep input width 7: embedding dims \+ 3 continuous, then hidden width 3\)$"),
    "hidden chain": (_set("configs", "", "hidden", [3, 5]),
                     r"'param:deep.W2' has shape \(3, 2\) and dtype float64, but the configuration needs \(3, 5\) and "
                     r"float64 \(hidden width 3, then hidden width 5\)$"),
    "bias of two entries": (_array("param:bias", lambda a: np.zeros(2)),  # the reason names what decides the shape
                            r"parameter 'param:bias' has shape \(2,\) and dtype float64, but the configuration needs "
                            r"\(1,\) and float64 \(one bias\)$"),
    "output": (_array("param:deep.w_out", lambda a: np.zeros((2, 2))),
               r"'param:deep.w_out' has shape \(2, 2\) and dtype float64, but the configuration needs \(2, 1\) and "
               r"float64 \(hidden width 2, then one output\)$"),
    "integer parameter": (_array("param:bias", lambda a: np.zeros(1, dtype=np.int64)),
                          "parameter 'param:bias' has dtype int64; parameters are float32 or float64$"),
    "float32 in a float64 model": (_array("param:wide.w", lambda a: a.astype(np.float32)),
                                   r"'param:wide.w' has shape \(21,\) and dtype float32, but the configuration needs "
                                   r"\(21,\) and float64 \(wide_dim 21\)$"),
    "parameter missing": (lambda a, m: a.pop("param:deep.b2"), "cannot load model: parameter 'param:deep.b2' is missing$"),
    "unexpected array": (lambda a, m: a.update({"param:deep.W9": np.ones(1)}),
                         r"cannot load model: unexpected arrays \['param:deep.W9'\]$"),
    "NaN weights": (_array("param:deep.W1", lambda a: np.full_like(a, np.nan)),
                    r"parameter 'param:deep.W1' holds 15 NaN or infinite values; a model that diverged in training "
                    r"cannot predict$"),
    "+inf bias": (_array("param:bias", _poison(np.inf)), "'param:bias' holds 1 NaN or infinite value;"),
    "two NaN weights": (_array("param:wide.w", lambda a: _poison(np.nan, 1)(_poison(-np.inf, 4)(a))),  # plural from 2 on
                        r"parameter 'param:wide.w' holds 2 NaN or infinite values; a model that diverged in training "
                        r"cannot predict$"),
    "-inf embedding": (_array("param:deep.embedding.user", _poison(-np.inf, 3)),
                       "'param:deep.embedding.user' holds 1 NaN or infinite value; a model"),
    "spec vocabulary against the table": (_spec_column("city", "vocabulary", lambda v: v + ["berlin"]),
                                          r"the feature spec gives column 'city' vocab_size 6, but the model's embedding "
                                          r"table 'param:deep.embedding.city' has vocab_size 5$"),
    "spec crossed buckets against wide_dim": (_spec_column("city_x_user", "buckets", lambda b: b * 2),
                                              r"the feature spec gives 37 wide features, but the model's wide_dim is 21$"),
    "spec hashed buckets against the table": (_spec_column("user", "buckets", lambda b: b + 1),
                                              r"the feature spec gives column 'user' vocab_size 9, but the model's "
                                              r"embedding table 'param:deep.embedding.user' has vocab_size 8$"),
    "spec continuous": (lambda a, m: m["spec"].update(continuous=[]),
                        "the feature spec gives 0 continuous inputs, but the model's n_continuous is 1$"),
    "spec embedding width": (lambda a, m: m["spec"]["embeddings"].update(city=3),
                             r"the feature spec gives column 'city' dim 3, but the model's embedding table "
                             r"'param:deep.embedding.city' has dim 2$"),
    "spec embeds other columns": (lambda a, m: m["spec"]["embeddings"].pop("user"),
                                  r"the feature spec embeds \['city'\], but the model's fields are \['city', 'user'\]$"),
    "field pooling against the spec": (lambda a, m: m["configs"][""]["fields"][0].update(pooling="mean"),
                                       r"the feature spec gives column 'city' pooling 'sum', but the model's embedding "
                                       r"table 'param:deep.embedding.city' has pooling 'mean'$"),
    "field multivalent against the spec": (lambda a, m: m["configs"][""]["fields"][1].update(multivalent=True),
                                           r"the feature spec gives column 'user' multivalent False, but the model's "
                                           r"embedding table 'param:deep.embedding.user' has multivalent True$"),
    "spec without columns": (_delete("spec", "columns"), "cannot load model: its feature spec is invalid: .*'columns'$"),
    "spec column kind": (_spec_column("age", "kind", lambda k: "forest"),
                         "its feature spec is invalid: unknown column kind 'forest'"),
    "spec not a mapping": (_set("spec", [1, 2]), "cannot load model: its feature spec is invalid: "),
    "metadata not a mapping": (_set("metadata", [1]), "cannot load model: its metadata is not a mapping$"),
}


@pytest.mark.parametrize("change, message", DISAGREEMENTS.values(), ids=DISAGREEMENTS.keys())
def test_a_model_file_whose_parts_disagree_is_refused_naming_the_file(work, tmp_path, change, message):
    arrays, meta = contents(work / "m.npz")
    change(arrays, meta)
    refused(write_model(tmp_path / "changed.npz", arrays, meta), message)


ENSEMBLE_DISAGREEMENTS = {  # an ensemble's messages name the member ("member 'deep': its ...") and its arrays
    "combine unknown": (_set("combine", "max"), "combine must be one of"),
    "stacking NaN": (lambda a, m: m.update(combine="stacked", stacking=[float("nan"), 1.0, 0.0]),
                     "stacking must be three finite numbers"),
    "member of the wrong mode": (_set("configs", "wide", "mode", "wide_deep"),
                                 "parameter 'param:wide/deep.embedding.city' is missing$"),
    "member's spec": (lambda a, m: m["configs"]["deep"].update(n_continuous=0),
                      r"parameter 'param:deep/deep.W1' has shape \(5, 3\) and dtype float64, but the configuration "
                      r"needs \(4, 3\) and float64 \(deep input width 4: embedding dims \+ 0 continuous, then hidden "
                      r"width 3\)$"),
    "a single model's members": (_set("kind", "single"), r"cannot load model: a single model has the members \[''\], "
                                                         r"but the file describes \['deep', 'wide'\]$"),
    "member config not a mapping": (_set("configs", "wide", [1]),
                                    "cannot load model: member 'wide': its configuration is not a mapping$"),
    "member config lacks": (_delete("configs", "deep", "hidden"),
                            r"member 'deep': its configuration lacks \['hidden'\]$"),
    "member mode": (_set("configs", "wide", "mode", "forest"),
                    r"member 'wide': its mode 'forest' is not one of \('wide', 'deep', 'wide_deep'\)$"),
    "member dtype": (_set("configs", "deep", "dtype", "int8"), "member 'deep': its dtype 'int8' is not float32 or float64$"),
    "member fields": (_set("configs", "deep", "fields", {}), "member 'deep': its fields are not a list of field descriptions$"),
    "member field": (_delete("configs", "deep", "fields", 1, "name"),
                     "member 'deep': its fields do not describe embedding fields: .*name"),
    "member parameter missing": (lambda a, m: a.pop("param:deep/deep.b1"), "parameter 'param:deep/deep.b1' is missing$"),
    "member NaN": (_array("param:wide/wide.w", _poison(np.nan, 2)),
                   "parameter 'param:wide/wide.w' holds 1 NaN or infinite value; a model"),
    "member configuration of another version": (lambda a, m: m["configs"]["deep"].update(colour="blue"),
                                                 "member 'deep': its configuration does not fit this version of "
                                                 "wdnumpy: .*colour"),
    "spec against a member's fields": (lambda a, m: m["spec"]["embeddings"].pop("user"),
                                       r"the feature spec embeds \['city'\], but member 'deep': its fields are "
                                       r"\['city', 'user'\]$"),
    "spec against a member's table": (lambda a, m: m["spec"]["embeddings"].update(user=3),
                                      r"the feature spec gives column 'user' dim 3, but member 'deep': its embedding "
                                      r"table 'param:deep/deep.embedding.user' has dim 2$"),
    "spec against a member's continuous": (lambda a, m: m["spec"].update(continuous=[]),
                                           "the feature spec gives 0 continuous inputs, but member 'deep': its "
                                           "n_continuous is 1$"),
    "spec against a member's wide_dim": (_spec_column("city_x_user", "buckets", lambda b: b * 2),
                                         "the feature spec gives 37 wide features, but member 'wide': its wide_dim is 21$"),
}


@pytest.mark.parametrize("change, message", ENSEMBLE_DISAGREEMENTS.values(), ids=ENSEMBLE_DISAGREEMENTS.keys())
def test_an_ensemble_file_whose_parts_disagree_is_refused_naming_the_file(work, tmp_path, change, message):
    arrays, meta = contents(work / "e.npz")
    change(arrays, meta)
    refused(write_model(tmp_path / "changed.npz", arrays, meta), message)


def test_metadata_nested_100000_deep_is_refused_naming_the_file(work, tmp_path):
    arrays, meta = contents(work / "m.npz")
    del meta["metadata"]
    deep = json.dumps(meta)[:-1] + ', "metadata": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    refused(write_model(tmp_path / "deep.npz", arrays, deep), r"nests 100,002 levels deep")
    # objects count as much as lists: 100 levels of {"a": ...} alone are refused the same way
    objects = json.dumps(meta)[:-1] + ', "metadata": ' + '{"a": ' * 100 + "0" + "}" * 100 + "}"
    refused(write_model(tmp_path / "objects.npz", arrays, objects), r"nests 101 levels deep")



def test_metadata_nested_exactly_as_deep_as_the_limit_loads(work, tmp_path):
    """The limit is "more than 64 levels are refused": a description 64 levels deep loads, 65 are refused,
    and the message says both numbers."""
    arrays, meta = contents(work / "m.npz")
    assert io.MAX_META_DEPTH == 64
    for levels in (64, 65):
        meta["metadata"] = {"a": json.loads("[" * (levels - 2) + "]" * (levels - 2))}  # the file and metadata: 2
        path = write_model(tmp_path / f"depth{levels}.npz", arrays, meta)
        if levels == 64:
            assert io.load_model(path)[2] == meta["metadata"]
        else:
            refused(path, r"cannot load model: its __meta__ record nests 65 levels deep; a model description needs a "
                          r"few, and more than 64 are refused$")


def test_a_model_file_with_version_2_npy_headers_loads(work, tmp_path):
    """NumPy writes .npy format 2.0 for headers over 64 KiB; a member in that format is read like one in 1.0."""
    arrays, meta = contents(work / "m.npz")
    members = {}
    for name, value in arrays.items():
        buffer = pyio.BytesIO()
        npy_format.write_array(buffer, value, version=(2, 0))
        members[f"{name}.npy"] = buffer.getvalue()
    members["__meta__.npy"] = npy((len(json.dumps(meta)),), "|u1", json.dumps(meta).encode())
    model, _, _ = io.load_model(write_zip(tmp_path / "v2.npz", members))
    original, _, _ = io.load_model(work / "m.npz")
    for name, value in original.params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)


def test_a_compressed_model_file_loads(work, tmp_path):
    """Deflated members (np.savez_compressed) are allowed: only a member claiming more than deflate can give is
    refused."""
    arrays, meta = contents(work / "m.npz")
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    with zipfile.ZipFile(path) as archive:
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    model, _, _ = io.load_model(path)
    np.testing.assert_array_equal(model.params["deep.W1"], arrays["param:deep.W1"])


def test_an_array_holding_fewer_bytes_than_its_shape_needs_says_both_sizes(tmp_path):
    path = write_zip(tmp_path / "short.npz", {"__meta__.npy": npy((3,), "<f8", bytes(16))})
    refused(path, r"cannot load model: array '__meta__' declares shape \(3,\) of float64 \(24 bytes\), but the file "
                  r"holds 16 bytes of it$")


def test_metadata_exactly_as_large_as_the_bound_loads(work, monkeypatch):
    """MAX_META_BYTES is the largest description allowed: one byte more is refused, saying both sizes."""
    with zipfile.ZipFile(work / "m.npz") as archive:
        size = len(np.load(archive.open("__meta__.npy")))
    monkeypatch.setattr(io, "MAX_META_BYTES", size)
    assert io.load_model(work / "m.npz")[0].mode == "wide_deep"
    monkeypatch.setattr(io, "MAX_META_BYTES", size - 1)
    refused(work / "m.npz", rf"cannot load model: its __meta__ record is {size:,} bytes, more than the {size - 1:,} "
                            rf"allowed$")


def test_arrays_exactly_as_large_as_the_memory_load(work, monkeypatch):
    """The arrays (headers included) must fit in the memory: as much as there is loads, a byte more is refused;
    where the memory cannot be told, nothing is refused for it."""
    with zipfile.ZipFile(work / "m.npz") as archive:
        total = sum(info.file_size for info in archive.infolist())
    monkeypatch.setattr(io, "_physical_memory", lambda: total)
    assert io.load_model(work / "m.npz")[0].mode == "wide_deep"
    monkeypatch.setattr(io, "_physical_memory", lambda: total - 1)
    refused(work / "m.npz", rf"cannot load model: its arrays take {total:,} bytes, more than this machine's memory "
                            rf"\({total - 1:,} bytes\)$")
    monkeypatch.setattr(io, "_physical_memory", lambda: None)
    assert io.load_model(work / "m.npz")[0].mode == "wide_deep"


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="needs Linux's /proc/meminfo")
def test_the_memory_bound_is_this_machines_memory():
    """The bound the arrays must fit in is the physical memory (what /proc/meminfo calls MemTotal)."""
    with open("/proc/meminfo") as f:
        total_kib = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    assert io._physical_memory() == pytest.approx(total_kib * 1024, rel=0.05)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc/self/mem")
def test_a_file_that_cannot_be_read_says_so_with_the_reason():
    """A regular file whose reading fails (here /proc/self/mem, whose first page is unmapped: EIO) is "cannot read
    the model file" with the system's reason."""
    refused(Path("/proc/self/mem"), r"^/proc/self/mem: cannot read the model file: Input/output error$")


# -- sizes declared in a tiny file: refused from the headers, before anything is allocated -------------------

def _forge(work, path, member, shape, config_change=None):
    """The good model written member by member with hand-made headers, ``member`` declaring ``shape`` over
    8 bytes of data (None: as it is), and its configuration changed by ``config_change``."""
    arrays, meta = contents(work / "m.npz")
    if config_change:
        config_change(meta["configs"][""])
    members = {f"{k}.npy": npy(v.shape, v.dtype.str, v.tobytes()) for k, v in arrays.items()}
    if shape is not None:
        members[f"{member}.npy"] = npy(shape, data=bytes(8))
    members["__meta__.npy"] = npy((len(json.dumps(meta)),), "|u1", json.dumps(meta).encode())
    return write_zip(path, members)


HUGE = {
    "vocabulary of 1e11 rows": ("param:deep.embedding.city", (10**11, 2),
                                lambda c: c["fields"][0].update(vocab_size=10**11)),
    "wide dimension of 1e13": ("param:wide.w", (10**13,), lambda c: c.update(wide_dim=10**13)),
    "header of 2**50 elements": ("param:deep.W1", (2**25, 2**25), None),
    "vocabulary of 1e11 in the configuration only": ("param:deep.embedding.city", None,
                                                     lambda c: c["fields"][0].update(vocab_size=10**11)),
}


@pytest.mark.parametrize("member, shape, config_change", HUGE.values(), ids=HUGE.keys())
def test_huge_declared_sizes_are_refused_without_allocating(work, tmp_path, member, shape, config_change):
    path = _forge(work, tmp_path / "huge.npz", member, shape, config_change)
    assert path.stat().st_size < 10_000
    tracemalloc.start()
    try:
        refused(path, rf"{member}.*(declares shape|vocab_size 100000000000)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_a_zip_member_claiming_gigabytes_from_a_few_bytes_is_refused(work, tmp_path):
    arrays, meta = contents(work / "m.npz")
    path = write_model(tmp_path / "m.npz", arrays, meta)
    members = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            members[info.filename] = archive.read(info)
    raw = bytearray(write_zip(tmp_path / "bomb.npz", members, zipfile.ZIP_DEFLATED).read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size, local and central
        at = raw.find(signature)
        raw[at + offset:at + offset + 4] = (0xF0000000).to_bytes(4, "little")
    (tmp_path / "bomb.npz").write_bytes(bytes(raw))
    refused(tmp_path / "bomb.npz", "damaged or forged")


def test_a_shape_whose_size_passes_2_to_the_64_is_refused_with_its_true_size(work, tmp_path):
    """A header's size is shape × item size counted exactly: (2**32, 2**32) float64 elements, which 64-bit
    integers would wrap around to 0 bytes (and so "match" an array stored with no data), is refused as
    declaring 2**67 bytes of which the file holds none. Found unpinned by a mutmut survivor."""
    arrays, meta = contents(work / "m.npz")
    members = {f"{k}.npy": npy(v.shape, v.dtype.str, v.tobytes()) for k, v in arrays.items()}
    members["param:deep.W1.npy"] = npy((2**32, 2**32))
    members["__meta__.npy"] = npy((len(json.dumps(meta)),), "|u1", json.dumps(meta).encode())
    refused(write_zip(tmp_path / "wrapped.npz", members),
            r"cannot load model: array 'param:deep.W1' declares shape \(4294967296, 4294967296\) of float64 "
            r"\(147,573,952,589,676,412,928 bytes\), but the file holds 0 bytes of it$")


@pytest.mark.parametrize("stored, size", [(0, 1628), (1, 1628), (1, 1101), (2, 2201), (1, 1100), (2, 2200)])
def test_a_deflated_member_may_claim_at_most_1100_times_its_stored_bytes(tmp_path, stored, size):
    """Deflate expands at most ~1032:1, so a compressed member may claim at most MAX_DEFLATE_RATIO (1100) times
    its stored bytes (and a member storing 0 or 1 byte at most 1,100 bytes): more is a lie, refused from the
    sizes alone with the numbers it claims. Exactly 1100 times passes that check, and such a forged member is
    then found damaged when read. Found unpinned by mutmut survivors."""
    assert io.MAX_DEFLATE_RATIO == 1100
    data = size - len(npy((size,), "|u1"))  # the header is 128 bytes for all these sizes
    path = write_zip(tmp_path / "forged.npz", {"__meta__.npy": npy((data,), "|u1", bytes(data))}, zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 18), (b"PK\x01\x02", 20)):  # compressed size, local and central
        at = raw.find(signature)
        assert int.from_bytes(raw[at + offset + 4:at + offset + 8], "little") == size  # the true size follows
        raw[at + offset:at + offset + 4] = stored.to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    if size > 1100 * max(stored, 1):
        refused(path, rf"cannot load model: array '__meta__' claims {size:,} bytes from {stored} stored bytes in a "
                      rf"file of {len(raw):,} bytes: the archive is damaged or forged$")
    else:
        refused(path, r"not a wdnumpy model file, or a damaged one \(")


def test_a_stored_member_holding_more_bytes_than_it_declares_is_refused(work, tmp_path):
    """load_model refuses a file whose sizes declared in headers disagree with the sizes stored: here an
    uncompressed member stores 8 bytes past its declared size (its CRC that of the declared bytes)."""
    with zipfile.ZipFile(work / "m.npz") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    first = next(iter(members))
    declared = members[first]
    members[first] = declared + bytes(8)
    raw = bytearray(write_zip(tmp_path / "forged.npz", members).read_bytes())
    for signature, crc_at, size_at in ((b"PK\x03\x04", 14, 22), (b"PK\x01\x02", 16, 24)):  # local, central
        at = raw.find(signature)
        raw[at + crc_at:at + crc_at + 4] = zlib.crc32(declared).to_bytes(4, "little")
        raw[at + size_at:at + size_at + 4] = len(declared).to_bytes(4, "little")
    (tmp_path / "forged.npz").write_bytes(bytes(raw))
    refused(tmp_path / "forged.npz", rf"array '{first[:-4]}' claims {len(declared)} bytes from "
                                     rf"{len(declared) + 8} stored bytes .*damaged or forged")


def test_metadata_larger_than_the_bound_is_refused(work, monkeypatch):
    monkeypatch.setattr(io, "MAX_META_BYTES", 100)
    refused(work / "m.npz", r"__meta__ record is [\d,]+ bytes, more than the 100 allowed")


def test_arrays_larger_than_the_memory_are_refused(work, monkeypatch):
    monkeypatch.setattr(io, "_physical_memory", lambda: 1000)
    refused(work / "m.npz", r"more than this machine's memory \(1,000 bytes\)")


# -- output paths -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, message", [
    ("", "the path is empty"),
    ("   ", "the path is empty"),
    ("nodir/x.npz", "the directory .*nodir does not exist"),
    (".", "is a directory"),
    ("x" * 256, "longer than the 255 bytes"),
], ids=["empty", "blank", "no directory", "a directory", "256 characters"])
def test_unusable_output_paths_are_refused_naming_them(tmp_path, monkeypatch, name, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=f"--out {name.strip()}.*{message}" if name.strip() else message) as error:
        files.check_output_path(name, "--out")
    assert "--out" in str(error.value)


def test_a_fifo_is_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=f"{fifo}: exists and is not a regular file; refusing to replace it"):
        files.atomic_write(fifo, lambda f: f.write(b"x"))
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_symlink_to_a_directory_is_refused(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="link: is a directory"):
        files.check_output_path(tmp_path / "link")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_directory_is_refused(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(ValueError, match="ro is not writable"):
        files.check_output_path(tmp_path / "ro" / "x.npz")


def test_a_full_disk_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"old")

    def full(f):
        f.write(b"new, half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(ValueError, match=f"cannot write {target}: No space left on device .*unchanged"):
        files.atomic_write(target, full)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.npz"]


FILES_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("files", {path!r})
files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(files)
"""


def run_with_files(code: str, *args, **popen):
    """A Python process that has wdnumpy/files.py loaded alone (fast: no numpy) and runs ``code``."""
    script = FILES_SCRIPT.format(path=str(ROOT / "wdnumpy" / "files.py")) + code
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], text=True, **popen)


def test_a_file_size_limit_is_one_error_and_the_old_file_stays(tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"old")
    code = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    files.atomic_write(sys.argv[1], lambda f: f.write(b"x" * 1_000_000))
except ValueError as error:
    print(error)
"""
    out, _ = run_with_files(code, target, stdout=subprocess.PIPE).communicate(timeout=30)
    assert out.strip() == f"cannot write {target}: the file is larger than this system's file-size limit " \
                          "(the previous file, if any, is unchanged)"
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.npz"]


def test_a_save_killed_mid_write_keeps_the_old_file_and_the_next_save_removes_its_temporary(tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"old model")
    code = """
import time
def slowly(f):
    f.write(b"half of a new model" * 10_000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
files.atomic_write(sys.argv[1], slowly)
"""
    process = run_with_files(code, target, stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline().strip() == "writing"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"old model"
    [stale] = [p for p in tmp_path.iterdir() if p != target]
    assert stale.name.startswith(".") and stale.stat().st_size > 0
    files.atomic_write(target, lambda f: f.write(b"new model"))
    assert target.read_bytes() == b"new model" and list(tmp_path.iterdir()) == [target]


# -- the command line: output paths ------------------------------------------------------------------------------

@pytest.fixture
def no_training(monkeypatch):
    """Training would fail the test: the command line must refuse its arguments before any work."""
    def train(*args, **kwargs):
        raise AssertionError("training started")
    monkeypatch.setattr(cli, "train_and_evaluate", train)
    monkeypatch.setattr(cli, "train_csv", train)


@pytest.mark.parametrize("save, message", [
    ("", "--save: the path is empty"),
    ("nodir/x.npz", "--save nodir/x.npz: the directory .*nodir does not exist"),
    (".", "--save .: is a directory; give a file name"),
], ids=["empty", "no directory", "a directory"])
def test_train_refuses_a_bad_save_path_before_training(work, capsys, monkeypatch, no_training, save, message):
    monkeypatch.chdir(work)
    start = time.perf_counter()
    code, out, err = run_here(capsys, "train", "--csv", "rows.csv", "--spec", "spec.json", "--label", "y",
                              "--save", save)
    assert time.perf_counter() - start < 1
    assert code == 1 and out == "" and "epoch" not in err
    assert len(err.splitlines()) == 1 and re.search(message, err)


def test_train_refuses_to_replace_a_character_device(work, tmp_path, capsys, no_training):
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null
    except PermissionError:
        pytest.skip("no permission to make a device node")
    code, _, err = run_here(capsys, "train", "--csv", str(work / "rows.csv"), "--spec", str(work / "spec.json"),
                            "--label", "y", "--save", str(device))
    assert code == 1 and f"--save {device}: exists and is not a regular file; refusing to replace it" in err
    assert stat.S_ISCHR(device.lstat().st_mode)


@pytest.mark.parametrize("args, message", [
    (["predict", "--out", ""], "--out: the path is empty"),
    (["predict", "--out", "nodir/p.csv"], "--out nodir/p.csv: the directory .*nodir does not exist"),
    (["predict", "--out", "."], "--out .: is a directory"),
    (["spec", "--out", "nodir/s.json"], "--out nodir/s.json: the directory .*nodir does not exist"),
], ids=["predict empty", "predict no directory", "predict a directory", "spec no directory"])
def test_a_bad_out_path_is_one_line_and_exit_1(work, capsys, monkeypatch, args, message):
    monkeypatch.chdir(work)
    model = ["--model", "m.npz"] if args[0] == "predict" else []
    code, out, err = run_here(capsys, *args[:1], *model, "--csv", "rows.csv", *args[1:])
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and re.search(message, err)


def test_predict_writes_through_a_symlink_and_to_a_250_character_name(work, tmp_path, capsys):
    real, link, long = tmp_path / "real.csv", tmp_path / "link.csv", tmp_path / ("p" * 246 + ".csv")
    real.write_text("old")
    link.symlink_to(real)
    for out in (link, long):
        code, _, err = run_here(capsys, "predict", "--model", str(work / "m.npz"), "--csv", str(work / "rows.csv"),
                                "--out", str(out))
        assert code == 0, err
    assert link.is_symlink() and real.read_text().startswith("probability\n") and len(long.name) == 250
    assert long.read_text() == real.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["real.csv", "link.csv", long.name])


def test_predict_into_a_pipe_closed_early_ends_quietly(work, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text(csv_text(20_000))  # 180 kB of output: more than a pipe holds
    process = subprocess.Popen([sys.executable, "-m", "wdnumpy", "predict", "--model", str(work / "m.npz"),
                                "--csv", str(big)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline() == b"probability\n"  # `| head -1`
    process.stdout.close()
    err = process.stderr.read().decode()
    process.wait(timeout=60)
    assert process.returncode in (0, -signal.SIGPIPE) and "Traceback" not in err and err == ""


# -- the command line: model files -------------------------------------------------------------------------------

MODEL_ARGUMENTS = {
    "random bytes": (NOT_MODELS["random bytes"][0], "not a wdnumpy model file"),
    "a CSV": (NOT_MODELS["a CSV"][0], "not a wdnumpy model file"),
    "an object array": (NOT_MODELS["an object array"][0], "not a wdnumpy model file"),
    "a directory": (lambda p: p.mkdir(), "not a regular file"),
    "missing": (lambda p: None, "no such model file"),
}


@pytest.mark.parametrize("command", ["predict", "explain"])
@pytest.mark.parametrize("make, message", MODEL_ARGUMENTS.values(), ids=MODEL_ARGUMENTS.keys())
def test_a_bad_model_argument_is_one_line_naming_the_file(work, tmp_path, capsys, command, make, message):
    path = tmp_path / "model.npz"
    make(path)
    row = ["--row", "0"] if command == "explain" else []
    code, out, err = run_here(capsys, command, "--model", str(path), "--csv", str(work / "rows.csv"), *row)
    assert code == 1 and out == ""
    assert err.startswith(f"error: {path}: ") and len(err.splitlines()) == 1
    assert message in err and "pickle" not in err.lower()


@pytest.mark.parametrize("change, message", [DISAGREEMENTS["+inf bias"], DISAGREEMENTS["spec vocabulary against "
                                                                                          "the table"]],
                         ids=["+inf bias", "spec vocabulary"])
def test_predict_refuses_a_damaged_model_at_load_time(work, tmp_path, capsys, change, message):
    arrays, meta = contents(work / "m.npz")
    change(arrays, meta)
    path = write_model(tmp_path / "damaged.npz", arrays, meta)
    code, out, err = run_here(capsys, "predict", "--model", str(path), "--csv", str(work / "rows.csv"))
    assert code == 1 and out == "" and err.startswith(f"error: {path}: cannot load model: ")
    assert re.search(message, err)


# -- the command line: CSV files -----------------------------------------------------------------------------------

CSV_FILES = {
    "a directory": ("dir.csv", None, "is a directory, not a CSV file"),
    "missing": ("missing.csv", ..., "no such file"),
    "latin-1": ("latin1.csv", "city,user,age\nbesançon,u1,30\n".encode("latin-1"), "line 2: not valid utf-8"),
    "utf-16": ("utf16.csv", "city,user,age\nparis,u1,30\n".encode("utf-16"), "line 1: not valid utf-8"),
    "unclosed quote": ("quote.csv", b'city,user,age\nparis,u1,30\n"lima,u2,31\nrome,u3,32\n',
                       "line 3: a quoted field that begins on this line is never"),
    "plain text named .gz": ("plain.csv.gz", b"city,user,age\nparis,u1,30\n", "not gzip-compressed"),
    "cut .gz": ("cut.csv.gz", gzip.compress(csv_text(2000).encode())[:-50], "gzip data is corrupt or cut short"),
    "binary": ("binary.csv", b"city,user,age\nparis,u1,30\n\x00\x01,\x02,\x03\n", "line 3: the file holds NUL"),
    "wrong number of fields": ("short.csv", b"city,user,age\nparis,u1\n", "line 2: expected 3 fields, got 2"),
}


@pytest.mark.parametrize("name, content, message", CSV_FILES.values(), ids=CSV_FILES.keys())
def test_a_bad_csv_argument_is_one_line_naming_the_file_and_line(work, tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is None:
        path.mkdir()
    elif content is not ...:
        path.write_bytes(content)
    code, out, err = run_here(capsys, "predict", "--model", str(work / "m.npz"), "--csv", str(path))
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"error: {path}") and message in err


def test_a_field_longer_than_the_limit_names_the_file_and_line(work, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(csvfiles, "MAX_FIELD_CHARS", 1000)
    path = tmp_path / "long.csv"
    path.write_text("city,user,age\nparis,u1,30\n" + "x" * 1001 + ",u2,31\n")
    code, _, err = run_here(capsys, "predict", "--model", str(work / "m.npz"), "--csv", str(path))
    assert code == 1 and f"{path}, line 3: a field is longer than 1,000" in err


def test_a_byte_order_mark_does_not_hide_the_first_column(work, tmp_path, capsys):
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    plain.write_text(csv_text(6))
    marked.write_bytes(b"\xef\xbb\xbf" + csv_text(6).encode())
    outputs = [run_here(capsys, "predict", "--model", str(work / "m.npz"), "--csv", str(p)) for p in (plain, marked)]
    assert outputs[0][0] == outputs[1][0] == 0 and outputs[0][1] == outputs[1][1]


@pytest.mark.parametrize("args, message", [
    (["--encoding", "klingon"], "unknown encoding 'klingon'"),
    (["--label", "rating"], "unknown label column 'rating'"),
], ids=["encoding", "label column"])
def test_train_names_a_bad_encoding_or_label(work, capsys, monkeypatch, args, message):
    monkeypatch.chdir(work)
    base = {"--label": "y"}
    base.update(dict(zip(args[::2], args[1::2])))
    flat = [x for kv in base.items() for x in kv]
    code, _, err = run_here(capsys, "train", "--csv", "rows.csv", "--spec", "spec.json", "--epochs", "1", *flat)
    assert code == 1 and message in err and len(err.splitlines()) == 1


# -- numbers ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("option, value, message", [
    ("--lr", "inf", "finite positive number"),
    ("--lr", "nan", "finite positive number"),
    ("--lr", "0", "finite positive number"),
    ("--dropout", "nan", "probability in [0, 1)"),
    ("--l2", "inf", "finite number >= 0"),
    ("--validation", "1", "strictly between 0 and 1"),
    ("--threshold", "nan", "finite number"),
    ("--batch-size", "0", "positive integer"),
], ids=lambda x: x if isinstance(x, str) and x.startswith("--") else None)
def test_numbers_out_of_range_are_usage_errors_naming_the_option(capsys, no_training, option, value, message):
    code, _, err = run_here(capsys, "train", option, value)
    assert code == 2 and f"argument {option}" in err and message in err and value in err


def test_a_learning_rate_that_diverges_stops_training_with_exit_1(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    code, out, err = run_here(capsys, "train", "--csv", "rows.csv", "--spec", "spec.json", "--label", "y",
                              "--hidden", "3", "--optimizer", "sgd", "--lr", "1e300", "--epochs", "3",
                              "--save", "never.npz")
    assert code == 1 and not (work / "never.npz").exists()
    assert re.search(r"error: training diverged at epoch \d+, step \d+: .*smaller learning rate", err)


@pytest.mark.parametrize("make, name", [
    (lambda: SGD(float("nan")), "learning rate"),
    (lambda: SGD(0.1, momentum=1.0), "momentum"),
    (lambda: AdaGrad(0.1, initial_accumulator=-1), "initial_accumulator"),
    (lambda: Adam(float("inf")), "learning rate"),
    (lambda: Adam(beta1=1.0), "beta1"),
    (lambda: Adam(beta2=float("nan")), "beta2"),
    (lambda: Adam(eps=0.0), "eps"),
    (lambda: FTRL(alpha=-0.1), "learning rate"),
    (lambda: FTRL(beta=-1.0), "beta"),
    (lambda: FTRL(l1=float("nan")), "l1"),
    (lambda: FTRL(l2=float("inf")), "l2"),
    (lambda: FTRL(initial_accumulator="a lot"), "initial_accumulator"),
], ids=["sgd lr", "momentum", "adagrad accumulator", "adam lr", "beta1", "beta2", "eps", "alpha", "beta", "l1",
        "l2", "ftrl accumulator"])
def test_optimizer_hyperparameters_out_of_range_name_themselves(make, name):
    with pytest.raises(ValueError, match=f"^{name} must be a"):
        make()


def test_a_spec_file_that_is_not_a_spec_names_the_file(work, tmp_path, capsys):
    bad = tmp_path / "spec.json"
    bad.write_text('{"columns": [{"kind": "forest", "name": "x"}]}')
    code, _, err = run_here(capsys, "train", "--csv", str(work / "rows.csv"), "--spec", str(bad), "--label", "y")
    assert code == 1 and str(bad) in err and len(err.splitlines()) == 1


def test_the_feature_spec_fixture_matches_the_model(work):
    """The cases above change one thing in a consistent file: the file must load as it is."""
    model, spec, _ = io.load_model(work / "m.npz")
    assert isinstance(spec, FeatureSpec) and model.wide_dim == spec.wide_dim == 21
    assert io.load_model(work / "e.npz")[0].combine == "mean_logit"


def test_a_model_file_without_metadata_loads_with_empty_metadata(work, tmp_path):
    arrays, meta = contents(work / "m.npz")
    del meta["metadata"]
    _, _, metadata = io.load_model(write_model(tmp_path / "bare.npz", arrays, meta))
    assert metadata == {}
