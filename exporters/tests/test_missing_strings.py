"""Missing strings (SPEC.md 3.2): what a null at a string input stands for is settled at export
from the option, the sample and the fitted state; ambiguous columns are refused naming the
column and both behaviours; ``keel.load(...).transform`` refuses a pandas missing value of the
other kind; the runtime imputes, keeps or refuses a null as scikit-learn does for its kind."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

import keel
import keel.sklearn


def _frame(kind: str, n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """An object column `c` whose missing values are None, NaN, both, or absent (`no`)."""
    rng = np.random.default_rng(seed)
    c = rng.choice(["a", "b", "c"], n).astype(object)
    gaps = np.flatnonzero(rng.random(n) < 0.2)
    for k, i in enumerate(gaps):
        if kind == "none" or (kind == "both" and k % 2 == 0):
            c[i] = None
        elif kind in ("nan", "both"):
            c[i] = np.nan
    X = pd.DataFrame({"c": pd.Series(c, dtype=object), "x": rng.normal(size=n)})
    y = (X["x"].to_numpy() + 1.5 * X["c"].isna().to_numpy() + rng.normal(size=n) > 0.5).astype(int)
    return X, y


def _impute_onehot(X, y):
    ct = ColumnTransformer(
        [("c", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), ["c"]),
         ("x", "passthrough", ["x"])]
    )
    return make_pipeline(ct, LogisticRegression()).fit(X, y)


def _meanings(path) -> dict:
    m = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    return json.loads(m["metadata"]["keel.missing_strings"])


def _proba(b: keel.Bundle, X: pd.DataFrame) -> np.ndarray:
    return np.stack(b.transform(X)["probability"].to_numpy())


def _close(got: np.ndarray, want: np.ndarray) -> None:
    """Within the `probability` tolerance (fixtures/tolerances.json): a few ulps of the
    logistic function, where the wrong missing marker moves a row by ~1e-1."""
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["none", "nan"])
def test_the_sample_says_which_marker_and_keel_matches_scikit_learn(kind, tmp_path):
    X, y = _frame(kind)
    est = _impute_onehot(X, y)
    keel.sklearn.export(est, tmp_path / "m.keel", sample=X)
    assert _meanings(tmp_path / "m.keel") == {"c": kind}
    b = keel.load(tmp_path / "m.keel")
    assert b.missing_strings == {"c": kind}
    _close(_proba(b, X), est.predict_proba(X))


def test_both_markers_are_refused_naming_the_column_and_both_behaviours(tmp_path):
    X, y = _frame("both")
    est = _impute_onehot(X, y)
    with pytest.raises(keel.UnsupportedError) as info:
        keel.sklearn.export(est, tmp_path / "m.keel", sample=X)
    msg = str(info.value)
    assert "string column `c`" in msg, msg
    assert "SimpleImputer(missing_values=nan)): None passes on unimputed, NaN is imputed" in msg, msg
    assert "(OneHotEncoder): None is category #3, NaN is unknown" in msg, msg
    assert "both occur (the sample holds None, the sample holds NaN" in msg, msg
    assert "missing_strings={'c': 'none'} or missing_strings={'c': 'nan'}" in msg, msg
    assert not (tmp_path / "m.keel").exists()


@pytest.mark.parametrize("meaning", ["none", "nan"])
def test_the_option_settles_both_and_the_api_refuses_the_other_marker(meaning, tmp_path):
    X, y = _frame("both")
    est = _impute_onehot(X, y)
    keel.sklearn.export(est, tmp_path / "m.keel", sample=X, missing_strings={"c": meaning})
    b = keel.load(tmp_path / "m.keel")
    # Rows whose missing values are of the stated kind match scikit-learn exactly ...
    Xs = X.copy()
    Xs["c"] = pd.Series([(None if meaning == "none" else np.nan) if v is None or v != v else v for v in X["c"]],
                        dtype=object)
    _close(_proba(b, Xs), est.predict_proba(Xs))
    # ... and a missing value of the other kind is refused, not scored as the wrong one.
    with pytest.raises(keel.BadValueError) as info:
        b.transform(X)
    other = "NaN" if meaning == "none" else "None"
    assert info.value.column == "c" and f"given as {other}" in str(info.value), str(info.value)
    assert X["c"].iloc[info.value.row] is None if other == "None" else X["c"].iloc[info.value.row] != X["c"].iloc[info.value.row]


def test_no_marker_anywhere_is_refused_when_the_pipeline_tells_them_apart(tmp_path):
    X, y = _frame("no")
    est = _impute_onehot(X, y)
    with pytest.raises(keel.UnsupportedError) as info:
        keel.sklearn.export(est, tmp_path / "m.keel", sample=X)
    assert "neither the sample nor the fitted pipeline shows which one" in str(info.value)
    keel.sklearn.export(est, tmp_path / "m.keel", sample=X, missing_strings={"c": "nan"})
    assert _meanings(tmp_path / "m.keel") == {"c": "nan"}


def test_a_column_no_step_tells_apart_is_missing_and_takes_either(tmp_path):
    X, y = _frame("no")
    est = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["c"]), ("x", "passthrough", ["x"])]),
        LogisticRegression(),
    ).fit(X, y)
    keel.sklearn.export(est, tmp_path / "m.keel", sample=X)
    assert _meanings(tmp_path / "m.keel") == {"c": "missing"}
    b = keel.load(tmp_path / "m.keel")
    Xt = X.head(6).copy()
    Xt["c"] = pd.Series(["a", None, np.nan, "b", None, np.nan], dtype=object)
    _close(_proba(b, Xt), est.predict_proba(Xt))


def test_the_fitted_state_settles_a_sample_without_missing_values(tmp_path):
    # Trained with None (a OneHotEncoder category after the imputer), exported with clean rows.
    X, y = _frame("none")
    est = _impute_onehot(X, y)
    clean = X.dropna()
    keel.sklearn.export(est, tmp_path / "m.keel", sample=clean)
    assert _meanings(tmp_path / "m.keel") == {"c": "none"}


def test_ordinal_encoder_with_both_categories(tmp_path):
    X, _ = _frame("both")
    est = ColumnTransformer([("o", OrdinalEncoder(encoded_missing_value=-2), ["c"])]).fit(X)
    assert [type(v).__name__ for v in est.named_transformers_["o"].categories_[0][-2:]] == ["NoneType", "float"]
    for meaning, marker in (("none", None), ("nan", np.nan)):
        keel.sklearn.export(est, tmp_path / f"{meaning}.keel", sample=X, missing_strings={"c": meaning})
        Xt = pd.DataFrame({"c": pd.Series(["a", marker, "c"], dtype=object), "x": [0.0, 0.0, 0.0]})
        got = keel.load(tmp_path / f"{meaning}.keel").transform(Xt)["features"]
        np.testing.assert_array_equal(np.stack(got.to_numpy()), est.transform(Xt))


def test_imputer_for_none_refuses_a_nan_null_as_scikit_learn_does(tmp_path):
    X, _ = _frame("none")
    est = ColumnTransformer(
        [("c", make_pipeline(SimpleImputer(missing_values=None, strategy="most_frequent"),
                             OneHotEncoder(handle_unknown="ignore")), ["c"])]
    ).fit(X)
    keel.sklearn.export(est, tmp_path / "m.keel", sample=X, missing_strings={"c": "nan"})
    Xt = pd.DataFrame({"c": pd.Series(["a", np.nan], dtype=object), "x": [0.0, 0.0]})
    with pytest.raises(ValueError, match="Input contains NaN"):
        est.transform(Xt)
    with pytest.raises(keel.MissingValueError) as info:
        keel.load(tmp_path / "m.keel").transform(Xt)
    assert info.value.column == "c" and info.value.row == 1


def test_bad_options_are_refused(tmp_path):
    X, y = _frame("none")
    est = _impute_onehot(X, y)
    with pytest.raises(keel.UnsupportedError, match="`x`, which is not a string input column"):
        keel.sklearn.export(est, tmp_path / "m.keel", sample=X, missing_strings={"x": "nan"})
    with pytest.raises(keel.UnsupportedError, match="'none' or 'nan'"):
        keel.sklearn.export(est, tmp_path / "m.keel", sample=X, missing_strings={"c": "null"})
    cat = X.assign(c=X["c"].astype("category"))
    est2 = _impute_onehot(cat, y)
    with pytest.raises(keel.UnsupportedError, match="scikit-learn sees as NaN"):
        keel.sklearn.export(est2, tmp_path / "m.keel", sample=cat, missing_strings={"c": "none"})


def test_categorical_dtype_means_nan(tmp_path):
    X, y = _frame("none")
    cat = X.assign(c=X["c"].astype("category"))
    est = _impute_onehot(cat, y)
    keel.sklearn.export(est, tmp_path / "m.keel", sample=cat)
    assert _meanings(tmp_path / "m.keel") == {"c": "nan"}
    b = keel.load(tmp_path / "m.keel")
    _close(_proba(b, cat), est.predict_proba(cat))


def test_hist_gradient_boosting_categories_hold_nan_only(tmp_path):
    X, y = _frame("none")
    cat = X.assign(c=X["c"].astype("category"))
    est = HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype").fit(cat, y)
    keel.sklearn.export(est, tmp_path / "m.keel", sample=cat)
    assert _meanings(tmp_path / "m.keel") == {"c": "missing"}
    b = keel.load(tmp_path / "m.keel")
    _close(_proba(b, cat), est.predict_proba(cat))


def test_imputer_with_a_string_marker_imputes_it_and_passes_none_on(tmp_path):
    X, _ = _frame("none")
    X.loc[X.index[::9], "c"] = "?"
    est = ColumnTransformer(
        [("c", make_pipeline(SimpleImputer(missing_values="?", strategy="most_frequent", add_indicator=True),
                             OneHotEncoder(handle_unknown="ignore")), ["c"])]
    ).fit(X)
    keel.sklearn.export(est, tmp_path / "m.keel", sample=X)
    # None passes the imputer (a OneHotEncoder category), NaN would be refused: the sample says None.
    assert _meanings(tmp_path / "m.keel") == {"c": "none"}
    got = keel.load(tmp_path / "m.keel").transform(X)["features"]
    np.testing.assert_array_equal(np.stack(got.to_numpy()), est.transform(X))
