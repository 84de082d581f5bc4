//! The text stages (Tokenizer, RegexTokenizer, StopWordsRemover, NGram, HashingTF,
//! CountVectorizerModel, IDFModel, FeatureHasher, Word2VecModel), each to the op and
//! attributes that exporters/keel/spark/_text.py gives it, so a saved model and a live one give
//! equivalent bundles.
//!
//! Tokens travel between stages as token columns (`Col::tokens`); a token column that is a
//! pipeline input (`array<string>`) or an output is declared `list<utf8>`. HashingTF,
//! CountVectorizerModel and FeatureHasher write sparse blocks (`Col::sparse`), read as they
//! are by IDF, VectorAssembler and the linear and naive Bayes models.
//!
//! Refused as the exporter refuses them: a RegexTokenizer pattern outside the subset of
//! `java.util.regex` the runtime translates (the runtime's own translator decides, so the
//! grammar cannot drift), a Turkish, Azerbaijani or Lithuanian StopWordsRemover locale when
//! case-insensitive, FeatureHasher categorical columns of floating-point type (Java's
//! `Double.toString` spelling), a HashingTF saved by Spark before 3.0 (it hashed with the old
//! MLlib function), a repeated vocabulary term or word and word vectors that are not float32
//! values. Tokenizer and RegexTokenizer lowercase with the scoring JVM's default locale,
//! which a saved model does not record: it is assumed not to be one of those three (as the
//! runtime op documents).

use super::{describe, first};
use crate::spark_ml::Error;
use crate::spark_ml::columns::{Col, Ctx, Want};
use crate::spark_ml::data::{as_f64, as_list, field, strings, usize_of, vector};
use crate::spark_ml::read::V;
use crate::spark_ml::stage::Stage;
use keel_bundle::{Attr, DType, TensorDType};
use std::collections::BTreeMap;

/// Spark's default `numFeatures` for HashingTF and FeatureHasher.
const DEFAULT_NUM_FEATURES: i64 = 1 << 18;
/// Languages whose lowercase rules Java applies by locale and keel does not reproduce.
const SPECIAL_LOWERCASE: &[&str] = &["tr", "az", "lt"];

/// An integer param (Spark's `IntParam`), its default when absent.
fn int_param(st: &Stage, name: &str, default: i64) -> Result<i64, Error> {
    match st.param(name) {
        None | Some(serde_json::Value::Null) => Ok(default),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| st.malformed(format!("param `{name}` is {v}, not an integer"))),
    }
}

/// The one string column `name`, refusing anything else (a token column included).
fn string_input(ctx: &mut Ctx<'_>, st: &Stage, name: &str) -> Result<Col, Error> {
    let x = ctx.get(name, Want::Scalar(DType::Utf8), st)?;
    if x.dtype != DType::Utf8 || x.width.is_some() || x.tokens {
        return Err(st.unsupported(format!(
            "input column `{name}` must be a string column, found {}",
            describe(&x)
        )));
    }
    Ok(x)
}

/// The token column `name`: made by an earlier stage, or an `array<string>` pipeline input.
fn token_input(ctx: &mut Ctx<'_>, st: &Stage, name: &str) -> Result<Col, Error> {
    let x = ctx.tokens(name, st)?;
    if !x.tokens {
        return Err(st.unsupported(format!(
            "input column `{name}` must be an array<string>, found {}",
            describe(&x)
        )));
    }
    Ok(x)
}

/// Refuses a locale whose lowercasing Java does by special rules.
fn check_locale(st: &Stage, locale: &str) -> Result<(), Error> {
    let lang = locale
        .replace('-', "_")
        .split('_')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if SPECIAL_LOWERCASE.contains(&lang.as_str()) {
        return Err(st.unsupported(format!(
            "locale='{locale}': its special lowercase rules are not reproduced by keel"
        )));
    }
    Ok(())
}

/// Tokenizer: lowercase, split on whitespace.
pub(super) fn tokenizer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let attrs = BTreeMap::new();
    let y = vec![("Y", vec![out.to_string()])];
    let x = string_input(ctx, st, read)?;
    ctx.stage("spark.tokenizer", node, &[x], y, attrs, st);
    ctx.put(Col::tokens(out), false);
    Ok(())
}

/// RegexTokenizer, its pattern checked by the runtime's own `java.util.regex` translator.
pub(super) fn regex_tokenizer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let mut attrs = BTreeMap::new();
    let y = vec![("Y", vec![out.to_string()])];
    let x = string_input(ctx, st, read)?;
    let pattern = st.str_param("pattern")?.unwrap_or_else(|| "\\s+".into());
    // The runtime's translator is the judge of what it reproduces; asking it here
    // refuses the pattern at import rather than when the bundle is loaded.
    keel_runtime::java_regex(&pattern)
        .map_err(|why| st.unsupported(format!("pattern={pattern:?}: {why}")))?;
    let min = int_param(st, "minTokenLength", 1)?;
    if min < 0 {
        return Err(st.malformed(format!("minTokenLength={min} is negative")));
    }
    attrs.insert("pattern".into(), Attr::Str(pattern));
    attrs.insert(
        "gaps".into(),
        Attr::Bool(st.bool_param("gaps")?.unwrap_or(true)),
    );
    attrs.insert("min_token_length".into(), Attr::I64(min));
    attrs.insert(
        "to_lowercase".into(),
        Attr::Bool(st.bool_param("toLowercase")?.unwrap_or(true)),
    );
    ctx.stage("spark.regex_tokenizer", node, &[x], y, attrs, st);
    ctx.put(Col::tokens(out), false);
    Ok(())
}

/// StopWordsRemover over one or several token columns.
pub(super) fn stop_words_remover(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let mut attrs = BTreeMap::new();
    let x = reads
        .iter()
        .map(|c| token_input(ctx, st, c))
        .collect::<Result<Vec<_>, _>>()?;
    let words = st
        .strs_param("stopWords")?
        .ok_or_else(|| st.malformed("param `stopWords` is missing"))?;
    let case_sensitive = st.bool_param("caseSensitive")?.unwrap_or(false);
    // Spark's default is the JVM's locale when the stage was made, which Spark writes
    // into `defaultParamMap`; a document without it cannot be read exactly.
    let locale = st
        .str_param("locale")?
        .ok_or_else(|| st.malformed("param `locale` is missing"))?;
    if !case_sensitive {
        check_locale(st, &locale)?;
    }
    attrs.insert("stop_words".into(), Attr::Strs(words));
    attrs.insert("case_sensitive".into(), Attr::Bool(case_sensitive));
    attrs.insert("locale".into(), Attr::Str(locale));
    ctx.stage(
        "spark.stop_words_remover",
        node,
        &x,
        vec![("Y", writes.to_vec())],
        attrs,
        st,
    );
    for o in writes {
        ctx.put(Col::tokens(o), false);
    }
    Ok(())
}

/// NGram of `n` tokens.
pub(super) fn ngram(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let mut attrs = BTreeMap::new();
    let y = vec![("Y", vec![out.to_string()])];
    let x = token_input(ctx, st, read)?;
    let n = int_param(st, "n", 2)?;
    if n < 1 {
        return Err(st.malformed(format!("n={n} is below 1")));
    }
    attrs.insert("n".into(), Attr::I64(n));
    ctx.stage("spark.ngram", node, &[x], y, attrs, st);
    ctx.put(Col::tokens(out), false);
    Ok(())
}

/// HashingTF (Spark 3's hash): a sparse block of `numFeatures` terms.
pub(super) fn hashing_tf(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let mut attrs = BTreeMap::new();
    let y = vec![("Y", vec![out.to_string()])];
    let x = token_input(ctx, st, read)?;
    // Spark 3 changed the hash (HashingTF's reader picks the old MLlib murmur3 for a
    // model saved before 3.0); the runtime implements the new one only.
    let version = st
        .meta
        .get("sparkVersion")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let major: Option<u32> = version.split('.').next().and_then(|m| m.parse().ok());
    if major.is_none_or(|m| m < 3) {
        return Err(st.unsupported(format!(
            "sparkVersion='{version}': HashingTF saved before Spark 3.0 hashes terms with the old MLlib function, which keel does not reproduce"
        )));
    }
    let n = num_features(st)?;
    attrs.insert("num_features".into(), Attr::I64(n));
    attrs.insert(
        "binary".into(),
        Attr::Bool(st.bool_param("binary")?.unwrap_or(false)),
    );
    ctx.stage("spark.hashing_tf", node, &[x], y, attrs, st);
    ctx.put(Col::sparse(out, n as u64), false);
    Ok(())
}

/// CountVectorizerModel: a sparse block over the vocabulary.
pub(super) fn count_vectorizer(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let mut attrs = BTreeMap::new();
    let y = vec![("Y", vec![out.to_string()])];
    let x = token_input(ctx, st, read)?;
    let row = st.one_row()?;
    let vocab = strings(field(&row, "vocabulary", st)?, st)?;
    distinct(st, &vocab, "term")?;
    if vocab.is_empty() {
        return Err(st.unsupported("the vocabulary is empty"));
    }
    let min_tf = st.f64_param("minTF")?.unwrap_or(1.0);
    if min_tf.is_nan() || min_tf < 0.0 {
        return Err(st.malformed(format!("minTF={min_tf} is not a number >= 0")));
    }
    let width = vocab.len() as u64;
    attrs.insert("vocabulary".into(), Attr::Strs(vocab));
    attrs.insert("min_tf".into(), Attr::F64(min_tf));
    attrs.insert(
        "binary".into(),
        Attr::Bool(st.bool_param("binary")?.unwrap_or(false)),
    );
    ctx.stage("spark.count_vectorizer", node, &[x], y, attrs, st);
    ctx.put(Col::sparse(out, width), false);
    Ok(())
}

/// IDFModel: sparse in, sparse out; dense in, dense out.
pub(super) fn idf(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let mut attrs = BTreeMap::new();
    let y = vec![("Y", vec![out.to_string()])];
    let row = st.one_row()?;
    let (idf, _) = vector(field(&row, "idf", st)?, "idf", st)?;
    let x = ctx.get(read, Want::Vector(idf.len()), st)?;
    if x.width != Some(idf.len() as u64) || x.tokens {
        return Err(st.unsupported(format!(
            "the model was fitted on {} features, column `{read}` is {}",
            idf.len(),
            describe(&x)
        )));
    }
    let n = idf.len();
    attrs.insert(
        "idf".into(),
        ctx.tensor_f64(&format!("{node}/idf"), &[1, n], &idf),
    );
    let sparse = x.sparse;
    ctx.stage("spark.idf", node, &[x], y, attrs, st);
    let col = if sparse {
        Col::sparse(out, n as u64)
    } else {
        Col::vector(out, (0..n).map(|j| format!("{out}[{j}]")).collect())
    };
    ctx.put(col, false);
    Ok(())
}

/// `numFeatures` of HashingTF and FeatureHasher: a positive Java int.
fn num_features(st: &Stage) -> Result<i64, Error> {
    let n = int_param(st, "numFeatures", DEFAULT_NUM_FEATURES)?;
    if !(1..=i64::from(i32::MAX)).contains(&n) {
        return Err(st.malformed(format!("numFeatures={n} is not between 1 and 2^31 - 1")));
    }
    Ok(n)
}

fn distinct(st: &Stage, items: &[String], what: &str) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for t in items {
        if !seen.insert(t.as_str()) {
            return Err(st.unsupported(format!("the vocabulary repeats the {what} `{t}`")));
        }
    }
    Ok(())
}

/// FeatureHasher: numeric columns hashed by name, others (and `categoricalCols`) as
/// `name=value`, into a sparse block of `numFeatures`.
pub(super) fn feature_hasher(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let out = first(st, writes)?;
    let cats = st.strs_param("categoricalCols")?.unwrap_or_default();
    let mut x = Vec::new();
    let mut categorical = Vec::new();
    for c in reads {
        // Whether a column is hashed by name or as `name=value` depends on its Spark type,
        // which a saved model does not record: a pipeline input needs the sample schema.
        if ctx.schema.is_none() && !ctx.cols.contains_key(c) {
            return Err(st.unsupported(format!(
                "FeatureHasher input `{c}` has no known type: give --sample-schema (numeric columns are hashed by name, others as name=value)"
            )));
        }
        let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
        if col.width.is_some() || col.tokens {
            return Err(st.unsupported(format!(
                "FeatureHasher input `{c}` must be a scalar column, found {}",
                describe(&col)
            )));
        }
        let float = matches!(col.dtype, DType::F64 | DType::F32);
        let numeric = float || matches!(col.dtype, DType::I64 | DType::I32);
        let cat = !numeric || cats.contains(c);
        if cat && float {
            return Err(st.unsupported(format!(
                "FeatureHasher categorical column `{c}` is floating-point: Java's Double.toString spelling of the value is not reproduced (cast it to string or integer first)"
            )));
        }
        categorical.push(i64::from(cat));
        x.push(col);
    }
    let n = num_features(st)?;
    let mut attrs = BTreeMap::new();
    attrs.insert("num_features".into(), Attr::I64(n));
    attrs.insert("names".into(), Attr::Strs(reads.to_vec()));
    attrs.insert("categorical".into(), Attr::I64s(categorical));
    ctx.stage(
        "spark.feature_hasher",
        node,
        &x,
        vec![("Y", vec![out.to_string()])],
        attrs,
        st,
    );
    ctx.put(Col::sparse(out, n as u64), false);
    Ok(())
}

/// Word2VecModel: Spark 2+ saves one row per word (`word`, `vector` of floats).
pub(super) fn word2vec(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let (read, out) = (first(st, reads)?, first(st, writes)?);
    let x = token_input(ctx, st, read)?;
    let size = int_param(st, "vectorSize", 100)?;
    let size = usize_of(size, "vectorSize", st)?;
    if size == 0 {
        return Err(st.malformed("vectorSize=0"));
    }
    let rows = st.data()?;
    let mut words = Vec::with_capacity(rows.len());
    let mut bytes = Vec::with_capacity(rows.len() * size * 4);
    for r in &rows {
        let word = match field(r, "word", st)? {
            V::S(w) => w.clone(),
            other => return Err(st.malformed(format!("`word` is {other:?}, not a string"))),
        };
        let v = as_list(field(r, "vector", st)?, "vector", st)?;
        if v.len() != size {
            return Err(st.malformed(format!(
                "the vector of `{word}` has {} values, vectorSize is {size}",
                v.len()
            )));
        }
        for e in v {
            let f = as_f64(e, "vector", st)?;
            // The model keeps floats; a value that is not one was not written by Spark.
            let narrow = f as f32;
            if f64::from(narrow).to_bits() != f.to_bits() && !f.is_nan() {
                return Err(st.unsupported(format!(
                    "the vector of `{word}` holds {f}, not a float32 value"
                )));
            }
            bytes.extend(narrow.to_le_bytes());
        }
        words.push(word);
    }
    distinct(st, &words, "word")?;
    if words.is_empty() {
        return Err(st.unsupported("the vocabulary is empty"));
    }
    let vectors = ctx.emit.raw_tensor(
        &format!("{node}/vectors"),
        TensorDType::F32,
        &[words.len(), size],
        bytes,
    );
    let mut attrs = BTreeMap::new();
    attrs.insert("vocabulary".into(), Attr::Strs(words));
    attrs.insert("vectors".into(), vectors);
    let y = Col::vector(out, (0..size).map(|j| format!("{out}[{j}]")).collect());
    ctx.unary_stage("spark.word2vec", node, &x, y, false, attrs, st);
    Ok(())
}
