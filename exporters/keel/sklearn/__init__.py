"""Export fitted scikit-learn estimators and pipelines to keel bundles.

    import keel.sklearn
    keel.sklearn.export(fitted_pipeline, "model.keel", sample=X_train.head(100), name="price")

The typed input schema is inferred from ``sample`` (a pandas DataFrame or a numpy array).
Anything the exporter cannot express exactly (an estimator, a parameter value, a custom
function) raises :class:`keel.UnsupportedError` naming it, before anything is written.
A string column whose missing values the pipeline treats differently as ``None`` and ``NaN``
needs to be settled (from the sample, the fitted state, or ``missing_strings={"col": "none"}``),
see :func:`export`.
"""

from keel.sklearn._core import export, supported_estimators

# Importing the families registers their converters.
from keel.sklearn import _containers, _preprocessing, _linear, _trees, _neural, _cluster  # noqa: F401,E402

__all__ = ["export", "supported_estimators"]
