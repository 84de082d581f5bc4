"""Pipeline, ColumnTransformer and FeatureUnion: expressed as nested ``pipeline`` nodes, with a
``concat`` stage where scikit-learn stacks outputs side by side (SPEC.md section 3.1)."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from keel._bundle import Col
from keel.errors import UnsupportedError
from keel.sklearn._core import Ctx, converter, numeric, require, vector_out


@converter(Pipeline)
def _pipeline(ctx: Ctx, est: Pipeline, X: list[Col], path: str) -> list[Col]:
    outer = ctx.as_transformer
    last = len(est.steps) - 1
    with ctx.b.pipeline("pipeline", doc=f"{path} (Pipeline)"):
        for i, (step_name, step) in enumerate(est.steps):
            ctx.as_transformer = outer or i < last
            try:
                X = ctx.convert(step, X, f"{path}.{step_name}")
            finally:
                ctx.as_transformer = outer
    return X


def select(ctx: Ctx, X: list[Col], indices: list[int], path: str) -> list[Col]:
    """The columns at feature positions ``indices`` of ``X``.

    When ``X`` is the raw input (scalar columns) this is a plain pick of columns; when it is a
    feature block, a ``select`` stage slices it.
    """
    if all(c.width is None for c in X):
        return [X[i] for i in indices]
    names = numeric(X, path)
    node, col = ctx.b.node("select")
    ctx.b.stage("select", node, {"X": X}, {"Y": [col]}, {"indices": ctx.b.a_i64s(f"{node}/indices", indices)})
    return [Col(col, "f64", len(indices), [names[i] for i in indices])]


def _as_transformer(ctx: Ctx, trans, X: list[Col], path: str) -> list[Col]:
    """Converts a branch of a ColumnTransformer/FeatureUnion, whose output is always stacked
    (scikit-learn calls `transform` on it)."""
    outer = ctx.as_transformer
    ctx.as_transformer = True
    try:
        return ctx.convert(trans, X, path)
    finally:
        ctx.as_transformer = outer


def _is_identity(trans) -> bool:
    """``'passthrough'``, or the identity FunctionTransformer scikit-learn substitutes for
    ``remainder='passthrough'`` in fitted ColumnTransformers."""
    if isinstance(trans, str):
        return trans == "passthrough"
    return isinstance(trans, FunctionTransformer) and trans.func is None and not trans.validate


@converter(ColumnTransformer)
def _column_transformer(ctx: Ctx, est: ColumnTransformer, X: list[Col], path: str) -> list[Col]:
    outs: list[Col] = []
    indices = est._transformer_to_input_indices
    with ctx.b.pipeline("column_transformer", doc=f"{path} (ColumnTransformer)"):
        for name, trans, _cols in est.transformers_:
            sub = f"{path}[{name}]"
            idx = [int(i) for i in indices.get(name, [])]
            if trans == "drop" or not idx:
                continue
            sel = select(ctx, X, idx, sub)
            if _is_identity(trans):
                numeric(sel, sub)
                outs.extend(sel)
                continue
            with ctx.b.pipeline(name, doc=f"{sub} ({type(trans).__name__})"):
                outs.extend(_as_transformer(ctx, trans, sel, sub))
        require(bool(outs), "the ColumnTransformer produces no columns", path)
        names = numeric(outs, path)
        node, col = ctx.b.node("concat")
        ctx.b.stage("concat", node, {"X": outs}, {"Y": [col]})
    return [Col(col, "f64", len(names), names)]


@converter(FeatureUnion)
def _feature_union(ctx: Ctx, est: FeatureUnion, X: list[Col], path: str) -> list[Col]:
    if est.transformer_weights:
        raise UnsupportedError("FeatureUnion with transformer_weights is not supported", path)
    outs: list[Col] = []
    with ctx.b.pipeline("feature_union", doc=f"{path} (FeatureUnion)"):
        for name, trans in est.transformer_list:
            if trans == "drop":
                continue
            sub = f"{path}[{name}]"
            if trans == "passthrough":
                outs.extend(X)
                continue
            with ctx.b.pipeline(name, doc=f"{sub} ({type(trans).__name__})"):
                outs.extend(_as_transformer(ctx, trans, X, sub))
        names = numeric(outs, path)
        node, col = ctx.b.node("concat")
        ctx.b.stage("concat", node, {"X": outs}, {"Y": [col]})
    return [Col(col, "f64", len(names), names)]
