"""Converters for scikit-learn's linear models, all mapped onto the ``sklearn.linear`` op
(``decision = X @ coef.T + intercept``, then a task-specific reading of the decision)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.svm import LinearSVC, LinearSVR

from keel._bundle import Col
from keel.sklearn._core import Ctx, classifier_outputs, converter, numeric, require


def _coef(ctx: Ctx, node: str, est, n: int) -> dict:
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    if intercept.size == 1 and coef.shape[0] > 1:
        intercept = np.repeat(intercept, coef.shape[0])
    require(coef.shape[1] == n, f"coef_ has {coef.shape[1]} columns for {n} input features", node)
    return {
        "coef": ctx.b.a_tensor(f"{node}/coef", coef),
        "intercept": ctx.b.a_f64s(f"{node}/intercept", intercept),
    }


@converter(LinearRegression, Ridge, Lasso, ElasticNet, LinearSVR)
def _regressor(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    node = ctx.b.unique(type(est).__name__.lower())
    attrs = _coef(ctx, node, est, len(names))
    attrs["task"] = ctx.b.a_str("regression")
    k = np.atleast_2d(est.coef_).shape[0] if np.ndim(est.coef_) == 2 else 1
    out = ctx.out_name("prediction")
    ctx.b.stage("sklearn.linear", node, {"X": X}, {"prediction": [out]}, attrs, doc=f"{path} ({type(est).__name__})")
    if k == 1:
        return [Col(out, "f64", None, [out])]
    return [Col(out, "f64", k, [f"prediction[{i}]" for i in range(k)])]


@converter(LogisticRegression, LinearSVC)
def _classifier(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    node = ctx.b.unique(type(est).__name__.lower())
    attrs = _coef(ctx, node, est, len(names))
    attrs["task"] = ctx.b.a_str("classification")
    n_classes = len(est.classes_)
    has_proba = isinstance(est, LogisticRegression)
    if has_proba:
        attrs["link"] = ctx.b.a_str("logistic" if n_classes == 2 else "softmax")
    else:
        attrs["link"] = ctx.b.a_str("none")
    k = 1 if n_classes == 2 else n_classes
    ports, cols, class_attrs = classifier_outputs(
        ctx, est, probability=has_proba, decision_width=None if has_proba else k
    )
    attrs.update(class_attrs)
    ctx.b.stage("sklearn.linear", node, {"X": X}, ports, attrs, doc=f"{path} ({type(est).__name__})")
    return cols
