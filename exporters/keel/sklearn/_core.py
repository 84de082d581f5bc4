"""The exporter's core: schema inference, the converter registry, and ``export``.

A converter is a function ``convert(ctx, est, X, path) -> list[Col]`` registered for an
estimator class with :func:`converter`. ``X`` is the list of columns the estimator receives
(stacked side by side, as scikit-learn would see them); the converter adds stages through
``ctx.b`` (a :class:`keel._bundle.GraphBuilder`) and returns the columns it produces. A
predictor returns its user-facing outputs (``label``, ``probability``, ``prediction``...),
which become the bundle's outputs when the predictor is the last step.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from keel import __version__
from keel._bundle import Col, GraphBuilder, write_bundle
from keel.errors import UnsupportedError

Converter = Callable[["Ctx", Any, list, str], list]
_CONVERTERS: dict[type, Converter] = {}


def converter(*classes: type) -> Callable[[Converter], Converter]:
    """Registers a converter for exactly these classes (subclasses are not assumed to behave
    the same, so they are refused unless registered themselves)."""

    def deco(fn: Converter) -> Converter:
        for c in classes:
            _CONVERTERS[c] = fn
        return fn

    return deco


def supported_estimators() -> list[str]:
    """Names of the estimator classes the exporter supports."""
    return sorted(f"{c.__module__.split('.')[1] if '.' in c.__module__ else c.__module__}.{c.__name__}" for c in _CONVERTERS)


@dataclass
class Ctx:
    """What converters share: the graph builder and the names already used for columns."""

    b: GraphBuilder
    used_columns: set[str] = field(default_factory=set)
    # True while converting a step whose output feeds a later step: scikit-learn then calls
    # its `transform`, not `predict`, so an estimator that is both (KMeans) must export only
    # its transform output.
    as_transformer: bool = False
    # Missing strings (see ``_missing.py``): what a null at each string input means, which
    # input a string column descends from, and, while surveying, what the fitted state shows.
    nulls: "Nulls | None" = None

    def out_name(self, base: str) -> str:
        """A user-facing output column name (``label``, ``probability``...), made unique."""
        name, i = base, 1
        while name in self.used_columns:
            i += 1
            name = f"{base}_{i}"
        self.used_columns.add(name)
        return name

    def col(self, base: str) -> str:
        """An internal column name."""
        return self.out_name(base)

    def convert(self, est: Any, X: list[Col], path: str) -> list[Col]:
        """Converts one estimator (dispatching on its exact class)."""
        if isinstance(est, str) and est == "passthrough" or est is None:
            return X
        fn = _CONVERTERS.get(type(est))
        if fn is None:
            raise UnsupportedError(
                f"estimator {type(est).__module__}.{type(est).__name__} is not supported",
                path,
                "supported: " + ", ".join(sorted(c.__name__ for c in _CONVERTERS)),
            )
        return fn(self, est, X, path)


# -- helpers converters share -------------------------------------------------------------


def require(cond: bool, what: str, path: str, hint: str = "") -> None:
    """Refuses with :class:`UnsupportedError` unless ``cond``."""
    if not cond:
        raise UnsupportedError(what, path, hint)


def numeric(X: list[Col], path: str) -> list[str]:
    """Checks that every column of ``X`` is numeric and returns the flattened feature names."""
    names: list[str] = []
    for c in X:
        if not c.is_numeric:
            raise UnsupportedError(
                f"column `{c.name}` holds strings, but this step needs numbers", path,
                "encode it first (OneHotEncoder/OrdinalEncoder)",
            )
        names.extend(c.names)
    return names


def width(X: list[Col]) -> int:
    return sum(c.n_features for c in X)


def vector_out(ctx: Ctx, node: str, names: list[str], port: str = "Y") -> Col:
    """The Col describing a stage's vector output (call after ``stage``)."""
    return Col(ctx.b.column(node, port), "f64", len(names), list(names))


def classifier_outputs(ctx: Ctx, est: Any, *, probability: bool, decision_width: int | None = None):
    """Names the standard classifier outputs and returns ``(ports, cols, class_attrs)``.

    ``ports`` is the list of ``(port, [column])`` pairs in the order the runtime requires
    (label, probability, decision); ``class_attrs`` holds the ``classes`` attribute (and
    ``classes_dtype`` for booleans).
    """
    classes = np.asarray(est.classes_)
    attrs: dict[str, dict] = {}
    if classes.dtype == np.bool_:
        attrs["classes"] = {"i64s": [int(x) for x in classes]}
        attrs["classes_dtype"] = {"str": "bool"}
        dtype = "bool"
    elif np.issubdtype(classes.dtype, np.integer):
        attrs["classes"] = {"i64s": [int(x) for x in classes]}
        dtype = "i64"
    elif np.issubdtype(classes.dtype, np.floating):
        attrs["classes"] = {"f64s": [float(x) for x in classes]}
        dtype = "f64"
    else:
        for c in classes:
            if not isinstance(c, str):
                raise UnsupportedError(f"class label {c!r} of type {type(c).__name__} is not supported", "")
        attrs["classes"] = {"strs": [str(x) for x in classes]}
        dtype = "utf8"
    names = [str(x) for x in classes]
    label = ctx.out_name("label")
    ports = [("label", [label])]
    cols = [Col(label, dtype, None, [label])]
    if probability:
        p = ctx.out_name("probability")
        ports.append(("probability", [p]))
        cols.append(Col(p, "f64", len(names), names))
    if decision_width is not None:
        d = ctx.out_name("decision")
        ports.append(("decision", [d]))
        dn = names if decision_width == len(names) else [f"decision[{i}]" for i in range(decision_width)]
        cols.append(Col(d, "f64", decision_width, dn))
    return ports, cols, attrs


# -- schema inference ---------------------------------------------------------------------


def _infer_inputs(est: Any, sample: Any) -> list[Col]:
    fitted_names = getattr(est, "feature_names_in_", None)
    n_in = getattr(est, "n_features_in_", None)
    cols: list[Col] = []
    if sample is None:
        if n_in is None:
            raise UnsupportedError("cannot infer the input schema", "", "pass sample=")
        names = list(fitted_names) if fitted_names is not None else [f"x{i}" for i in range(n_in)]
        return [Col(str(n), "f64", None, [str(n)]) for n in names]
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        pd = None
    if pd is not None and isinstance(sample, pd.DataFrame):
        for name in sample.columns:
            if not isinstance(name, str):
                raise UnsupportedError(f"column name {name!r} is not a string", "sample")
            s = sample[name]
            kind = s.dtype.kind
            if isinstance(s.dtype, pd.CategoricalDtype) or kind in ("O", "U", "S") or str(s.dtype) in ("string", "str"):
                for v in s.dropna().unique()[:10000]:
                    if not isinstance(v, str):
                        raise UnsupportedError(
                            f"column `{name}` mixes strings with {type(v).__name__} values", "sample",
                            "give each column a single type",
                        )
                dtype = "utf8"
            elif kind == "f":
                if s.dtype.itemsize != 8:
                    # scikit-learn keeps float32 arithmetic for float32 input in several
                    # stages; keel computes in f64 and would not give the same numbers.
                    raise UnsupportedError(
                        f"column `{name}` is {s.dtype}; keel reproduces scikit-learn on float64 input",
                        "sample", "cast the column to float64 before fitting",
                    )
                dtype = "f64"
            elif kind in ("i", "u"):
                dtype = "i64"
            elif kind == "b":
                dtype = "bool"
            else:
                raise UnsupportedError(f"column `{name}` has unsupported dtype {s.dtype}", "sample")
            cols.append(Col(name, dtype, None, [name]))
    else:
        arr = np.asarray(sample)
        if arr.ndim != 2:
            raise UnsupportedError(f"sample must be 2-D, got shape {arr.shape}", "sample")
        names = list(fitted_names) if fitted_names is not None else [f"x{i}" for i in range(arr.shape[1])]
        if arr.dtype.kind in ("f", "i", "u", "b"):
            dtype = "f64"
        elif arr.dtype.kind in ("O", "U", "S"):
            dtype = "utf8"
        else:
            raise UnsupportedError(f"sample dtype {arr.dtype} is not supported", "sample")
        cols = [Col(str(n), dtype, None, [str(n)]) for n in names]
    if n_in is not None and len(cols) != n_in:
        raise UnsupportedError(
            f"sample has {len(cols)} columns but the estimator was fitted on {n_in}", "sample"
        )
    if fitted_names is not None and [c.name for c in cols] != [str(n) for n in fitted_names]:
        raise UnsupportedError("sample's column names differ from those the estimator was fitted on", "sample")
    return cols


def _example_row(sample: Any, inputs: list[Col]) -> str | None:
    """The first row of ``sample`` as a JSON object (input name -> value), stored as the
    ``keel.example`` metadata entry: tools that show a model (the server's web page) use it as
    a realistic default input. Missing values (None, NaN) are ``null``; infinities are spelled
    ``"Infinity"``/``"-Infinity"`` as the runtime's JSON reader takes them."""
    import json
    import math

    if sample is None or len(sample) == 0:
        return None
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        pd = None
    if pd is not None and isinstance(sample, pd.DataFrame):
        first = [sample[c.name].iloc[0] for c in inputs]
    else:
        first = list(np.asarray(sample)[0])
    row: dict[str, Any] = {}
    for c, v in zip(inputs, first):
        if v is None or (pd is not None and v is pd.NA) or (isinstance(v, float) and math.isnan(v)):
            row[c.name] = None
            continue
        if isinstance(v, np.generic):
            v = v.item()
        if c.dtype == "utf8":
            row[c.name] = str(v)
        elif c.dtype == "bool":
            row[c.name] = bool(v)
        elif c.dtype == "i64":
            row[c.name] = int(v)
        else:
            f = float(v)
            if math.isnan(f):
                row[c.name] = None
            elif math.isinf(f):
                row[c.name] = "Infinity" if f > 0 else "-Infinity"
            else:
                row[c.name] = f
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _field(c: Col, nullable: bool) -> dict:
    f: dict = {"name": c.name, "dtype": c.dtype, "shape": [] if c.width is None else [c.width], "nullable": nullable}
    if c.width is not None:
        f["names"] = list(c.names)
    return f


def export(
    estimator: Any,
    path: str | os.PathLike,
    sample: Any = None,
    name: str | None = None,
    metadata: dict[str, str] | None = None,
    missing_strings: dict[str, str] | None = None,
    network: Any = None,
    network_sample: Any = None,
    connect: dict[str, Any] | None = None,
    keep: list[str] | None = None,
) -> None:
    """Exports a fitted estimator or pipeline to a keel bundle at ``path``.

    ``network``: a network that reads the pipeline's output, exported into the same bundle
    (:func:`keel.compose`): a PyTorch ``nn.Module``, a keel bundle or an ONNX model (path or
    bytes). A transformer's output is one ``features`` block, which a one-input network reads
    (cast to its dtype); ``connect`` and ``keep`` are :func:`keel.compose`'s. A PyTorch
    network is exported from ``network_sample``, by default the transformed ``sample`` as
    ``float32`` (so ``sample`` needs at least 2 rows).

    Raises :class:`keel.UnsupportedError` (before writing anything) for anything that cannot
    be expressed exactly. When ``sample`` is given, its first row is recorded in the metadata
    as ``keel.example`` (a JSON object) unless ``metadata`` sets that key itself.

    ``missing_strings`` maps a string input column to what a missing value (an Arrow null)
    there stands for: ``"none"`` (Python's ``None``, as pandas 2 object columns usually hold)
    or ``"nan"`` (``np.nan``, as pandas 3 ``str`` columns and ``read_csv`` give). scikit-learn
    treats the two differently (``SimpleImputer(missing_values=np.nan)`` imputes NaN and lets
    None through; encoders learn them as two categories); the exporter works out which one a
    column's nulls are from the sample and the fitted state, and refuses a column where the
    pipeline tells them apart and neither tells which, unless this option says.
    """
    if network is not None:
        _export_with_network(estimator, path, sample, name, metadata, missing_strings, network,
                             network_sample, connect, keep)
        return
    import sklearn
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except Exception as e:  # NotFittedError, or TypeError for non-estimators
        raise UnsupportedError(f"{type(estimator).__name__} is not a fitted estimator: {e}", "") from e
    inputs = _infer_inputs(estimator, sample)
    from keel.sklearn._missing import Nulls

    nulls = Nulls.from_sample(inputs, sample, missing_strings)
    # A first pass over the pipeline gathers what each step does with None and NaN and what
    # its fitted state shows of them; the second, with every meaning settled, builds the graph.
    survey = Ctx(GraphBuilder(), used_columns={c.name for c in inputs}, nulls=nulls)
    with warnings.catch_warnings(), survey.b.pipeline("pipeline"):
        warnings.simplefilter("ignore")  # the second pass gives each warning once
        survey.convert(estimator, inputs, type(estimator).__name__)
    nulls.settle()
    b = GraphBuilder()
    ctx = Ctx(b, used_columns={c.name for c in inputs}, nulls=nulls)
    is_predictor = hasattr(estimator, "predict")
    with b.pipeline("pipeline", doc=type(estimator).__name__):
        out = ctx.convert(estimator, inputs, type(estimator).__name__)
        if not is_predictor:
            # A transformer's result is exposed as one `features` vector: internal column
            # names are not user-facing names.
            names = numeric(out, type(estimator).__name__)
            feat = ctx.out_name("features")
            b.stage("concat", b.unique("features"), {"X": out}, {"Y": [feat]})
            out = [Col(feat, "f64", len(names), names)]
    graph = b.root
    assert graph is not None
    example = _example_row(sample, inputs)
    if example is not None and "keel.example" not in (metadata or {}):
        metadata = {**(metadata or {}), "keel.example": example}
    meanings = nulls.metadata()
    if meanings is not None and "keel.missing_strings" not in (metadata or {}):
        metadata = {**(metadata or {}), "keel.missing_strings": meanings}
    write_bundle(
        path,
        name=name or type(estimator).__name__,
        producer={
            "name": "keel.sklearn",
            "version": __version__,
            "framework": "scikit-learn",
            "framework_version": sklearn.__version__,
        },
        inputs=[_field(c, True) for c in inputs],
        outputs=[_field(c, False) for c in out],
        graph=graph,
        tensors=b.tensors,
        metadata=metadata,
    )


def _export_with_network(estimator, path, sample, name, metadata, missing_strings, network,
                         network_sample, connect, keep) -> None:
    """The pipeline exported on its own, then joined with the network by ``keel.compose``."""
    import tempfile

    from keel._bundle import write_atomic
    from keel._compose import _is_torch_module, compose_bytes

    if network_sample is None and _is_torch_module(network):
        if sample is None or not hasattr(estimator, "transform"):
            raise ValueError("a PyTorch network needs network_sample, or a transformer and its "
                             "sample to compute it from")
        import numpy as np
        import torch

        block = estimator.transform(sample)
        if hasattr(block, "toarray"):
            block = block.toarray()
        network_sample = torch.from_numpy(np.asarray(block, dtype=np.float32))
    with tempfile.TemporaryDirectory(prefix="keel-export-") as tmp:
        features = os.path.join(tmp, "features.keel")
        export(estimator, features, sample=sample, name=name, metadata=metadata,
               missing_strings=missing_strings)
        data = compose_bytes(features, network, connect=connect, keep=keep, name=name,
                             network_sample=network_sample)
    write_atomic(path, data)
