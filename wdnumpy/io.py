"""Saving and loading a trained model with its feature spec: one ``.npz`` file, no pickle.

The file holds every parameter as an array named ``param:<name>`` (for an
ensemble ``param:<member>/<name>``) and one array ``__meta__``: UTF-8 JSON with
the model's configuration, the fitted feature spec and free-form metadata. It is
read with ``np.load(..., allow_pickle=False)``, so loading a file from someone
else cannot run code. Saving writes a temporary file next to the target and
renames it over the target, so a crash mid-save leaves the previous file whole.

Loading trusts nothing in the file. Before any array is read, the ``.npy``
header of every member of the zip archive is checked against the member's size
(a tiny file cannot make the loader allocate terabytes), the JSON description's
size and nesting depth are bounded, and the configuration and the feature spec
are checked against the arrays' shapes and dtypes; then the values must be
finite. Every problem is one ValueError that starts with the file's path.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.lib import format as npy

from .batch import EmbeddingField
from .ensemble import Ensemble
from .features import FeatureSpec
from .files import atomic_write
from .model import MODES, WideDeep

FORMAT = "wdnumpy-model"
VERSION = 1
KINDS = {"single": {""}, "ensemble": {"wide", "deep"}}  # kind → the member names its file holds
PARAMETER_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
MAX_META_BYTES = 256 * 2**20  # the JSON description: far more than a spec with millions of vocabulary entries
MAX_META_DEPTH = 64  # a description nests about 6 levels; deeper JSON is refused before it is parsed
MAX_DEFLATE_RATIO = 1100  # deflate expands at most ~1032:1, so a member claiming more is lying about its size


class NotAModelFile(ValueError):
    """The file is not a wdnumpy model file at all (as opposed to a damaged or inconsistent one)."""


class Layout(NamedTuple):
    """What a member's configuration says about its parameters, checked against the file's arrays."""

    mode: str
    wide_dim: int
    fields: tuple
    n_continuous: int


def _members(model) -> dict:
    """Name → WideDeep for each part of a model ('' for a single model)."""
    if isinstance(model, Ensemble):
        return dict(model.members)
    if isinstance(model, WideDeep):
        return {"": model}
    raise ValueError(f"can only save a WideDeep or an Ensemble, got {type(model).__name__}")


def _key(member: str, name: str) -> str:
    return f"param:{member}/{name}" if member else f"param:{name}"


def save_model(path, model, spec: FeatureSpec | None = None, metadata: dict | None = None) -> Path:
    """Write ``model`` (and its fitted ``spec``) to ``path`` atomically; returns the path."""
    path = Path(path)
    members = _members(model)
    meta = {"format": FORMAT, "version": VERSION,
            "kind": "ensemble" if isinstance(model, Ensemble) else "single",
            "combine": getattr(model, "combine", None),
            "stacking": None if getattr(model, "stacking", None) is None else model.stacking.tolist(),
            "configs": {m: member.config() for m, member in members.items()},
            "spec": None if spec is None else spec.to_dict(),
            "metadata": metadata or {}}
    arrays = {_key(m, n): p for m, member in members.items() for n, p in member.params.items()}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    return atomic_write(path, lambda f: np.savez(f, **arrays), "model file")


def load_model(path):
    """Read a file written by :func:`save_model`.

    Returns
    -------
    model : WideDeep or Ensemble
    spec : FeatureSpec or None
    metadata : dict

    Raises ValueError starting with the path if the file is missing, unreadable,
    truncated or corrupted, not a wdnumpy model file ("not a wdnumpy model file":
    random bytes, a CSV, another zip or ``.npz``, arrays of Python objects), or if
    anything inside it disagrees with anything else: the configuration with the
    arrays' shapes and dtypes, the feature spec with the configuration, sizes
    declared in headers with the sizes stored; and if a parameter is not finite.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such model file")
    if not path.is_file():
        raise ValueError(f"{path}: not a wdnumpy model file (it is a directory or a device, not a regular file)")
    try:
        return _read(path)
    except NotAModelFile as error:
        raise ValueError(f"{path}: not a wdnumpy model file ({error})") from None
    except ValueError as error:
        if "allow_pickle" in str(error):  # numpy's advice to unpickle must never reach a user
            raise ValueError(f"{path}: not a wdnumpy model file (it holds Python objects)") from None
        raise ValueError(f"{path}: cannot load model: {error}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(f"{path}: not a wdnumpy model file, or a damaged one ({error})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read the model file: {error.strerror or error}") from None
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError, RecursionError, MemoryError) as error:
        raise ValueError(f"{path}: cannot load model: its contents are inconsistent "
                         f"({type(error).__name__}: {error})") from None


def _read(path: Path):
    """:func:`load_model` without the error wrapping: every check, then the arrays."""
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise NotAModelFile("it is not a zip archive of arrays")
    with zipfile.ZipFile(path) as archive:
        headers = _array_headers(archive, path.stat().st_size)
    if "__meta__" not in headers:
        raise NotAModelFile("it has no __meta__ record")
    shape, dtype = headers["__meta__"]
    if dtype != np.uint8 or len(shape) != 1:
        raise NotAModelFile("its __meta__ record is not text")
    if shape[0] > MAX_META_BYTES:
        raise ValueError(f"its __meta__ record is {shape[0]:,} bytes, more than the {MAX_META_BYTES:,} allowed")
    with np.load(path, allow_pickle=False) as npz:
        meta = _parse_meta(npz["__meta__"].tobytes())
        configs = _check_description(meta)
        layouts = {m: _check_member(m, config, headers) for m, config in configs.items()}
        expected = {_key(m, name) for m, layout in layouts.items() for name in _shapes(layout, configs[m])}
        extra = set(headers) - expected - {"__meta__"}
        if extra:
            raise ValueError(f"unexpected arrays {sorted(extra)}")
        spec = None if meta.get("spec") is None else _check_spec(meta["spec"], layouts)
        metadata = meta.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ValueError("its metadata is not a mapping")
        members = {m: _build_member(m, config, npz) for m, config in configs.items()}
    if meta["kind"] == "ensemble":
        # files saved before the rules had names say "logit" (or nothing): the members' logits summed
        model = Ensemble(members["wide"], members["deep"], combine=meta.get("combine") or "logit",
                         stacking=meta.get("stacking"))
    else:
        model = members[""]
    return model, spec, metadata


def _array_headers(archive: zipfile.ZipFile, file_size: int) -> dict:
    """Name → (shape, dtype) of each array, from the ``.npy`` headers alone (nothing else is read).

    Each array's size (shape × item size + header) must equal the size the archive
    stores for it, compressed members may not claim more than deflate can give,
    and the total must fit in this machine's memory.
    """
    headers, total = {}, 0
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise NotAModelFile(f"it holds {info.filename!r}, which is not an array")
        name = info.filename[:-len(".npy")]
        if name in headers:
            raise NotAModelFile(f"it holds two arrays named {name!r}")
        stored = info.compress_type == zipfile.ZIP_STORED
        if info.compress_size > file_size or (stored and info.file_size != info.compress_size) or \
                info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1):
            raise ValueError(f"array {name!r} claims {info.file_size:,} bytes from {info.compress_size:,} stored "
                             f"bytes in a file of {file_size:,} bytes: the archive is damaged or forged")
        with archive.open(info) as stream:
            shape, dtype = _npy_header(name, stream)
            header_size = stream.tell()
        if dtype.hasobject:
            raise NotAModelFile(f"array {name!r} holds Python objects")
        size = header_size + int(np.prod(shape, dtype=object)) * dtype.itemsize
        if size != info.file_size:
            raise ValueError(f"array {name!r} declares shape {shape} of {dtype} ({size - header_size:,} bytes), "
                             f"but the file holds {info.file_size - header_size:,} bytes of it")
        headers[name] = (shape, dtype)
        total += size
    memory = _physical_memory()
    if memory and total > memory:
        raise ValueError(f"its arrays take {total:,} bytes, more than this machine's memory ({memory:,} bytes)")
    return headers


def _npy_header(name: str, stream) -> tuple:
    """(shape, dtype) from the ``.npy`` header at the start of ``stream``."""
    try:
        version = npy.read_magic(stream)
        read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        shape, _, dtype = read(stream) if read else ((), None, None)
    except ValueError:
        raise NotAModelFile(f"array {name!r} has no valid .npy header") from None
    if read is None:
        raise NotAModelFile(f"array {name!r} uses .npy format version {version}, which wdnumpy never writes")
    if any(d < 0 for d in shape):
        raise NotAModelFile(f"array {name!r} declares a negative shape {shape}")
    return shape, dtype


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def nesting_depth(text: str) -> int:
    """How deeply the JSON ``text`` nests lists and objects, counted without parsing it
    (brackets inside strings do not count)."""
    # with the escaped backslashes and then the escaped quotes gone, every other piece between quotes is a string
    outside = "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[::2])
    brackets = np.frombuffer(outside.encode("utf-8").translate(None, _NOT_BRACKETS), np.uint8)
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def _parse_meta(raw: bytes) -> dict:
    """The JSON description, its depth checked before it is parsed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotAModelFile("its __meta__ record is not UTF-8 text") from None
    # fewer opening brackets than the limit cannot nest deeper than it: skip the scan
    depth = nesting_depth(text) if text.count("[") + text.count("{") > MAX_META_DEPTH else 0
    if depth > MAX_META_DEPTH:
        raise ValueError(f"its __meta__ record nests {depth:,} levels deep; a model description needs a few, "
                         f"and more than {MAX_META_DEPTH} are refused")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        raise NotAModelFile("its __meta__ record is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise NotAModelFile("its __meta__ record is not a wdnumpy model description")
    return meta


def _check_description(meta: dict) -> dict:
    """The version, the kind and its member names; returns member name → configuration."""
    if meta.get("version") != VERSION:
        raise ValueError(f"format version {meta.get('version')} is not supported (expected {VERSION})")
    kind, configs = meta.get("kind"), meta.get("configs")
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(KINDS)}")
    if not isinstance(configs, dict) or set(configs) != KINDS[kind]:
        names = sorted(configs) if isinstance(configs, dict) else configs
        raise ValueError(f"{'an ensemble' if kind == 'ensemble' else 'a single'} model has the members "
                         f"{sorted(KINDS[kind])}, but the file describes {names!r}")
    for m, config in configs.items():
        if not isinstance(config, dict):
            raise ValueError(f"{_who(m)}configuration is not a mapping")
        missing = [k for k in Layout._fields + ("hidden", "dtype") if k not in config]
        if missing:
            raise ValueError(f"{_who(m)}configuration lacks {missing}")
    return configs


def _who(member: str) -> str:
    return f"member {member!r}: its " if member else "the model's "


def _check_member(member: str, config: dict, headers: dict) -> Layout:
    """Check a member's configuration against its arrays' headers before anything is allocated."""
    who = _who(member)
    if config["mode"] not in MODES:
        raise ValueError(f"{who}mode {config['mode']!r} is not one of {MODES}")
    try:
        dtype = np.dtype(config["dtype"])
    except TypeError:
        dtype = None
    if dtype is None or dtype not in PARAMETER_DTYPES:  # (np.dtype(None) is float64, so None "is in" them)
        raise ValueError(f"{who}dtype {config['dtype']!r} is not float32 or float64")
    if not isinstance(config["fields"], list) or not all(isinstance(f, dict) for f in config["fields"]):
        raise ValueError(f"{who}fields are not a list of field descriptions")
    try:
        fields = tuple(EmbeddingField(**f) for f in config["fields"])
    except TypeError as error:
        raise ValueError(f"{who}fields do not describe embedding fields: {error}") from None
    layout = Layout(config["mode"], int(config["wide_dim"]), fields, int(config["n_continuous"]))
    for name, (shape, reason) in _shapes(layout, config).items():
        key = _key(member, name)
        if key not in headers:
            raise ValueError(f"parameter {key!r} is missing")
        stored_shape, stored_dtype = headers[key]
        if stored_dtype not in PARAMETER_DTYPES:
            raise ValueError(f"parameter {key!r} has dtype {stored_dtype}; parameters are float32 or float64")
        if stored_shape != shape or stored_dtype != dtype:
            raise ValueError(f"parameter {key!r} has shape {stored_shape} and dtype {stored_dtype}, but the "
                             f"configuration needs {shape} and {dtype} ({reason})")
    return layout


def _shapes(layout: Layout, config: dict) -> dict:
    """Parameter name → (shape, the configuration entries that decide it)."""
    shapes = {"bias": ((1,), "one bias")}
    if layout.mode in ("wide", "wide_deep"):
        shapes["wide.w"] = ((layout.wide_dim,), f"wide_dim {layout.wide_dim}")
    if layout.mode in ("deep", "wide_deep"):
        for f in layout.fields:
            shapes[f"deep.embedding.{f.name}"] = ((int(f.vocab_size), int(f.dim)),
                                                  f"field {f.name!r}: vocab_size {f.vocab_size}, dim {f.dim}")
        width = sum(int(f.dim) for f in layout.fields) + layout.n_continuous
        reason = f"deep input width {width}: embedding dims + {layout.n_continuous} continuous"
        for layer, out in enumerate((int(h) for h in config["hidden"]), start=1):
            shapes[f"deep.W{layer}"] = ((width, out), f"{reason}, then hidden width {out}")
            shapes[f"deep.b{layer}"] = ((out,), f"hidden width {out}")
            width, reason = out, f"hidden width {out}"
        shapes["deep.w_out"] = ((width, 1), f"{reason}, then one output")
    return shapes


def _check_spec(description, layouts: dict) -> FeatureSpec:
    """The saved feature spec, checked against what each member's configuration expects of it."""
    try:
        spec = FeatureSpec.from_dict(description)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"its feature spec is invalid: {error}") from None
    if not spec.fitted:
        return spec
    expected = spec.model_kwargs()
    mine = {f.name: f for f in expected["fields"]}
    for m, layout in layouts.items():
        who = _who(m)
        if layout.mode != "wide":
            names = [f.name for f in layout.fields]
            if list(mine) != names:
                raise ValueError(f"the feature spec embeds {list(mine)}, but {who}fields are {names}")
            for field in layout.fields:
                theirs = mine[field.name]
                for attribute in ("vocab_size", "dim", "multivalent", "pooling"):
                    if getattr(theirs, attribute) != getattr(field, attribute):
                        raise ValueError(f"the feature spec gives column {field.name!r} {attribute} "
                                         f"{getattr(theirs, attribute)!r}, but {who}embedding table "
                                         f"{_key(m, 'deep.embedding.' + field.name)!r} has {attribute} "
                                         f"{getattr(field, attribute)!r}")
            if expected["n_continuous"] != layout.n_continuous:
                raise ValueError(f"the feature spec gives {expected['n_continuous']} continuous inputs, but "
                                 f"{who}n_continuous is {layout.n_continuous}")
        if layout.mode != "deep" and expected["wide_dim"] != layout.wide_dim:
            raise ValueError(f"the feature spec gives {expected['wide_dim']} wide features, but {who}wide_dim is "
                             f"{layout.wide_dim}")
    return spec


def _build_member(member: str, config: dict, npz) -> WideDeep:
    """The member with its stored parameters (shapes already checked), each one finite."""
    try:
        model = WideDeep(**config)
    except TypeError as error:
        raise ValueError(f"{_who(member)}configuration does not fit this version of wdnumpy: {error}") from None
    for name, param in model.params.items():
        key = _key(member, name)
        stored = npz[key]
        if stored.shape != param.shape or stored.dtype != param.dtype:  # only if model.py and _shapes disagree
            raise ValueError(f"parameter {key!r} has shape {stored.shape}, but the model needs {param.shape}")
        bad = stored.size - int(np.count_nonzero(np.isfinite(stored)))
        if bad:
            raise ValueError(f"parameter {key!r} holds {bad} NaN or infinite value{'s' * (bad > 1)}; a model "
                             "that diverged in training cannot predict")
        param[...] = stored
    return model
