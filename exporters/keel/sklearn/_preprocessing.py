"""Converters for scikit-learn's preprocessing transformers (scalers, imputers, encoders,
discretizers, polynomial features, function transformers) and PCA.

Each converter reads the fitted attributes that ``transform`` uses and precomputes whatever
``transform`` derives from them (the encoders' per-category output tables, infrequent grouping
and dropped columns folded in), so the runtime ops stay simple table lookups and arithmetic in
scikit-learn's order. The semantics of every op are in ``runtime/src/ops/<op>.rs``.

Missing values: keel columns have one kind of missing value (a null; NaN in float columns).
scikit-learn tells ``None`` from ``NaN`` in object columns; a bundle fixes per string input
which of the two its null stands for (``_missing.py``), and the converters here report how
their step treats each (``ctx.nulls.differs``), what their fitted state shows of them
(``ctx.nulls.saw``), and write the attributes for the settled meaning.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)

from keel._bundle import Col
from keel.errors import UnsupportedError
from keel.sklearn._core import Ctx, converter, numeric, require, vector_out


def _doc(path: str, est) -> str:
    return f"{path} ({type(est).__name__})"


def _names_out(est, names: list[str]) -> list[str] | None:
    """``get_feature_names_out`` with keel's input names (or the fitted ones), if it works."""
    try:
        if getattr(est, "feature_names_in_", None) is not None:
            out = est.get_feature_names_out()
        else:
            out = est.get_feature_names_out(names)
    except Exception:  # noqa: BLE001 - names are informative only
        return None
    return [str(n) for n in out]


def _is_missing(v) -> bool:
    """``None`` or a float NaN (scikit-learn's two missing markers in object arrays)."""
    if v is None:
        return True
    try:
        import pandas as pd

        if v is pd.NA:
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def _is_nan_marker(v) -> bool:
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return True
    try:
        import pandas as pd

        return v is pd.NA
    except ImportError:  # pragma: no cover
        return False


def _stage(ctx: Ctx, op: str, base: str, X: list[Col], attrs: dict, names: list[str], path: str, est) -> list[Col]:
    """Adds a stage ``X -> Y`` writing one vector and returns its Col."""
    node, col = ctx.b.node(base)
    ctx.b.stage(op, node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [vector_out(ctx, node, names)]


# -- scalers ------------------------------------------------------------------------------


@converter(StandardScaler)
def _standard_scaler(ctx: Ctx, est: StandardScaler, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    node, col = ctx.b.node("standard_scaler")
    attrs = {}
    if est.with_mean:
        attrs["mean"] = ctx.b.a_f64s(f"{node}/mean", est.mean_)
    if est.with_std:
        attrs["scale"] = ctx.b.a_f64s(f"{node}/scale", est.scale_)
    ctx.b.stage("sklearn.standard_scaler", node, {"X": X}, {"Y": [col]}, attrs, doc=f"{path} (StandardScaler)")
    return [vector_out(ctx, node, names)]


@converter(RobustScaler)
def _robust_scaler(ctx: Ctx, est: RobustScaler, X: list[Col], path: str) -> list[Col]:
    # RobustScaler.transform is `X -= center_; X /= scale_`, the very arithmetic of
    # StandardScaler.transform, so it reuses that op.
    names = numeric(X, path)
    node, col = ctx.b.node("robust_scaler")
    attrs = {}
    if est.with_centering:
        attrs["mean"] = ctx.b.a_f64s(f"{node}/center", est.center_)
    if est.with_scaling:
        attrs["scale"] = ctx.b.a_f64s(f"{node}/scale", est.scale_)
    ctx.b.stage("sklearn.standard_scaler", node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [vector_out(ctx, node, names)]


@converter(MinMaxScaler)
def _min_max_scaler(ctx: Ctx, est: MinMaxScaler, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    node, col = ctx.b.node("min_max_scaler")
    attrs = {
        "scale": ctx.b.a_f64s(f"{node}/scale", est.scale_),
        "min": ctx.b.a_f64s(f"{node}/min", est.min_),
    }
    if est.clip:
        lo, hi = est.feature_range
        attrs["clip"] = ctx.b.a_f64s(f"{node}/clip", [float(lo), float(hi)])
    ctx.b.stage("sklearn.min_max_scaler", node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [vector_out(ctx, node, names)]


@converter(MaxAbsScaler)
def _max_abs_scaler(ctx: Ctx, est: MaxAbsScaler, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    node, col = ctx.b.node("max_abs_scaler")
    attrs = {"scale": ctx.b.a_f64s(f"{node}/scale", est.scale_)}
    if getattr(est, "clip", False):
        attrs["clip"] = ctx.b.a_bool(True)
    ctx.b.stage("sklearn.max_abs_scaler", node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [vector_out(ctx, node, names)]


@converter(Normalizer)
def _normalizer(ctx: Ctx, est: Normalizer, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    require(est.norm in ("l1", "l2", "max"), f"Normalizer(norm={est.norm!r}) is not supported", path)
    # numpy sums a C-ordered array (numpy input) pairwise along rows and a pandas frame
    # (F-ordered once converted) left to right; a Normalizer fitted on a frame sees frames.
    # Arrays from earlier steps may have either layout: best effort, an ulp at most
    # (runtime/src/ops/normalizer.rs).
    order = "sequential" if getattr(est, "feature_names_in_", None) is not None else "pairwise"
    attrs = {"norm": ctx.b.a_str(est.norm), "summation": ctx.b.a_str(order)}
    return _stage(ctx, "sklearn.normalizer", "normalizer", X, attrs, names, path, est)


@converter(Binarizer)
def _binarizer(ctx: Ctx, est: Binarizer, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    t = est.threshold
    require(
        isinstance(t, numbers.Real) and not math.isnan(float(t)),
        f"Binarizer(threshold={t!r}) is not supported (a real number is needed)", path,
    )
    return _stage(ctx, "sklearn.binarizer", "binarizer", X, {"threshold": ctx.b.a_f64(float(t))}, names, path, est)


# -- imputation ---------------------------------------------------------------------------


@converter(SimpleImputer)
def _simple_imputer(ctx: Ctx, est: SimpleImputer, X: list[Col], path: str) -> list[Col]:
    require(not callable(est.strategy), f"SimpleImputer(strategy={est.strategy!r}) (a callable) is not supported", path)
    is_str = [c.width is None and c.dtype == "utf8" for c in X]
    if any(is_str) and not all(is_str):
        raise UnsupportedError(
            "SimpleImputer over a mix of string and numeric columns is not supported", path,
            "scikit-learn turns the whole block into objects; impute strings and numbers in separate "
            "ColumnTransformer branches",
        )
    strings = bool(X) and all(is_str)
    names = [n for c in X for n in c.names]
    mv = est.missing_values
    stats = np.asarray(est.statistics_)
    fill_dtype = np.dtype(est._fill_dtype)
    if est.keep_empty_features:
        keep = list(range(len(stats)))
    else:
        keep = [i for i, s in enumerate(stats) if not _is_missing(s)]
    valid = stats[keep].astype(fill_dtype, copy=False)
    indicator = [int(i) for i in est.indicator_.features_] if est.add_indicator else []
    node = ctx.b.unique("simple_imputer")
    attrs: dict = {"keep": ctx.b.a_i64s(f"{node}/keep", keep)}
    if indicator:
        attrs["indicator"] = ctx.b.a_i64s(f"{node}/indicator", indicator)
    ind_names = [f"missingindicator_{names[i]}" for i in indicator]
    if strings:
        require(
            mv is None or _is_nan_marker(mv) or isinstance(mv, str),
            f"SimpleImputer(missing_values={mv!r}) on string columns is not supported (None, NaN or a string)",
            path,
        )
        nulls = ctx.nulls
        assert nulls is not None
        # scikit-learn's `_get_mask` with a NaN marker flags NaN only (None passes on); with
        # None it flags None only, and `check_array` refuses NaN first ("Input contains NaN");
        # with a string it flags that string, passes None on and refuses NaN.
        kind: str | None
        if mv is None:
            does = {"none": "impute", "nan": "error", "missing": "impute"}
            none_does, nan_does, kind = "is imputed", "is refused (Input contains NaN)", "none"
        elif isinstance(mv, str):
            does = {"none": "keep", "nan": "error", "missing": "keep"}
            none_does, nan_does, kind = "passes on unimputed", "is refused (Input contains NaN)", None
            attrs["missing_value"] = ctx.b.a_str(mv)
        else:
            does = {"none": "keep", "nan": "impute", "missing": "impute"}
            none_does, nan_does, kind = "passes on unimputed", "is imputed", "nan"
        null_attr = []
        for j, c in enumerate(X):
            nulls.differs(c, f"{path} (SimpleImputer(missing_values={mv!r}))", none_does, nan_does)
            if j in indicator and kind is not None:
                nulls.saw(c, kind, f"{path}'s missing indicator")
            null_attr.append(does[nulls.meaning(c)])
        if any(a != "impute" for a in null_attr):
            attrs["null"] = ctx.b.a_strs(null_attr)
        require(fill_dtype.kind == "O", f"SimpleImputer fitted on dtype {fill_dtype} for string columns", path)
        for v in valid:
            if not isinstance(v, str):
                raise UnsupportedError(
                    f"SimpleImputer would fill string columns with {v!r} ({type(v).__name__})", path,
                    "use a string fill_value",
                )
        attrs["fill"] = ctx.b.a_strs([str(v) for v in valid])
        outs = [ctx.b.column(node, f"Y{k}") for k in range(len(keep))]
        ports: list = [("Y", outs)]
        cols = [Col(o, "utf8", None, [names[j]]) for o, j in zip(outs, keep)]
        for c, j in zip(cols, keep):
            nulls.derive(c, X[j])
        if indicator:
            ind = ctx.b.column(node, "indicator")
            ports.append(("indicator", [ind]))
            cols.append(Col(ind, "f64", len(indicator), ind_names))
        ctx.b.stage("sklearn.simple_imputer", node, {"X": X}, ports, attrs, doc=_doc(path, est))
        return cols
    numeric(X, path)
    require(fill_dtype.kind in "fiub", f"SimpleImputer fitted on dtype {fill_dtype} for numeric columns", path)
    if not _is_nan_marker(mv):
        require(
            isinstance(mv, numbers.Real) and not isinstance(mv, bool),
            f"SimpleImputer(missing_values={mv!r}) on numeric columns is not supported", path,
        )
        attrs["missing_value"] = ctx.b.a_f64(float(mv))
    attrs["fill"] = ctx.b.a_f64s(f"{node}/fill", np.asarray(valid, dtype=np.float64))
    out_names = [names[j] for j in keep] + ind_names
    require(bool(out_names), "the SimpleImputer keeps no feature", path)
    col = ctx.b.column(node, "Y")
    ctx.b.stage("sklearn.simple_imputer", node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [Col(col, "f64", len(out_names), out_names)]


# -- encoders -----------------------------------------------------------------------------


def _feature_kinds(X: list[Col]) -> list[tuple[str, bool]]:
    """(name, is_string) per feature of the stacked input."""
    out = []
    for c in X:
        if c.width is None and c.dtype == "utf8":
            out.append((c.names[0], True))
        else:
            out.extend((n, False) for n in c.names)
    return out


def _category_attrs(ctx: Ctx, node: str, est, X: list[Col], path: str) -> tuple[dict, list[str]]:
    """The ``categories``, ``missing`` and ``unmatched`` attributes
    (runtime/src/ops/categories.rs)."""
    kinds = _feature_kinds(X)
    require(
        len(kinds) == len(est.categories_),
        f"the encoder was fitted on {len(est.categories_)} features, keel sees {len(kinds)}", path,
    )
    nulls = ctx.nulls
    assert nulls is not None
    scalar = {c.names[0]: c for c in X if c.width is None and c.dtype == "utf8"}
    what = f"{path} ({type(est).__name__})"
    cats_attr, missing, unmatched = [], [], []
    for i, ((name, is_str), cats) in enumerate(zip(kinds, est.categories_)):
        miss = [k for k, v in enumerate(cats) if _is_missing(v)]
        k_none = next((k for k in miss if cats[k] is None), None)
        k_nan = next((k for k in miss if k != k_none), None)
        if is_str:
            col = scalar[name]
            if k_none is not None or k_nan is not None:
                def does(k: int | None) -> str:
                    return "is unknown" if k is None else f"is category #{k}"

                nulls.differs(col, what, does(k_none), does(k_nan))
            if k_none is not None:
                nulls.saw(col, "none", what)
            if k_nan is not None:
                nulls.saw(col, "nan", what)
            # The null reaches the category it stands for; the other one no value reaches.
            if nulls.meaning(col) == "nan":
                hit, other = k_nan, k_none
            else:
                hit, other = k_none, k_nan
        else:
            if len(miss) > 1:
                raise UnsupportedError(
                    f"feature `{name}` has both None and NaN as categories, but its column is numeric", path,
                )
            hit, other = (miss[0] if miss else None), None
        missing.append(-1 if hit is None else hit)
        unmatched.append(-1 if other is None else other)
        rest = [v for k, v in enumerate(cats) if k not in miss]
        if is_str:
            for v in rest:
                if not isinstance(v, str):
                    raise UnsupportedError(
                        f"feature `{name}` is a string column but category {v!r} is a {type(v).__name__}", path,
                    )
            cats_attr.append(ctx.b.a_strs(rest))
        else:
            nums = []
            for v in rest:
                if isinstance(v, (bool, np.bool_)):
                    nums.append(1.0 if v else 0.0)
                elif isinstance(v, numbers.Real):
                    f = float(v)
                    if isinstance(v, numbers.Integral) and int(f) != int(v):
                        raise UnsupportedError(f"feature `{name}`: category {v} does not fit a float exactly", path)
                    nums.append(f)
                else:
                    raise UnsupportedError(
                        f"feature `{name}` is numeric but category {v!r} is a {type(v).__name__}", path,
                        "string categories need a string column",
                    )
            cats_attr.append(ctx.b.a_f64s(f"{node}/categories/{i}", nums))
    attrs = {"categories": ctx.b.a_list(cats_attr), "missing": ctx.b.a_i64s(f"{node}/missing", missing)}
    if any(u >= 0 for u in unmatched):
        attrs["unmatched"] = ctx.b.a_i64s(f"{node}/unmatched", unmatched)
    return attrs, [n for n, _ in kinds]


def _grouped(est, i: int, n: int) -> np.ndarray:
    """Raw category index -> index after infrequent grouping (``_map_infrequent_categories``)."""
    raw = np.arange(n)
    if getattr(est, "_infrequent_enabled", False):
        mapping = est._default_to_infrequent_mappings[i]
        if mapping is not None:
            ignore = getattr(est, "_missing_indices", {}) if isinstance(est, OrdinalEncoder) else {}
            rows = raw != ignore[i] if i in ignore else np.ones(n, dtype=bool)
            out = raw.copy()
            out[rows] = np.take(mapping, raw[rows])
            return out
    return raw


def _check_categorical_input(X: list[Col], path: str) -> None:
    for c in X:
        require(c.dtype in ("utf8", "f64", "f32", "i64", "i32", "bool"), f"column `{c.name}` has dtype {c.dtype}", path)


@converter(OneHotEncoder)
def _one_hot_encoder(ctx: Ctx, est: OneHotEncoder, X: list[Col], path: str) -> list[Col]:
    _check_categorical_input(X, path)
    require(
        est.handle_unknown in ("error", "ignore", "infrequent_if_exist", "warn"),
        f"OneHotEncoder(handle_unknown={est.handle_unknown!r}) is not supported", path,
    )
    node, col = ctx.b.node("one_hot_encoder")
    attrs, in_names = _category_attrs(ctx, node, est, X, path)
    n_outs = list(est._n_features_outs)
    offsets = np.concatenate([[0], np.cumsum(n_outs)]).astype(int)
    drop = est._drop_idx_after_grouping
    infrequent = est._infrequent_indices if est._infrequent_enabled else [None] * len(est.categories_)
    codes, unknown = [], []
    for i, cats in enumerate(est.categories_):
        g = _grouped(est, i, len(cats))
        d = None if drop is None else drop[i]

        def column(gi: int) -> int:
            if d is not None:
                if gi == d:
                    return -1
                if gi > d:
                    gi -= 1
            return int(offsets[i] + gi)

        codes.append(ctx.b.a_i64s(f"{node}/codes/{i}", [column(int(x)) for x in g]))
        if est.handle_unknown == "error":
            unknown.append(-2)
        elif est.handle_unknown in ("infrequent_if_exist", "warn") and infrequent[i] is not None:
            # Unknowns join the infrequent group (which may itself be the dropped category).
            unknown.append(column(int(g[int(infrequent[i][0])])))
        else:
            unknown.append(-1)
    width = int(offsets[-1])
    names = _names_out(est, in_names) or [f"{node}[{k}]" for k in range(width)]
    require(len(names) == width, f"OneHotEncoder names {len(names)} outputs, expected {width}", path)
    attrs["codes"] = ctx.b.a_list(codes)
    attrs["unknown"] = ctx.b.a_i64s(f"{node}/unknown", unknown)
    attrs["names"] = ctx.b.a_strs(names)
    ctx.b.stage("sklearn.one_hot_encoder", node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [Col(col, "f64", width, names)]


@converter(OrdinalEncoder)
def _ordinal_encoder(ctx: Ctx, est: OrdinalEncoder, X: list[Col], path: str) -> list[Col]:
    _check_categorical_input(X, path)
    require(
        est.handle_unknown in ("error", "use_encoded_value"),
        f"OrdinalEncoder(handle_unknown={est.handle_unknown!r}) is not supported", path,
    )
    dtype = np.dtype(est.dtype)
    require(dtype.kind in "fiu", f"OrdinalEncoder(dtype={est.dtype!r}) is not supported", path)
    node, col = ctx.b.node("ordinal_encoder")
    attrs, in_names = _category_attrs(ctx, node, est, X, path)
    codes = []
    for i, cats in enumerate(est.categories_):
        g = _grouped(est, i, len(cats))
        out = g.astype(dtype)
        if i in est._missing_indices:
            out[np.arange(len(cats)) == est._missing_indices[i]] = est.encoded_missing_value
        codes.append(ctx.b.a_f64s(f"{node}/codes/{i}", out.astype(np.float64)))
    attrs["codes"] = ctx.b.a_list(codes)
    if est.handle_unknown == "use_encoded_value":
        attrs["unknown_value"] = ctx.b.a_f64(float(np.array([est.unknown_value]).astype(dtype)[0]))
    ctx.b.stage("sklearn.ordinal_encoder", node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [Col(col, "f64", len(in_names), in_names)]


# -- discretization, expansion, functions, projection -------------------------------------


@converter(KBinsDiscretizer)
def _kbins(ctx: Ctx, est: KBinsDiscretizer, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    require(est.encode in ("ordinal", "onehot", "onehot-dense"), f"KBinsDiscretizer(encode={est.encode!r})", path)
    require(
        est.dtype in (None, np.float64, np.float32),
        f"KBinsDiscretizer(dtype={est.dtype!r}) is not supported", path,
    )
    node, col = ctx.b.node("kbins_discretizer")
    edges = [ctx.b.a_f64s(f"{node}/edges/{i}", np.asarray(e, dtype=np.float64)) for i, e in enumerate(est.bin_edges_)]
    onehot = est.encode != "ordinal"
    attrs = {"edges": ctx.b.a_list(edges), "encode": ctx.b.a_str("onehot" if onehot else "ordinal")}
    if est.dtype is np.float32 or est.dtype == np.float32:
        attrs["cast_f32"] = ctx.b.a_bool(True)
    width = int(np.sum(est.n_bins_)) if onehot else len(names)
    out_names = (_names_out(est, names) if onehot else names) or [f"{node}[{k}]" for k in range(width)]
    ctx.b.stage("sklearn.kbins_discretizer", node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [Col(col, "f64", width, out_names)]


@converter(PolynomialFeatures)
def _polynomial(ctx: Ctx, est: PolynomialFeatures, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    width = int(est.n_output_features_)
    attrs = {
        "min_degree": ctx.b.a_i64(est._min_degree),
        "max_degree": ctx.b.a_i64(est._max_degree),
        "interaction_only": ctx.b.a_bool(est.interaction_only),
        "include_bias": ctx.b.a_bool(est.include_bias),
        "n_output": ctx.b.a_i64(width),
    }
    out_names = _names_out(est, names) or [f"poly{k}" for k in range(width)]
    return _stage(ctx, "sklearn.polynomial_features", "polynomial_features", X, attrs, out_names, path, est)


# The ufuncs FunctionTransformer may carry, by identity (a lambda wrapping one is refused).
_UFUNCS = {np.log1p: "log1p", np.exp: "exp", np.sqrt: "sqrt"}


@converter(FunctionTransformer)
def _function_transformer(ctx: Ctx, est: FunctionTransformer, X: list[Col], path: str) -> list[Col]:
    func = est.func
    if func is None:
        name = "identity"
    else:
        name = next((v for k, v in _UFUNCS.items() if func is k), None)
        if name is None:
            fname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
            module = getattr(func, "__module__", None)
            raise UnsupportedError(
                f"FunctionTransformer(func={(module + '.') if module else ''}{fname}) is not supported",
                path, "supported: None, np.log1p, np.exp, np.sqrt",
            )
    if est.kw_args:
        raise UnsupportedError(f"FunctionTransformer(func={name}, kw_args={est.kw_args!r}) is not supported", path)
    # inverse_func, check_inverse and feature_names_out never change what transform computes.
    if name == "identity" and not est.validate:
        return X
    names = numeric(X, path)
    if name != "identity":
        for c in X:
            # numpy evaluates a ufunc of booleans in float16: not what keel computes.
            require(
                c.dtype != "bool", f"FunctionTransformer(func=np.{name}) on boolean column `{c.name}` is not supported",
                path, "numpy would compute it in float16",
            )
    attrs = {"func": ctx.b.a_str(name), "validate": ctx.b.a_bool(bool(est.validate))}
    return _stage(ctx, "sklearn.function_transformer", f"function_{name}", X, attrs, names, path, est)


@converter(PCA)
def _pca(ctx: Ctx, est: PCA, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    comps = np.asarray(est.components_, dtype=np.float64)
    require(comps.shape[1] == len(names), f"components_ has {comps.shape[1]} columns for {len(names)} features", path)
    node, col = ctx.b.node("pca")
    attrs = {
        "components": ctx.b.a_tensor(f"{node}/components", comps),
        "mean": ctx.b.a_f64s(f"{node}/mean", est.mean_),
    }
    if est.whiten:
        attrs["explained_variance"] = ctx.b.a_f64s(f"{node}/explained_variance", est.explained_variance_)
    k = comps.shape[0]
    out_names = _names_out(est, names) or [f"pca{i}" for i in range(k)]
    ctx.b.stage("sklearn.pca", node, {"X": X}, {"Y": [col]}, attrs, doc=_doc(path, est))
    return [Col(col, "f64", k, out_names)]
