"""Converters for scikit-learn's neural networks: ``MLPClassifier`` and ``MLPRegressor``, as
the ``sklearn.mlp`` op (dense layers from ``coefs_``/``intercepts_``, the hidden
``activation`` and the output ``out_activation_``, exactly as ``_forward_pass_fast``).

Refused: multilabel classifiers (their ``predict`` thresholds every output independently),
single-class classifiers, and networks whose weights are not float64 (fitted on float32 data,
where scikit-learn's arithmetic depends on the dtype given at predict time).
"""

from __future__ import annotations

import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor

from keel._bundle import Col
from keel.sklearn._core import Ctx, classifier_outputs, converter, numeric, require

_HIDDEN = ("identity", "logistic", "tanh", "relu")
_OUTPUT = ("identity", "logistic", "softmax")


def _layers(ctx: Ctx, node: str, est, n: int, path: str) -> dict:
    name = type(est).__name__
    require(est.activation in _HIDDEN, f"{name} activation={est.activation!r} is not supported", path)
    require(est.out_activation_ in _OUTPUT, f"{name} out_activation_={est.out_activation_!r} is not supported", path)
    coefs, intercepts = [], []
    width = n
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        w, b = np.asarray(w), np.asarray(b)
        require(
            w.dtype == np.float64 and b.dtype == np.float64,
            f"{name} layer {i} has {w.dtype} weights; only networks fitted on float64 data are supported",
            path,
            "fit on float64 input",
        )
        require(w.ndim == 2 and w.shape[0] == width, f"{name} layer {i} has shape {w.shape} for {width} inputs", path)
        require(b.shape == (w.shape[1],), f"{name} layer {i} has {b.shape} intercepts for {w.shape[1]} units", path)
        coefs.append(ctx.b.a_tensor(f"{node}/coefs/{i}", w))
        intercepts.append(ctx.b.a_f64s(f"{node}/intercepts/{i}", b))
        width = w.shape[1]
    return {
        "coefs": ctx.b.a_list(coefs),
        "intercepts": ctx.b.a_list(intercepts),
        "activation": ctx.b.a_str(est.activation),
        "out_activation": ctx.b.a_str(est.out_activation_),
    }


@converter(MLPRegressor)
def _mlp_regressor(ctx: Ctx, est: MLPRegressor, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    node = ctx.b.unique("mlpregressor")
    attrs = _layers(ctx, node, est, len(names), path)
    require(est.out_activation_ == "identity", f"MLPRegressor out_activation_={est.out_activation_!r}", path)
    attrs["task"] = ctx.b.a_str("regression")
    out = ctx.out_name("prediction")
    ctx.b.stage("sklearn.mlp", node, {"X": X}, {"prediction": [out]}, attrs, doc=f"{path} (MLPRegressor)")
    k = est.n_outputs_
    if k == 1:  # predict ravels an (n, 1) result
        return [Col(out, "f64", None, [out])]
    return [Col(out, "f64", k, [f"prediction[{i}]" for i in range(k)])]


@converter(MLPClassifier)
def _mlp_classifier(ctx: Ctx, est: MLPClassifier, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    y_type = est._label_binarizer.y_type_
    require(
        y_type in ("binary", "multiclass"),
        f"MLPClassifier fitted on a {y_type} target is not supported (only binary and multiclass)",
        path,
    )
    n_classes = len(est.classes_)
    require(n_classes >= 2, f"MLPClassifier fitted on {n_classes} class is not supported", path)
    expected = ("logistic", 1) if n_classes == 2 else ("softmax", n_classes)
    require(
        (est.out_activation_, est.n_outputs_) == expected,
        f"MLPClassifier with {n_classes} classes has out_activation_={est.out_activation_!r} "
        f"and {est.n_outputs_} outputs",
        path,
    )
    node = ctx.b.unique("mlpclassifier")
    attrs = _layers(ctx, node, est, len(names), path)
    attrs["task"] = ctx.b.a_str("classification")
    ports, cols, class_attrs = classifier_outputs(ctx, est, probability=True)
    attrs.update(class_attrs)
    ctx.b.stage("sklearn.mlp", node, {"X": X}, ports, attrs, doc=f"{path} (MLPClassifier)")
    return cols
