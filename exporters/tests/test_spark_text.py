"""The Spark exporter's text stages, live against pyspark: what it refuses (named, with the
stage path, and nothing written), the Java-regex subset it accepts, and runtime answers on
the cases a fixture cannot hold (a null text, an output of 2^18 sparse features).

Parity of the accepted stages with Spark is checked by the ``text_*`` fixture cases
(test_spark_live.py and the conformance suite, fixtures/conformance).
"""

from __future__ import annotations

import json
import os
import sys
import zipfile

import pytest

pytest.importorskip("pyspark")

from conftest import ROOT  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "fixtures"))

from test_spark_live import _score, spark  # noqa: E402,F401  (the module's SparkSession fixture)

import keel  # noqa: E402
import keel.spark  # noqa: E402
from keel.spark._text import check_java_pattern  # noqa: E402


def _texts(spark):  # noqa: F811
    return spark.createDataFrame([("Great food!", 1.0), ("awful  service", 0.0), ("", 0.0)] * 4, "text string, label double")


def _refused(model, df, tmp_path, *needles: str) -> None:
    out = tmp_path / "m.keel"
    with pytest.raises(keel.UnsupportedError) as e:
        keel.spark.export(model, out, sample_df=df)
    msg = str(e.value)
    for n in needles:
        assert n in msg, msg
    assert not out.exists()


def _fit(stages, df):
    from pyspark.ml import Pipeline

    return Pipeline(stages=stages).fit(df)


def test_java_pattern_subset():
    for ok in [r"\s+", r"\W+", r"[\s,.!?:)]+", r"\w+|[^\w\s]+", r"(?:ab)+c", r"a{2,3}?", r"^x", r"[a-z']+"]:
        assert check_java_pattern(ok) is None, ok
    for bad, why in [
        (r"\bfoo", "escape"),
        (r"foo$", "`$`"),
        (r"(?i)foo", "(?:"),
        (r"(?=a)b", "(?:"),
        (r"a++", "possessive"),
        (r"\p{L}+", "escape"),
        (r"[a[b]]", "nested"),
        (r"[a-z&&[^e]]", "intersection"),
        (r"\w*", "empty string"),
        (r"a|^b", "`^`"),
    ]:
        err = check_java_pattern(bad)
        assert err is not None and why in err, (bad, err)


def test_unsupported_regex_pattern_is_refused(spark, tmp_path):  # noqa: F811
    from pyspark.ml.feature import RegexTokenizer

    df = _texts(spark)
    model = _fit([RegexTokenizer(inputCol="text", outputCol="w", pattern=r"\b"), _hashing()], df)
    _refused(model, df.drop("label"), tmp_path, "RegexTokenizer pattern", "stages[0]")


def _hashing(n: int = 1 << 18, col: str = "w"):
    from pyspark.ml.feature import HashingTF

    return HashingTF(inputCol=col, outputCol="tf", numFeatures=n)


def test_turkish_stop_words_locale_is_refused(spark, tmp_path):  # noqa: F811
    from pyspark.ml.feature import StopWordsRemover, Tokenizer

    df = _texts(spark)
    model = _fit(
        [
            Tokenizer(inputCol="text", outputCol="t"),
            StopWordsRemover(inputCol="t", outputCol="w", locale="tr"),
            _hashing(64),
        ],
        df,
    )
    _refused(model, df.drop("label"), tmp_path, "locale `tr`", "stages[1]")
    # Case-sensitive removal never lowercases, so the locale does not matter.
    ok = _fit(
        [
            Tokenizer(inputCol="text", outputCol="t"),
            StopWordsRemover(inputCol="t", outputCol="w", locale="tr", caseSensitive=True),
            _hashing(64),
        ],
        df,
    )
    keel.spark.export(ok, tmp_path / "ok.keel", sample_df=df.drop("label"))


def _engines(spark) -> list[str]:
    """KeelModel's engines to test: mapInArrow, and the JVM engine where keel-spark.jar is on
    the class path (conftest puts it there when built; CI builds it)."""
    from keel.spark_runtime import jvm_engine_available

    if jvm_engine_available(spark):
        return ["python", "jvm"]
    assert os.environ.get("CI") != "true", "CI builds keel-spark.jar: the JVM engine must be tested"
    return ["python"]


def test_token_lists_are_outputs_and_keel_model_returns_them_as_arrays(spark, tmp_path):  # noqa: F811
    """A Tokenizer's token list is a `list<utf8>` output, and KeelModel (mapInArrow) returns
    it as Spark's array<string>, equal to Spark's own column."""
    from pyspark.ml.feature import StopWordsRemover, Tokenizer
    from pyspark.sql import types as T

    from keel.spark_runtime import KeelModel

    df = _texts(spark).drop("label")
    model = _fit([Tokenizer(inputCol="text", outputCol="words"), StopWordsRemover(inputCol="words", outputCol="kept")], df)
    out = tmp_path / "m.keel"
    keel.spark.export(model, out, sample_df=df, outputs=["words", "kept"])
    m = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert [(f["name"], f["dtype"], f["shape"]) for f in m["outputs"]] == [("words", "list<utf8>", []), ("kept", "list<utf8>", [])]
    want = model.transform(df).select("words", "kept").collect()
    for engine in _engines(spark):
        scored = KeelModel(str(out), outputCols=["words", "kept"], engine=engine).transform(df)
        assert scored.schema["words"].dataType == T.ArrayType(T.StringType(), True)
        assert scored.schema["kept"].dataType == T.ArrayType(T.StringType(), True)
        got = scored.select("words", "kept").collect()
        assert [tuple(r) for r in got] == [tuple(r) for r in want], engine
    # The Python API returns the same lists.
    b = keel.load(out)
    res = b.transform({"text": [r["text"] for r in df.collect()]})
    assert res["words"] == [r["words"] for r in want]


def test_array_string_input_feeds_hashing_tf(spark, tmp_path):  # noqa: F811
    """A pre-tokenized array<string> column is a `list<utf8>` input; KeelModel reads it from
    Spark's Arrow batches and agrees with Spark, null tokens included."""
    from keel.spark_runtime import KeelModel

    df = spark.createDataFrame([(["a", "b", None],), ([],), (["c", "a"],)], "words array<string>")
    model = _fit([_hashing(16, "words")], df)
    out = tmp_path / "m.keel"
    keel.spark.export(model, out, sample_df=df)
    m = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert [(f["name"], f["dtype"], f["nullable"]) for f in m["inputs"]] == [("words", "list<utf8>", True)]
    want = [r["tf"].toArray().tolist() for r in model.transform(df).collect()]
    for engine in _engines(spark):
        got = [r["tf"].toArray().tolist() for r in KeelModel(str(out), engine=engine).transform(df).collect()]
        assert got == want, engine


def test_null_token_list_fails_in_spark_and_in_keel(spark, tmp_path, keel_bin):  # noqa: F811
    """Spark's text stages fail the task on a NULL array; keel refuses the row naming the
    column and row (the CLI, the Python API and KeelModel alike)."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    df = spark.createDataFrame([(["a"],), (["b"],)], "words array<string>")
    model = _fit([_hashing(16, "words")], df)
    nulls = spark.createDataFrame([(["a"],), (None,)], "words array<string>")
    with pytest.raises((PySparkException, Py4JJavaError)):
        model.transform(nulls).collect()
    bundle = tmp_path / "m.keel"
    keel.spark.export(model, bundle, sample_df=df)
    manifest = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))
    res, _ = _score(keel_bin, bundle, tmp_path, [{"words": ["a"]}, {"words": None}], manifest["inputs"])
    assert res.returncode != 0
    err = res.stderr.decode()
    assert "row 1" in err and "`words`" in err, err
    with pytest.raises(keel.InputError) as e:
        keel.load(bundle).transform({"words": [["a"], None]})
    assert e.value.row == 1 and e.value.column == "words", e.value


def test_non_string_array_input_is_refused(spark, tmp_path):  # noqa: F811
    # HashingTF hashes any array; a bundle's list columns hold strings only.
    df = spark.createDataFrame([([1, 2],), ([3],)], "ids array<int>")
    model = _fit([_hashing(16, "ids")], df)
    _refused(model, df, tmp_path, "input column `ids`", "array<int>")


def test_wide_sparse_output_and_dense_reader_are_refused(spark, tmp_path):  # noqa: F811
    from pyspark.ml.feature import StandardScaler, Tokenizer

    df = _texts(spark)
    model = _fit([Tokenizer(inputCol="text", outputCol="w"), _hashing()], df)
    _refused(model, df.drop("label"), tmp_path, "output `tf`", "262144")
    scaled = _fit([Tokenizer(inputCol="text", outputCol="w"), _hashing(), StandardScaler(inputCol="tf", outputCol="s")], df)
    _refused(scaled, df.drop("label"), tmp_path, "reads `tf`", "262144", "stages[2]")


def test_float_categorical_feature_hasher_is_refused(spark, tmp_path):  # noqa: F811
    from pyspark.ml.feature import FeatureHasher

    df = spark.createDataFrame([(1.5, "a"), (2.0, "b")], "x double, s string")
    model = _fit([FeatureHasher(inputCols=["x", "s"], categoricalCols=["x"], outputCol="h", numFeatures=8)], df)
    _refused(model, df, tmp_path, "categorical column `x`", "floating-point")


def test_null_text_fails_in_spark_and_in_keel(spark, tmp_path, keel_bin):  # noqa: F811
    """Spark calls Tokenizer's function on a NULL and the task fails; keel refuses the row by
    column and row number instead of inventing tokens."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException
    from pyspark.ml.feature import Tokenizer

    df = _texts(spark)
    model = _fit([Tokenizer(inputCol="text", outputCol="w"), _hashing(32)], df)
    nulls = spark.createDataFrame([("ok",), (None,)], "text string")
    with pytest.raises((PySparkException, Py4JJavaError)):
        model.transform(nulls).collect()
    bundle = tmp_path / "m.keel"
    keel.spark.export(model, bundle, sample_df=df.drop("label"))
    manifest = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))
    res, _ = _score(keel_bin, bundle, tmp_path, [{"text": "ok"}, {"text": None}], manifest["inputs"])
    assert res.returncode != 0
    err = res.stderr.decode()
    assert "row 1" in err and "`text`" in err, err
