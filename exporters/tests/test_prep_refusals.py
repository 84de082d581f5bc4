"""The preprocessing converters refuse what they cannot express exactly, naming the function
or parameter and the step's path, before anything is written."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import keel
import keel.sklearn


def _frame(n: int = 40) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(1, 2, size=n), "c": rng.choice(["x", "y"], n)})
    y = (X["a"] > 0).astype(int).to_numpy()
    return X, y


def _refused(est, X, tmp_path) -> keel.UnsupportedError:
    target = tmp_path / "model.keel"
    with pytest.raises(keel.UnsupportedError) as info:
        keel.sklearn.export(est, target, sample=X)
    # Nothing written: no bundle, and no temporary file beside it.
    assert os.listdir(tmp_path) == []
    return info.value


def test_lambda_function_is_refused_naming_it(tmp_path):
    X, y = _frame()
    ct = ColumnTransformer([("f", FunctionTransformer(lambda z: z * 2), ["a", "b"])])
    est = make_pipeline(ct, LogisticRegression()).fit(X, y)
    err = _refused(est, X, tmp_path)
    assert "<lambda>" in str(err)
    assert "Pipeline.columntransformer[f]" in err.path


def test_unsupported_ufunc_is_refused_naming_it(tmp_path):
    X, y = _frame()
    est = make_pipeline(ColumnTransformer([("log", FunctionTransformer(np.log), ["b"])]), LogisticRegression())
    est.fit(X, y)
    err = _refused(est, X, tmp_path)
    assert "numpy.log" in str(err) and "np.log1p" in str(err)


def test_function_kw_args_are_refused(tmp_path):
    X, _ = _frame()
    est = ColumnTransformer([("p", FunctionTransformer(np.sqrt, kw_args={"where": True}), ["b"])]).fit(X)
    err = _refused(est, X, tmp_path)
    assert "kw_args" in str(err)


def test_unsupported_parameter_is_refused(tmp_path):
    X, y = _frame()
    imp = SimpleImputer(strategy=lambda col: 0.0)
    est = make_pipeline(ColumnTransformer([("i", imp, ["a"])]), LogisticRegression()).fit(X, y)
    err = _refused(est, X, tmp_path)
    assert "strategy" in str(err) and "callable" in str(err)


def test_none_and_nan_in_one_feature_are_refused_unless_the_option_says(tmp_path):
    X, y = _frame()
    X["c"] = X["c"].astype(object)
    X.loc[1, "c"] = None
    X.loc[2, "c"] = np.nan
    est = make_pipeline(ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["c"])]), LogisticRegression())
    est.fit(X, y)
    err = _refused(est, X, tmp_path)
    msg = str(err)
    assert "string column `c`" in msg and "treats None and NaN differently" in msg, msg
    assert "None is category #2, NaN is category #3" in msg and "both occur" in msg, msg
    assert "missing_strings={'c': 'none'}" in msg, msg
    keel.sklearn.export(est, tmp_path / "m.keel", sample=X, missing_strings={"c": "nan"})
