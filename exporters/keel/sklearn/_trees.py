"""Converters for scikit-learn's trees and tree ensembles.

Decision trees, random forests, extra trees and gradient boosting map onto the
``sklearn.tree_ensemble`` op (every tree of the model flattened into node tensors);
HistGradientBoosting maps onto ``sklearn.hist_gradient_boosting``, carrying its internal
categorical preprocessing (the ``OrdinalEncoder`` of ``_preprocessor``) so raw string columns
score directly. See runtime/docs/ops.md and the module docs of the two ops for the exact
semantics each attribute carries.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor

from keel._bundle import Col
from keel.errors import UnsupportedError
from keel.sklearn._core import Ctx, classifier_outputs, converter, numeric, require, width

_SINGLE_TREES = (DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor)


def _doc(path: str, est) -> str:
    return f"{path} ({type(est).__name__})"


def _regression_out(ctx: Ctx, k: int) -> tuple[list, list[Col]]:
    out = ctx.out_name("prediction")
    if k == 1:
        return [("prediction", [out])], [Col(out, "f64", None, [out])]
    return [("prediction", [out])], [Col(out, "f64", k, [f"prediction[{i}]" for i in range(k)])]


def _node_attrs(ctx: Ctx, node: str, trees: list, values: list[np.ndarray]) -> dict:
    """The node tensors of ``sklearn.tree_ensemble`` for fitted ``sklearn.tree._tree.Tree``
    objects, concatenated tree after tree (children stay local to their tree)."""
    b = ctx.b
    cat = np.concatenate
    return {
        "tree_nodes": b.a_i64s(f"{node}/tree_nodes", [t.node_count for t in trees]),
        "feature": b.a_tensor(f"{node}/feature", cat([t.feature for t in trees]).astype(np.int32)),
        "threshold": b.a_tensor(f"{node}/threshold", cat([t.threshold for t in trees]).astype(np.float64)),
        "left": b.a_tensor(f"{node}/left", cat([t.children_left for t in trees]).astype(np.int32)),
        "right": b.a_tensor(f"{node}/right", cat([t.children_right for t in trees]).astype(np.int32)),
        "missing_go_to_left": b.a_tensor(
            f"{node}/missing_go_to_left", cat([np.asarray(t.missing_go_to_left) for t in trees]).astype(bool)
        ),
        "value": b.a_tensor(f"{node}/value", cat(values).astype(np.float64)),
    }


def _check_trees(est, trees: list, path: str) -> None:
    for i, t in enumerate(trees):
        if not isinstance(t, _SINGLE_TREES) or not hasattr(t, "tree_"):
            raise UnsupportedError(f"estimators_[{i}] is a {type(t).__name__}, not a fitted scikit-learn tree", path)


def _tree_values(est, trees: list, path: str, classifier: bool) -> tuple[list[np.ndarray], int]:
    """Per tree, the ``[node_count, w]`` leaf values, and ``w``."""
    n_outputs = est.n_outputs_
    if classifier:
        if n_outputs != 1:
            raise UnsupportedError(
                f"multi-output classification (n_outputs_={n_outputs}) is not supported", path,
                "fit one classifier per target",
            )
        n_classes = len(est.classes_)
        values = []
        for i, t in enumerate(trees):
            v = t.tree_.value
            require(
                v.shape[1:] == (1, n_classes), f"tree {i} has value shape {v.shape[1:]}, expected (1, {n_classes})", path
            )
            values.append(v[:, 0, :])
        return values, n_classes
    values = []
    for i, t in enumerate(trees):
        v = t.tree_.value
        require(v.shape[1:] == (n_outputs, 1), f"tree {i} has value shape {v.shape[1:]}", path)
        values.append(v[:, :, 0])
    return values, n_outputs


def _forest(ctx: Ctx, est, X: list[Col], path: str, trees: list) -> list[Col]:
    """A single tree or a forest: per-tree predictions summed in order, divided by the count."""
    names = numeric(X, path)
    require(len(names) == est.n_features_in_, f"receives {len(names)} features, fitted on {est.n_features_in_}", path)
    _check_trees(est, trees, path)
    classifier = hasattr(est, "classes_")
    values, w = _tree_values(est, trees, path, classifier)
    node = ctx.b.unique(type(est).__name__.lower())
    attrs = _node_attrs(ctx, node, [t.tree_ for t in trees], values)
    attrs.update(
        n_features=ctx.b.a_i64(est.n_features_in_),
        n_targets=ctx.b.a_i64(w),
        aggregation=ctx.b.a_str("average"),
        # Trees and forests take NaN (scikit-learn's allow_nan tag is set for every criterion
        # and splitter that reaches these classes).
        allow_nan=ctx.b.a_bool(est.__sklearn_tags__().input_tags.allow_nan),
    )
    if classifier:
        attrs["task"] = ctx.b.a_str("classification")
        attrs["link"] = ctx.b.a_str("average")
        ports, cols, class_attrs = classifier_outputs(ctx, est, probability=True)
        attrs.update(class_attrs)
    else:
        attrs["task"] = ctx.b.a_str("regression")
        attrs["link"] = ctx.b.a_str("identity")
        ports, cols = _regression_out(ctx, w)
    ctx.b.stage("sklearn.tree_ensemble", node, {"X": X}, ports, attrs, doc=_doc(path, est))
    return cols


@converter(*_SINGLE_TREES)
def _single_tree(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    return _forest(ctx, est, X, path, [est])


@converter(RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
def _random_forest(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    return _forest(ctx, est, X, path, list(est.estimators_))


# -- gradient boosting ------------------------------------------------------------------------

_GB_CLASSIFIER_LINKS = {"log_loss": None, "exponential": "half_logistic"}
_GB_REGRESSOR_LOSSES = ("squared_error", "absolute_error", "huber", "quantile")


def _gb_baseline(est, path: str) -> np.ndarray:
    """``_raw_predict_init`` as scikit-learn computes it. Every init the exporter accepts
    predicts a constant, so one row of zeros gives the baseline of every row."""
    init = est.init_
    if isinstance(init, str):
        require(init == "zero", f"init={init!r} is not supported", path)
    elif isinstance(init, DummyClassifier):
        require(
            init.strategy in ("prior", "most_frequent", "constant"),
            f"init=DummyClassifier(strategy={init.strategy!r}) is random, so it has no fixed baseline",
            path,
            "use strategy='prior'",
        )
    elif not isinstance(init, DummyRegressor):
        raise UnsupportedError(
            f"init={type(init).__name__} is not supported: its predictions depend on X", path,
            "use the default init (a DummyClassifier/DummyRegressor) or init='zero'",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "X does not have valid feature names"
        raw = est._raw_predict_init(np.zeros((1, est.n_features_in_), dtype=np.float32))
    return np.asarray(raw, dtype=np.float64)[0]


@converter(GradientBoostingClassifier, GradientBoostingRegressor)
def _gradient_boosting(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    require(len(names) == est.n_features_in_, f"receives {len(names)} features, fitted on {est.n_features_in_}", path)
    classifier = isinstance(est, GradientBoostingClassifier)
    if classifier:
        require(est.loss in _GB_CLASSIFIER_LINKS, f"loss={est.loss!r} is not supported", path)
        k = est.n_trees_per_iteration_
        link = _GB_CLASSIFIER_LINKS[est.loss] or ("logistic" if k == 1 else "softmax")
    else:
        require(est.loss in _GB_REGRESSOR_LOSSES, f"loss={est.loss!r} is not supported", path)
        k = 1
        link = "identity"
    stages = np.asarray(est.estimators_)
    require(stages.ndim == 2 and stages.shape[1] == k, f"estimators_ has shape {stages.shape}", path)
    trees = [t for row in stages for t in row]
    _check_trees(est, trees, path)
    baseline = _gb_baseline(est, path)
    require(baseline.shape == (k,), f"the init prediction has shape {baseline.shape}, expected ({k},)", path)
    values = []
    for i, t in enumerate(trees):
        v = t.tree_.value
        require(v.shape[1:] == (1, 1), f"stage tree {i} has value shape {v.shape[1:]}", path)
        values.append(v[:, :, 0])
    node = ctx.b.unique(type(est).__name__.lower())
    attrs = _node_attrs(ctx, node, [t.tree_ for t in trees], values)
    attrs.update(
        n_features=ctx.b.a_i64(est.n_features_in_),
        n_targets=ctx.b.a_i64(k),
        tree_target=ctx.b.a_i64s(f"{node}/tree_target", [j for _ in range(stages.shape[0]) for j in range(k)]),
        aggregation=ctx.b.a_str("sum"),
        learning_rate=ctx.b.a_f64(est.learning_rate),
        # A tensor, not inline JSON: the baseline must reach the runtime to the last bit.
        baseline=ctx.b.a_tensor(f"{node}/baseline", baseline),
        # decision_function validates X with the default ensure_all_finite=True.
        allow_nan=ctx.b.a_bool(False),
        link=ctx.b.a_str(link),
    )
    if classifier:
        attrs["task"] = ctx.b.a_str("classification")
        ports, cols, class_attrs = classifier_outputs(ctx, est, probability=True)
        attrs.update(class_attrs)
    else:
        attrs["task"] = ctx.b.a_str("regression")
        ports, cols = _regression_out(ctx, 1)
    ctx.b.stage("sklearn.tree_ensemble", node, {"X": X}, ports, attrs, doc=_doc(path, est))
    return cols


# -- histogram gradient boosting --------------------------------------------------------------


def _hgb_link(est, path: str) -> str:
    from sklearn._loss.link import IdentityLink, LogitLink, LogLink, MultinomialLogit

    link = est._loss.link
    classifier = isinstance(est, HistGradientBoostingClassifier)
    if classifier and isinstance(link, LogitLink):
        return "logistic"
    if classifier and isinstance(link, MultinomialLogit):
        return "softmax"
    if not classifier and type(link) is IdentityLink:
        return "identity"
    if not classifier and isinstance(link, LogLink):
        return "exp"
    raise UnsupportedError(f"loss={est.loss!r} (link {type(link).__name__}) is not supported", path)


def _hgb_preprocessing(ctx: Ctx, est, node: str, X: list[Col], path: str) -> dict:
    """``input_index``, ``encoded`` and ``categories`` from the estimator's ``_preprocessor``
    (a ColumnTransformer that ordinal-encodes the categorical columns and puts them first)."""
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    n = est.n_features_in_
    ct = est._preprocessor
    if ct is None:
        return {"input_index": ctx.b.a_i64s(f"{node}/input_index", range(n))}
    input_index = np.full(n, -1, dtype=np.int64)
    encoded: list[int] = []
    categories: list[dict] = []
    input_cols = [c for c in X for _ in range(c.n_features)]
    for name, trans, _cols in ct.transformers_:
        idx = [int(i) for i in ct._transformer_to_input_indices.get(name, [])]
        out = ct.output_indices_.get(name, slice(0, 0))
        outs = list(range(n))[out]
        if trans == "drop" or not idx:
            continue
        require(len(outs) == len(idx), f"_preprocessor step {name!r} changes the number of columns", path)
        input_index[outs] = idx
        if isinstance(trans, FunctionTransformer):
            continue
        require(
            isinstance(trans, OrdinalEncoder)
            and trans.handle_unknown == "use_encoded_value"
            and np.isnan(trans.unknown_value)
            and np.isnan(trans.encoded_missing_value),
            f"_preprocessor step {name!r} is not the OrdinalEncoder scikit-learn makes", path,
        )
        for j, i, cats in zip(outs, idx, trans.categories_):
            cats = list(cats)
            # OrdinalEncoder sorts None and then NaN after the strings. NaN encodes to NaN
            # (`encoded_missing_value`), as an unknown value does, which the op does for any
            # unlisted value; None is an ordinary category with its own code, which the op
            # cannot give a null: a null here must stand for NaN (SPEC.md, "Missing strings").
            col = input_cols[i]
            has_none = any(c is None for c in cats)
            has_nan = any(isinstance(c, float) and np.isnan(c) for c in cats)
            nulls = ctx.nulls
            assert nulls is not None
            if col.dtype == "utf8" and has_none:
                nulls.differs(col, f"{path} (categorical feature)", f"is category #{cats.index(None)}",
                              "is missing")
                nulls.saw(col, "none", f"{path} (categorical feature)")
                if nulls.meaning(col) == "none":
                    raise UnsupportedError(
                        f"categorical feature `{col.name}` learned None as a category of its own, which keel "
                        "cannot give a missing value", path,
                        f"fit on NaN for missing values, or export with missing_strings={{{col.name!r}: 'nan'}} "
                        "if a missing value at scoring time is NaN",
                    )
            if col.dtype == "utf8" and has_nan:
                nulls.saw(col, "nan", f"{path} (categorical feature)")
            while cats and (cats[-1] is None or (isinstance(cats[-1], float) and np.isnan(cats[-1]))):
                cats = cats[:-1]
            encoded.append(j)
            if all(isinstance(c, str) for c in cats) and cats:
                categories.append(ctx.b.a_strs(cats))
            else:
                try:
                    nums = np.asarray(cats, dtype=np.float64)
                except (TypeError, ValueError):
                    raise UnsupportedError(
                        f"categorical feature {i} mixes category types: {cats[:5]!r}", path
                    ) from None
                require(
                    not any(isinstance(c, str) for c in cats) and bool(np.all(np.diff(nums) > 0)),
                    f"categorical feature {i} has categories {cats[:5]!r}...", path,
                )
                if input_cols[i].dtype == "utf8":
                    raise UnsupportedError(f"categorical feature {i} holds strings but has numeric categories", path)
                # A tensor so that every category reads back bit for bit (it is matched exactly).
                categories.append(ctx.b.a_tensor(f"{node}/categories/{j}", nums))
    require(bool(np.all(input_index >= 0)), "_preprocessor does not cover every feature", path)
    return {
        "input_index": ctx.b.a_i64s(f"{node}/input_index", input_index),
        "encoded": ctx.b.a_i64s(f"{node}/encoded", encoded),
        "categories": ctx.b.a_list(categories),
    }


@converter(HistGradientBoostingClassifier, HistGradientBoostingRegressor)
def _hist_gradient_boosting(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    n = est.n_features_in_
    require(width(X) == n, f"receives {width(X)} features, fitted on {n}", path)
    classifier = isinstance(est, HistGradientBoostingClassifier)
    link = _hgb_link(est, path)
    k = est.n_trees_per_iteration_
    node = ctx.b.unique(type(est).__name__.lower())
    attrs = _hgb_preprocessing(ctx, est, node, X, path)
    if est._preprocessor is None:
        numeric(X, path)

    sizes, targets, bitsets, nodes = [], [], [], []
    n_bitsets = 0
    for iteration in est._predictors:
        require(len(iteration) == k, f"an iteration has {len(iteration)} trees, expected {k}", path)
        for j, pred in enumerate(iteration):
            nd = pred.nodes
            sizes.append(len(nd))
            targets.append(j)
            raw = np.asarray(pred.raw_left_cat_bitsets, dtype=np.int64).reshape(-1, 8)
            bidx = nd["bitset_idx"].astype(np.int64)
            # Every tree numbers its own bitsets from 0; the op holds them all in one array.
            bidx = np.where(nd["is_categorical"] == 1, bidx + n_bitsets, 0)
            n_bitsets += raw.shape[0]
            bitsets.append(raw)
            nodes.append((nd, bidx))
    cat = np.concatenate
    b = ctx.b
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    attrs.update(
        n_features=b.a_i64(n),
        n_targets=b.a_i64(k),
        tree_nodes=b.a_i64s(f"{node}/tree_nodes", sizes),
        tree_target=b.a_i64s(f"{node}/tree_target", targets),
        feature=b.a_tensor(f"{node}/feature", cat([nd["feature_idx"] for nd, _ in nodes]).astype(np.int32)),
        threshold=b.a_tensor(f"{node}/threshold", cat([nd["num_threshold"] for nd, _ in nodes]).astype(np.float64)),
        left=b.a_tensor(f"{node}/left", cat([nd["left"] for nd, _ in nodes]).astype(np.int32)),
        right=b.a_tensor(f"{node}/right", cat([nd["right"] for nd, _ in nodes]).astype(np.int32)),
        is_leaf=b.a_tensor(f"{node}/is_leaf", cat([nd["is_leaf"] for nd, _ in nodes]).astype(bool)),
        missing_go_to_left=b.a_tensor(
            f"{node}/missing_go_to_left", cat([nd["missing_go_to_left"] for nd, _ in nodes]).astype(bool)
        ),
        is_categorical=b.a_tensor(
            f"{node}/is_categorical", cat([nd["is_categorical"] for nd, _ in nodes]).astype(bool)
        ),
        bitset_idx=b.a_tensor(f"{node}/bitset_idx", cat([bi for _, bi in nodes]).astype(np.int32)),
        value=b.a_tensor(f"{node}/value", cat([nd["value"] for nd, _ in nodes]).astype(np.float64)),
        raw_left_cat_bitsets=b.a_i64s(f"{node}/raw_left_cat_bitsets", cat(bitsets).reshape(-1)),
        known_cat_bitsets=b.a_i64s(f"{node}/known_cat_bitsets", np.asarray(known, dtype=np.int64).reshape(-1)),
        f_idx_map=b.a_i64s(f"{node}/f_idx_map", np.asarray(f_idx_map, dtype=np.int64)),
        # A tensor, not inline JSON: the baseline must reach the runtime to the last bit.
        baseline=b.a_tensor(f"{node}/baseline", np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)),
        link=b.a_str(link),
    )
    if classifier:
        attrs["task"] = b.a_str("classification")
        ports, cols, class_attrs = classifier_outputs(ctx, est, probability=True)
        attrs.update(class_attrs)
    else:
        attrs["task"] = b.a_str("regression")
        ports, cols = _regression_out(ctx, 1)
    ctx.b.stage("sklearn.hist_gradient_boosting", node, {"X": X}, ports, attrs, doc=_doc(path, est))
    return cols
