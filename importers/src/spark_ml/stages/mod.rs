//! The stage table: every Spark ML class the importer converts, with the columns it reads and
//! writes (for planning on names), what kind of column it may read, and its converter. The
//! table is the list of supported stages ([`SUPPORTED`] is derived from it), so what is
//! converted, what a refusal lists and what planning knows cannot drift apart.
//!
//! The converters live by stage family: `encoders.rs` (assembling, indexing, encoding,
//! bucketing), `vector_maps.rs` (scalers and other vector-to-vector maps), `selectors.rs`,
//! `linear.rs`, `trees.rs`, `models.rs` (the other predictors) and `text.rs`. Each maps a stage
//! to the same `spark.*` op, with the same attributes, as the Python exporter
//! `keel.spark.export` does from a live model (exporters/keel/spark/), so both routes give the
//! same bundle semantics.

mod encoders;
mod linear;
mod models;
mod selectors;
mod text;
mod trees;
mod vector_maps;

use super::Error;
use super::columns::{Col, Ctx, Want};
use super::stage::Stage;
use Accepts::{Dense, Sparse, Tokens};
use Columns::{Assembled, Glm, InOut, Indexed, Predicted, Selected, Single};
use keel_bundle::{Attr, DType};
use std::collections::BTreeMap;

/// Converts one stage: `node` is its (unique) node name, `reads` and `writes` the columns
/// planning found for it.
pub(super) type Convert =
    fn(&mut Ctx<'_>, &Stage, String, &[String], &[String]) -> Result<(), Error>;

/// Which params name a stage's columns (Spark's shared params), for planning on names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Columns {
    /// `inputCols` -> `outputCol`.
    Assembled,
    /// A string indexer's `inputCol(s)` -> `outputCol(s)`, where Spark skips a column whose
    /// input is absent.
    Indexed,
    /// `inputCol` -> `outputCol`, or `inputCols` -> `outputCols`.
    InOut,
    /// `inputCol` -> `outputCol`.
    Single,
    /// `featuresCol` -> `outputCol` (the fitted selectors).
    Selected,
    /// `featuresCol` (and `offsetCol`) -> `linkPredictionCol`, `predictionCol`.
    Glm,
    /// `featuresCol` -> the prediction columns that are set.
    Predicted,
}

/// What a stage may read beyond ordinary scalars and dense vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accepts {
    /// Nothing more.
    Dense,
    /// A sparse block as it is, however wide (its op reads sparse input; runtime
    /// `registry::SPARSE_INPUT_OPS`).
    Sparse,
    /// A token column (`array<string>`).
    Tokens,
}

/// One row of the stage table.
pub(super) struct StageDef {
    /// Spark's fully qualified class name.
    pub(super) class: &'static str,
    /// The params naming its columns; `Predicted` and `Glm` mark the predictors, whose
    /// prediction columns are outputs even when a later stage reads them.
    pub(super) columns: Columns,
    /// What it may read beyond scalars and dense vectors.
    pub(super) accepts: Accepts,
    /// Its converter.
    pub(super) convert: Convert,
}

/// A table row (a function so that each row fits on one line).
const fn def(
    class: &'static str,
    columns: Columns,
    accepts: Accepts,
    convert: Convert,
) -> StageDef {
    StageDef {
        class,
        columns,
        accepts,
        convert,
    }
}

/// The fully qualified name of Spark ML class `$class` in package `org.apache.spark.ml.$package`.
macro_rules! ml {
    ($package:literal, $class:literal) => {
        concat!("org.apache.spark.ml.", $package, ".", $class)
    };
}

/// The stage table, one row per class: its columns, what it may read, its converter.
#[rustfmt::skip]
const STAGES: &[StageDef] = &[
    def(ml!("feature", "VectorAssembler"),                                Assembled, Sparse, encoders::vector_assembler),
    def(ml!("feature", "StringIndexerModel"),                             Indexed,   Dense,  encoders::string_indexer),
    def(ml!("feature", "OneHotEncoderModel"),                             InOut,     Dense,  encoders::one_hot_encoder),
    def(ml!("feature", "StandardScalerModel"),                            Single,    Dense,  vector_maps::standard_scaler),
    def(ml!("feature", "MinMaxScalerModel"),                              Single,    Dense,  vector_maps::min_max_scaler),
    def(ml!("feature", "ImputerModel"),                                   InOut,     Dense,  encoders::imputer),
    def(ml!("feature", "Bucketizer"),                                     InOut,     Dense,  encoders::bucketizer),
    def(ml!("feature", "RobustScalerModel"),                              Single,    Dense,  vector_maps::robust_scaler),
    def(ml!("feature", "ElementwiseProduct"),                             Single,    Dense,  vector_maps::elementwise_product),
    def(ml!("feature", "ChiSqSelectorModel"),                             Selected,  Dense,  selectors::selector),
    def(ml!("feature", "UnivariateFeatureSelectorModel"),                 Selected,  Dense,  selectors::selector),
    def(ml!("feature", "VarianceThresholdSelectorModel"),                 Selected,  Dense,  selectors::selector),
    def(ml!("classification", "LogisticRegressionModel"),                 Predicted, Sparse, linear::linear_model),
    def(ml!("regression", "LinearRegressionModel"),                       Predicted, Sparse, linear::linear_model),
    def(ml!("classification", "DecisionTreeClassificationModel"),         Predicted, Dense,  trees::tree_ensemble),
    def(ml!("regression", "DecisionTreeRegressionModel"),                 Predicted, Dense,  trees::tree_ensemble),
    def(ml!("classification", "RandomForestClassificationModel"),         Predicted, Dense,  trees::tree_ensemble),
    def(ml!("regression", "RandomForestRegressionModel"),                 Predicted, Dense,  trees::tree_ensemble),
    def(ml!("classification", "GBTClassificationModel"),                  Predicted, Dense,  trees::tree_ensemble),
    def(ml!("regression", "GBTRegressionModel"),                          Predicted, Dense,  trees::tree_ensemble),
    def(ml!("feature", "MaxAbsScalerModel"),                              Single,    Dense,  vector_maps::max_abs_scaler),
    def(ml!("feature", "Binarizer"),                                      InOut,     Dense,  encoders::binarizer),
    def(ml!("feature", "Normalizer"),                                     Single,    Dense,  vector_maps::normalizer),
    def(ml!("feature", "PolynomialExpansion"),                            Single,    Dense,  vector_maps::polynomial_expansion),
    def(ml!("feature", "IndexToString"),                                  Single,    Dense,  encoders::index_to_string),
    def(ml!("feature", "VectorSlicer"),                                   Single,    Dense,  selectors::vector_slicer),
    def(ml!("feature", "PCAModel"),                                       Single,    Dense,  vector_maps::pca),
    def(ml!("classification", "LinearSVCModel"),                          Predicted, Sparse, linear::linear_svc),
    def(ml!("classification", "NaiveBayesModel"),                         Predicted, Sparse, models::naive_bayes),
    def(ml!("clustering", "KMeansModel"),                                 Predicted, Dense,  models::kmeans),
    def(ml!("regression", "GeneralizedLinearRegressionModel"),            Glm,       Dense,  linear::generalized_linear),
    def(ml!("classification", "MultilayerPerceptronClassificationModel"), Predicted, Dense,  models::multilayer_perceptron),
    def(ml!("classification", "FMClassificationModel"),                   Predicted, Dense,  models::factorization_machine),
    def(ml!("regression", "FMRegressionModel"),                           Predicted, Dense,  models::factorization_machine),
    def(ml!("regression", "IsotonicRegressionModel"),                     Predicted, Dense,  models::isotonic_regression),
    def(ml!("feature", "Tokenizer"),                                      Single,    Dense,  text::tokenizer),
    def(ml!("feature", "RegexTokenizer"),                                 Single,    Dense,  text::regex_tokenizer),
    def(ml!("feature", "StopWordsRemover"),                               InOut,     Tokens, text::stop_words_remover),
    def(ml!("feature", "NGram"),                                          Single,    Tokens, text::ngram),
    def(ml!("feature", "HashingTF"),                                      Single,    Tokens, text::hashing_tf),
    def(ml!("feature", "CountVectorizerModel"),                           Single,    Tokens, text::count_vectorizer),
    def(ml!("feature", "IDFModel"),                                       Single,    Sparse, text::idf),
    def(ml!("feature", "FeatureHasher"),                                  Assembled, Dense,  text::feature_hasher),
    def(ml!("feature", "Word2VecModel"),                                  Single,    Tokens, text::word2vec),
    def(ml!("feature", "VectorIndexerModel"),                             Single,    Dense,  encoders::vector_indexer),
];

/// The class names of [`STAGES`], in table order.
const CLASSES: [&str; STAGES.len()] = {
    let mut out = [""; STAGES.len()];
    let mut i = 0;
    while i < STAGES.len() {
        out[i] = STAGES[i].class;
        i += 1;
    }
    out
};

/// The stage classes this importer converts (Spark's fully qualified names).
pub const SUPPORTED: &[&str] = &CLASSES;

/// The table row of `class`, `None` for a class the importer does not convert.
pub(super) fn lookup(class: &str) -> Option<&'static StageDef> {
    STAGES.iter().find(|d| d.class == class)
}

/// The first of a stage's `cols` (the one column of a single-column stage).
fn first<'c>(st: &Stage, cols: &'c [String]) -> Result<&'c str, Error> {
    cols.first()
        .map(String::as_str)
        .ok_or_else(|| st.malformed("no input or output column"))
}

/// A column's kind in words, for messages.
fn describe(c: &Col) -> String {
    if c.tokens {
        "array<string>".into()
    } else if let Some(w) = c.width {
        format!("a vector of {w}")
    } else {
        c.dtype.as_str().into()
    }
}

/// The vector column `name` of exactly `n` features (what the model was fitted on), refusing
/// any other width or a scalar.
fn exact_vector(ctx: &mut Ctx<'_>, st: &Stage, name: &str, n: usize) -> Result<Col, Error> {
    let x = ctx.get(name, Want::Vector(n), st)?;
    if x.width != Some(n as u64) {
        return Err(st.unsupported(format!(
            "the model was fitted on {n} features, column `{name}` has {:?}",
            x.width
        )));
    }
    Ok(x)
}

/// The vector column `name` of any width, refusing a scalar; a pipeline input is typed as a
/// vector of `width` (the stage's own idea of it, 0 when it has none).
fn any_vector(ctx: &mut Ctx<'_>, st: &Stage, name: &str, width: usize) -> Result<Col, Error> {
    let x = ctx.get(name, Want::Vector(width), st)?;
    if x.width.is_none() {
        return Err(st.unsupported(format!(
            "input column `{name}` must be a vector, found {}",
            x.dtype
        )));
    }
    Ok(x)
}

/// A vector column's width.
fn width_of(x: &Col) -> usize {
    x.width.unwrap_or(0) as usize
}

/// Thresholds (`thresholds` param) for a `k`-class predictor, when defined.
fn thresholds(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: &str,
    attrs: &mut BTreeMap<String, Attr>,
) -> Result<(), Error> {
    if let Some(t) = st.f64s_param("thresholds")? {
        attrs.insert(
            "thresholds".into(),
            ctx.f64s(&format!("{node}/thresholds"), t),
        );
    }
    Ok(())
}

/// Binds the predictor's non-empty output columns to the op's ports and declares them.
fn predictor_outputs(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    n_classes: Option<usize>,
    probability: bool,
) -> Result<Vec<(&'static str, Vec<String>)>, Error> {
    let mut ports = Vec::new();
    if let Some(k) = n_classes {
        let names: Vec<String> = (0..k).map(|i| i.to_string()).collect();
        let raw = st.col_param("rawPredictionCol")?.ok_or_else(|| {
            st.unsupported(
                "rawPredictionCol='' is not supported (keep Spark's default rawPredictionCol)",
            )
        })?;
        ports.push(("raw_prediction", vec![raw.clone()]));
        ctx.put(Col::vector(&raw, names.clone()), false);
        if let Some(prob) = st.col_param("probabilityCol")?.filter(|_| probability) {
            ports.push(("probability", vec![prob.clone()]));
            ctx.put(Col::vector(&prob, names), false);
        }
    }
    if let Some(pred) = st.col_param("predictionCol")? {
        ports.push(("prediction", vec![pred.clone()]));
        ctx.put(Col::scalar(&pred, DType::F64), false);
    }
    if ports.is_empty() {
        return Err(st.unsupported("the model writes no column"));
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_class_once_and_is_the_supported_list() {
        let mut seen = std::collections::HashSet::new();
        for (d, class) in STAGES.iter().zip(SUPPORTED) {
            assert_eq!(d.class, *class);
            assert!(seen.insert(d.class), "{} twice", d.class);
            assert_eq!(lookup(class).map(|x| x.class), Some(*class));
        }
        assert_eq!(SUPPORTED.len(), STAGES.len());
        assert!(lookup("org.apache.spark.ml.feature.SQLTransformer").is_none());
    }
}
