"""Converters for Spark ML's text stages: Tokenizer, RegexTokenizer, StopWordsRemover, NGram,
HashingTF, CountVectorizerModel, IDFModel, FeatureHasher and Word2VecModel, each to its
``spark.*`` op (see runtime/docs/ops.md).

Tokens travel between stages as list-of-string columns (``dtype`` ``list<utf8>``, Spark's
``array<string>``), which a bundle also declares as inputs (a pre-tokenized column) and outputs
(the tokens a Tokenizer, StopWordsRemover or NGram returns).

HashingTF, CountVectorizerModel and FeatureHasher write *sparse* vectors (:class:`SparseCol`):
Spark's default ``numFeatures`` is 2^18, far too wide to densify. IDFModel, VectorAssembler
(whose output is then sparse) and the linear and naive Bayes models read them as they are; any other stage reading one wider than
``DENSIFY_LIMIT`` is refused (``keel.spark._core``), as is a sparse output that wide.

What is refused because the runtime would not reproduce it exactly: a ``RegexTokenizer``
pattern outside the subset of ``java.util.regex`` that the runtime translates (see
:func:`check_java_pattern`), a Turkish, Azerbaijani or Lithuanian locale where Spark
lowercases (``StopWordsRemover`` with ``caseSensitive=False``, the JVM's default locale for
``Tokenizer``/``RegexTokenizer``), and ``FeatureHasher`` categorical columns of floating-point
type (Java's ``Double.toString`` spelling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyspark.ml.classification import LinearSVCModel, LogisticRegressionModel, NaiveBayesModel
from pyspark.ml.feature import (
    CountVectorizerModel,
    FeatureHasher,
    HashingTF,
    IDFModel,
    NGram,
    RegexTokenizer,
    StopWordsRemover,
    Tokenizer,
    VectorAssembler,
    Word2VecModel,
)
from pyspark.ml.regression import LinearRegressionModel

from keel._bundle import Col
from keel.spark import _feature  # noqa: F401  (registers the dense VectorAssembler wrapped below)
from keel.spark._core import (
    _CONVERTERS,
    SPARSE_READERS,
    Ctx,
    converter,
    handle_invalid,
    in_out_cols,
    matrix_attr,
    param,
    require,
    stage_doc,
)

TOKENS = "list<utf8>"

SPARSE_READERS.update(
    {IDFModel, LogisticRegressionModel, LinearRegressionModel, LinearSVCModel, NaiveBayesModel, VectorAssembler}
)


class _Names(Sequence):
    """Feature names ``col[j]`` of a wide vector, made on demand (2^18 of them would otherwise
    be built for every hashed column)."""

    def __init__(self, col: str, n: int) -> None:
        self._col, self._n = col, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, j):  # type: ignore[override]
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(self._n))]
        if not -self._n <= j < self._n:
            raise IndexError(j)
        return f"{self._col}[{j % self._n}]"


class SparseCol(Col):
    """A sparse vector column (the runtime's ``Value::Sparse``)."""

    sparse = True


def _sparse(name: str, width: int) -> Col:
    return SparseCol(name, "f64", width, _Names(name, width))  # type: ignore[arg-type]


def _tokens(name: str) -> Col:
    return Col(name, TOKENS, None, [name])


def _io(stage, available):
    return [param(stage, "inputCol")], [param(stage, "outputCol")]


def _string_input(ctx: Ctx, stage, path: str) -> Col:
    c = ctx.get(param(stage, "inputCol"), path)
    require(c.dtype == "utf8" and c.width is None, f"input column `{c.name}` must be a string column, found {c.dtype}", path)
    return c


def _token_input(ctx: Ctx, name: str, path: str) -> Col:
    c = ctx.get(name, path)
    require(
        c.dtype == TOKENS,
        f"input column `{c.name}` must be an array<string> column, found {c.dtype}",
        path,
    )
    return c


_SPECIAL_LOWERCASE = ("tr", "az", "lt")


def _check_locale(locale: str, what: str, path: str) -> None:
    lang = locale.replace("-", "_").split("_")[0].lower()
    require(
        lang not in _SPECIAL_LOWERCASE,
        f"{what} locale `{locale}` has special lowercase rules keel does not reproduce",
        path,
    )


def _check_jvm_locale(path: str) -> None:
    """Tokenizer and RegexTokenizer lowercase with the JVM's default locale."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:  # pragma: no cover - a fitted model implies a context
        return
    loc = sc._jvm.java.util.Locale.getDefault()
    _check_locale(str(loc.toString()), "the JVM's default", path)


# -- Tokenizer, RegexTokenizer ---------------------------------------------------------------


@converter(Tokenizer, io=_io)
def _tokenizer(ctx: Ctx, stage, path: str) -> None:
    X = _string_input(ctx, stage, path)
    _check_jvm_locale(path)
    out = param(stage, "outputCol")
    ctx.b.stage("spark.tokenizer", ctx.node(stage), {"X": [X]}, {"Y": [out]}, doc=stage_doc(stage, path))
    ctx.put(_tokens(out))


_PERL = set("sSdDwW")


def check_java_pattern(p: str) -> str | None:
    """Why the runtime would refuse ``java.util.regex`` pattern ``p`` (``None`` if it takes
    it): the same grammar as ``spark_text::java_regex`` in the runtime."""
    i, n = 0, len(p)
    quantifiable = after_q = False

    def escape(k: int) -> tuple[int, str | None]:
        """Reads the escape at p[k] (after the backslash); returns (next index, error)."""
        if k >= n:
            return k, "a trailing `\\`"
        e = p[k]
        if e in _PERL or e in "tnrf" or (e.isascii() and not e.isalnum() and e.isprintable() and e != " "):
            return k + 1, None
        for lead, width in (("x", 2), ("u", 4)):
            if e == lead:
                h = p[k + 1 : k + 1 + width]
                if len(h) == width and all(c in "0123456789abcdefABCDEF" for c in h):
                    return k + 1 + width, None
                return k, f"a malformed `\\{lead}` escape"
        return k, f"the escape `\\{e}` is not supported"

    while i < n:
        c = p[i]
        q = False
        if c == "\\":
            i, err = escape(i + 1)
            if err:
                return err
            quantifiable = True
            after_q = False
            continue
        if c == "(":
            if p[i + 1 : i + 2] == "?":
                if p[i + 2 : i + 3] != ":":
                    return "only `(?:` groups are supported (no flags, lookaround or named groups)"
                i += 2
            quantifiable = False
        elif c in ")":
            quantifiable = True
        elif c == "|":
            quantifiable = False
        elif c == "^":
            if i != 0:
                return "`^` is supported only at the start of the pattern"
            quantifiable = False
        elif c == "$":
            return "`$` is not supported (Java's also matches before a final line terminator)"
        elif c in "*+?{":
            if after_q and c == "?":
                i += 1
                after_q = False
                quantifiable = False
                continue
            if after_q and c == "+":
                return "possessive quantifiers are not supported"
            if not quantifiable:
                return f"a dangling quantifier `{c}`"
            if c == "{":
                j = p.find("}", i)
                body = p[i + 1 : j] if j > 0 else None
                if body is None or not body or any(ch not in "0123456789," for ch in body) or body.count(",") > 1 or body.startswith(","):
                    return "a malformed `{n,m}` quantifier"
                i = j
            q = True
            quantifiable = False
        elif c == "[":
            i += 1
            if p[i : i + 1] == "^":
                i += 1
            first = True
            while True:
                if i >= n:
                    return "an unclosed `[`"
                d = p[i]
                if d == "]" and not first:
                    break
                if d == "]":
                    return "a `]` first in a class is not supported"
                if d == "[":
                    return "nested classes are not supported"
                if d == "&" and p[i + 1 : i + 2] == "&":
                    return "class intersections (`&&`) are not supported"
                if d == "\\":
                    if p[i + 1 : i + 2] in ("S", "D", "W"):
                        return f"`\\{p[i + 1]}` inside a class is not supported"
                    i, err = escape(i + 1)
                    if err:
                        return err
                    first = False
                    continue
                first = False
                i += 1
            quantifiable = True
        else:
            quantifiable = True
        after_q = q
        i += 1
    import re

    try:
        # re.ASCII gives Python's \s \d \w Java's ASCII meanings; the grammar above keeps the
        # pattern to syntax both engines read alike. Used only to ask about the empty match.
        if re.fullmatch(p, "", flags=re.ASCII):
            return "the pattern can match the empty string"
    except re.error as e:
        return f"the pattern does not compile: {e}"
    return None


@converter(RegexTokenizer, io=_io)
def _regex_tokenizer(ctx: Ctx, stage, path: str) -> None:
    X = _string_input(ctx, stage, path)
    pattern = param(stage, "pattern")
    why = check_java_pattern(pattern)
    require(why is None, f"RegexTokenizer pattern {pattern!r}: {why}", path)
    lower = bool(param(stage, "toLowercase"))
    if lower:
        _check_jvm_locale(path)
    out = param(stage, "outputCol")
    attrs = {
        "pattern": ctx.b.a_str(pattern),
        "gaps": ctx.b.a_bool(param(stage, "gaps")),
        "min_token_length": ctx.b.a_i64(param(stage, "minTokenLength")),
        "to_lowercase": ctx.b.a_bool(lower),
    }
    ctx.b.stage("spark.regex_tokenizer", ctx.node(stage), {"X": [X]}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    ctx.put(_tokens(out))


# -- StopWordsRemover, NGram -----------------------------------------------------------------


@converter(StopWordsRemover, io=lambda s, a: in_out_cols(s))
def _stop_words(ctx: Ctx, stage, path: str) -> None:
    ins, outs = in_out_cols(stage)
    require(len(ins) == len(outs), "inputCols and outputCols differ in length", path)
    X = [_token_input(ctx, c, path) for c in ins]
    case_sensitive = bool(param(stage, "caseSensitive"))
    locale = str(param(stage, "locale"))
    if not case_sensitive:
        _check_locale(locale, "StopWordsRemover", path)
    attrs = {
        "stop_words": ctx.b.a_strs(param(stage, "stopWords")),
        "case_sensitive": ctx.b.a_bool(case_sensitive),
        "locale": ctx.b.a_str(locale),
    }
    ctx.b.stage("spark.stop_words_remover", ctx.node(stage), {"X": X}, {"Y": outs}, attrs, doc=stage_doc(stage, path))
    for o in outs:
        ctx.put(_tokens(o))


@converter(NGram, io=_io)
def _ngram(ctx: Ctx, stage, path: str) -> None:
    X = _token_input(ctx, param(stage, "inputCol"), path)
    out = param(stage, "outputCol")
    attrs = {"n": ctx.b.a_i64(param(stage, "n"))}
    ctx.b.stage("spark.ngram", ctx.node(stage), {"X": [X]}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    ctx.put(_tokens(out))


# -- HashingTF, CountVectorizerModel, IDFModel, FeatureHasher ------------------------------------


@converter(HashingTF, io=_io)
def _hashing_tf(ctx: Ctx, stage, path: str) -> None:
    X = _token_input(ctx, param(stage, "inputCol"), path)
    n = int(param(stage, "numFeatures"))
    out = param(stage, "outputCol")
    attrs = {"num_features": ctx.b.a_i64(n), "binary": ctx.b.a_bool(param(stage, "binary"))}
    ctx.b.stage("spark.hashing_tf", ctx.node(stage), {"X": [X]}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    ctx.put(_sparse(out, n))


@converter(CountVectorizerModel, io=_io)
def _count_vectorizer(ctx: Ctx, stage, path: str) -> None:
    X = _token_input(ctx, param(stage, "inputCol"), path)
    vocab = list(stage.vocabulary)
    require(len(set(vocab)) == len(vocab), "the vocabulary repeats a term", path)
    require(bool(vocab), "the vocabulary is empty", path)
    out = param(stage, "outputCol")
    attrs = {
        "vocabulary": ctx.b.a_strs(vocab),
        "min_tf": ctx.b.a_f64(param(stage, "minTF")),
        "binary": ctx.b.a_bool(param(stage, "binary")),
    }
    ctx.b.stage("spark.count_vectorizer", ctx.node(stage), {"X": [X]}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    ctx.put(_sparse(out, len(vocab)))


@converter(IDFModel, io=_io)
def _idf(ctx: Ctx, stage, path: str) -> None:
    X = ctx.get(param(stage, "inputCol"), path)
    require(X.width is not None, f"input column `{X.name}` must be a vector, found {X.dtype}", path)
    idf = np.asarray(stage.idf.toArray(), dtype=np.float64)
    require(idf.size == X.width, f"the model was fitted on {idf.size} features, column `{X.name}` has {X.width}", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    attrs = {"idf": matrix_attr(ctx, f"{node}/idf", idf[None, :])}
    ctx.b.stage("spark.idf", node, {"X": [X]}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    if getattr(X, "sparse", False):
        ctx.put(_sparse(out, X.width))
    else:
        ctx.put(Col(out, "f64", X.width, [f"{out}[{j}]" for j in range(X.width)]))


@converter(FeatureHasher, io=lambda s, a: (list(param(s, "inputCols")), [param(s, "outputCol")]))
def _feature_hasher(ctx: Ctx, stage, path: str) -> None:
    names = list(param(stage, "inputCols"))
    cats = set(param(stage, "categoricalCols") or [])
    X = [ctx.get(c, path) for c in names]
    categorical = []
    for c in X:
        require(c.width is None and c.dtype != TOKENS, f"FeatureHasher input `{c.name}` must be a scalar column", path)
        numeric = c.dtype in ("f64", "f32", "i64", "i32")
        cat = (not numeric) or c.name in cats
        require(
            not (cat and c.dtype in ("f64", "f32")),
            f"FeatureHasher categorical column `{c.name}` is floating-point",
            path,
            "Java's Double.toString spelling of the value is not reproduced; cast it to string or integer first",
        )
        categorical.append(1 if cat else 0)
    n = int(param(stage, "numFeatures"))
    out = param(stage, "outputCol")
    attrs = {
        "num_features": ctx.b.a_i64(n),
        "names": ctx.b.a_strs(names),
        "categorical": {"i64s": categorical},
    }
    ctx.b.stage("spark.feature_hasher", ctx.node(stage), {"X": X}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    ctx.put(_sparse(out, n))


# -- Word2VecModel ---------------------------------------------------------------------------


@converter(Word2VecModel, io=_io)
def _word2vec(ctx: Ctx, stage, path: str) -> None:
    X = _token_input(ctx, param(stage, "inputCol"), path)
    rows = stage.getVectors().collect()
    words = [r[0] for r in rows]
    require(len(set(words)) == len(words), "the vocabulary repeats a word", path)
    size = int(param(stage, "vectorSize"))
    vecs = np.asarray([r[1].toArray() for r in rows], dtype=np.float64).reshape(len(rows), size)
    # The model keeps floats; getVectors widens them, so narrowing back is exact.
    f32 = vecs.astype(np.float32)
    require(bool(np.all(f32.astype(np.float64) == vecs)), "word vectors are not float32 values", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    attrs = {"vocabulary": ctx.b.a_strs(words), "vectors": ctx.b.a_tensor(f"{node}/vectors", f32)}
    ctx.b.stage("spark.word2vec", node, {"X": [X]}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    ctx.put(Col(out, "f64", size, [f"{out}[{j}]" for j in range(size)]))


# -- VectorAssembler over sparse blocks ------------------------------------------------------

_DENSE_ASSEMBLER = _CONVERTERS[VectorAssembler]


@converter(VectorAssembler, io=_DENSE_ASSEMBLER.io)
def _vector_assembler(ctx: Ctx, stage, path: str) -> None:
    """As ``keel.spark._feature``'s converter; when an input is sparse the runtime op writes a
    sparse block, declared here without materialising its feature names."""
    X = [ctx.get(c, path) for c in param(stage, "inputCols")]
    if not any(getattr(c, "sparse", False) for c in X):
        _DENSE_ASSEMBLER.convert(ctx, stage, path)
        return
    mode = handle_invalid(stage, path)
    for c in X:
        require(c.is_numeric, f"column `{c.name}` holds {c.dtype}; VectorAssembler takes numbers", path)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.vector_assembler", ctx.node(stage), {"X": X}, {"Y": [out]},
        {"handle_invalid": ctx.b.a_str(mode)}, doc=stage_doc(stage, path),
    )
    ctx.put(_sparse(out, sum(c.n_features for c in X)))
