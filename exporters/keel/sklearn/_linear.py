"""Converters for scikit-learn's linear models, all expressed as the ``sklearn.linear`` op
(``decision = X @ coef.T + intercept``, then a task-specific reading of the decision).

Regressors write ``prediction`` (a scalar per row, or a vector when the model was fitted on a
2-D target, as their ``predict`` then returns 2-D). Classifiers write ``label`` and, depending on
what scikit-learn offers, ``probability`` (``predict_proba``) or ``decision``
(``decision_function``, one value per row for a binary model):

- LogisticRegression (and LogisticRegressionCV, which inherits its predict_proba): probabilities; binary through ``_predict_proba_lr`` (``link=logistic``),
  multiclass through ``softmax`` (scikit-learn 1.9 has no OvR LogisticRegression any more).
- SGDClassifier with ``loss='log_loss'``: ``_predict_proba_lr`` (``link=ovr``, which is the
  logistic link for two classes); with any other loss, the decision.
- LinearSVC, RidgeClassifier(CV), Perceptron: the decision.

The cross-validated regressors (RidgeCV, LassoCV, ElasticNetCV) predict with the refitted
``coef_``/``intercept_`` like their base models.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import (
    ElasticNet,
    ElasticNetCV,
    Lasso,
    LassoCV,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    Perceptron,
    Ridge,
    RidgeClassifier,
    RidgeClassifierCV,
    RidgeCV,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.svm import LinearSVC, LinearSVR

from keel._bundle import Col
from keel.sklearn._core import Ctx, classifier_outputs, converter, numeric, require


def _coef(ctx: Ctx, node: str, est, n: int, path: str) -> tuple[dict, int]:
    """The ``coef``/``intercept`` attributes and the number of decision rows ``k``."""
    coef = est.coef_
    if sp.issparse(coef):  # after `sparsify()`
        coef = coef.toarray()
    coef = np.asarray(coef)
    require(coef.dtype.kind == "f", f"coef_ has dtype {coef.dtype}, expected floats", path)
    coef = np.atleast_2d(coef.astype(np.float64))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    if intercept.size == 1 and coef.shape[0] > 1:
        intercept = np.repeat(intercept, coef.shape[0])
    require(coef.ndim == 2 and coef.shape[1] == n, f"coef_ has shape {coef.shape} for {n} input features", path)
    require(intercept.shape == (coef.shape[0],), f"intercept_ has shape {intercept.shape} for coef_ {coef.shape}", path)
    attrs = {
        "coef": ctx.b.a_tensor(f"{node}/coef", coef),
        "intercept": ctx.b.a_f64s(f"{node}/intercept", intercept),
    }
    return attrs, coef.shape[0]


@converter(LinearRegression, Ridge, RidgeCV, Lasso, LassoCV, ElasticNet, ElasticNetCV, LinearSVR, SGDRegressor)
def _regressor(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    node = ctx.b.unique(type(est).__name__.lower())
    attrs, k = _coef(ctx, node, est, len(names), path)
    attrs["task"] = ctx.b.a_str("regression")
    # `predict` is 2-D exactly when coef_ is (a model fitted on a 2-D target, even of one
    # column); LinearSVR and SGDRegressor only take 1-D targets.
    two_d = np.ndim(est.coef_) == 2
    if two_d:
        attrs["multi_output"] = ctx.b.a_bool(True)
    out = ctx.out_name("prediction")
    ctx.b.stage("sklearn.linear", node, {"X": X}, {"prediction": [out]}, attrs, doc=f"{path} ({type(est).__name__})")
    if not two_d:
        return [Col(out, "f64", None, [out])]
    return [Col(out, "f64", k, [f"prediction[{i}]" for i in range(k)])]


def _probability_link(est, n_classes: int) -> str | None:
    """The link giving scikit-learn's ``predict_proba``, or None when the model has none that
    this op expresses (its decision is exported instead)."""
    if isinstance(est, LogisticRegression):
        return "logistic" if n_classes == 2 else "softmax"
    if isinstance(est, SGDClassifier) and est.loss == "log_loss":
        return "ovr"
    return None


@converter(LogisticRegression, LogisticRegressionCV, LinearSVC, RidgeClassifier, RidgeClassifierCV, SGDClassifier, Perceptron)
def _classifier(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    lb = getattr(est, "_label_binarizer", None)
    if lb is not None:
        require(
            not str(lb.y_type_).startswith("multilabel"),
            f"{type(est).__name__} fitted on a multilabel target is not supported", path,
        )
    n_classes = len(est.classes_)
    require(n_classes >= 2, f"{type(est).__name__} fitted on {n_classes} class is not supported", path)
    node = ctx.b.unique(type(est).__name__.lower())
    attrs, k = _coef(ctx, node, est, len(names), path)
    require(
        k == (1 if n_classes == 2 else n_classes),
        f"{k} rows of coefficients for {n_classes} classes", path,
    )
    attrs["task"] = ctx.b.a_str("classification")
    link = _probability_link(est, n_classes)
    attrs["link"] = ctx.b.a_str(link or "none")
    ports, cols, class_attrs = classifier_outputs(
        ctx, est, probability=link is not None, decision_width=None if link else k
    )
    attrs.update(class_attrs)
    if link is None and k == 1:
        # A binary decision_function is 1-D: declare the decision a scalar column (the runtime
        # returns a width-1 feature block declared as a scalar as a plain f64 column).
        cols = [Col(c.name, "f64", None, [c.name]) if port == "decision" else c for (port, _), c in zip(ports, cols)]
    ctx.b.stage("sklearn.linear", node, {"X": X}, ports, attrs, doc=f"{path} ({type(est).__name__})")
    return cols
