//! The feature stages, fitted in one pass and computed through keel's own ops.
//!
//! A [`FeatureSpec`] names the numeric, categorical and label columns. [`FeatureStats`]
//! gathers what fitting needs in one pass over Arrow batches (mergeable, serialisable, so Spark
//! tasks gather and the driver merges). [`FeaturePlan::fit`] turns them into Spark ML's fitted
//! stages, with Spark's rules:
//!
//! - categorical columns: `StringIndexer` with its default `stringOrderType="frequencyDesc"`
//!   and `handleInvalid="keep"`; integer columns are indexed by their decimal text, as Spark
//!   casts them; the vocabulary may be cut by [`FeatureSpec::min_frequency`] and
//!   [`FeatureSpec::max_categories`], and every cut, unseen or null value takes the one extra
//!   index (the vocabulary's size), whose embedding row is then trained on the rare values;
//! - numeric columns: `Imputer(strategy="mean")` (nulls and NaNs take the mean of the present
//!   values), assembled in order, then `StandardScaler(withMean=true, withStd=true)` with the
//!   mean and the *sample* standard deviation of the imputed column (a constant column has std
//!   0, which Spark turns into a scale of 0: the feature becomes 0). Every numeric column is
//!   read as a double, so an integer column is imputed with the exact mean (Spark, which casts
//!   an imputed integer column back to its type, does the same once the column is cast to
//!   double);
//! - the label: under classification numeric labels are class indices (integral, `>= 0`;
//!   classes = the largest + 1, as Spark's classifiers count them) and string labels are
//!   indexed in sorted order (Java's `String` order); under regression the target as it is.
//!
//! [`FeaturePlan::bundle`] writes those stages as a keel bundle of `spark.imputer`,
//! `spark.vector_assembler`, `spark.standard_scaler` and `spark.string_indexer` nodes, and
//! [`FeaturePlan::transform`] computes the training set by scoring that very bundle with
//! [`keel_runtime::Model`], so training reads the features exactly as the exported bundle
//! computes them when it serves.
//!
//! What a mature tool refuses, this refuses with a typed [`Error`] naming the column (and the
//! batch and row): a numeric column with no value at all (Spark's `Imputer` fails the same
//! way: there is no mean to impute), a categorical column whose vocabulary is empty (nothing
//! to learn: all null, or every value under `min_frequency`), a null or NaN label, a class
//! label at transform time that the plan never saw (fit the plan on the merged statistics of
//! every split, training and validation, so the classes are fixed once), and infinite
//! feature values.

mod columns;
mod graph;
mod stats;

pub(crate) use graph::{producer, uid_of};
pub use stats::{CategoryCounts, CategoryKind, FeatureStats, LabelStats, MAX_CLASSES, Moments};

use crate::data::Dataset;
use crate::net::Task;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema};
use columns::{column, f64_values, int_values, java_cmp, str_values};
use keel_runtime::Model;
use serde::{Deserialize, Serialize};
use stats::Label;
use std::sync::{Arc, OnceLock};

/// Which columns feed the network and which one it learns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct FeatureSpec {
    /// Numeric columns (any integer or float type), imputed and scaled into one block.
    pub numeric_cols: Vec<String>,
    /// Categorical columns (strings, or integers), one index column each.
    pub categorical_cols: Vec<String>,
    /// The label column.
    pub label_col: String,
    /// What the network predicts.
    pub task: Task,
    /// At most this many categories per column (the most frequent); the rest share the extra
    /// index with unseen and null values. `None`: no limit.
    #[serde(default)]
    pub max_categories: Option<usize>,
    /// Categories seen fewer times than this share the extra index (0 or 1: keep all).
    #[serde(default)]
    pub min_frequency: u64,
}

/// Why statistics could not be gathered, a plan fitted, or a batch transformed. Every
/// message names the column, and the row (and batch) where one is involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec itself is unusable (no feature column, a name used twice, a name that collides
    /// with a column the feature bundle writes).
    #[error("bad feature spec: {0}")]
    BadSpec(String),
    /// A column of the spec is not in the batch.
    #[error("column `{column}` is not in the batch (its columns: {available})")]
    MissingColumn {
        /// The column the spec names.
        column: String,
        /// The batch's columns, for the message.
        available: String,
    },
    /// A column's Arrow type cannot play its role.
    #[error("column `{column}` is {found}; expected {expected}")]
    ColumnType {
        /// The column.
        column: String,
        /// Its Arrow type.
        found: String,
        /// What its role needs.
        expected: &'static str,
    },
    /// A null (or NaN) label.
    #[error("label column `{column}` is missing at row {row}{}", at_batch(*batch))]
    NullLabel {
        /// The label column.
        column: String,
        /// The batch's position among those given to the statistics (none at transform).
        batch: Option<u64>,
        /// The row within the batch.
        row: usize,
    },
    /// A value its column cannot hold (a fractional class index, an infinite target).
    #[error("column `{column}` at row {row}{}: {value}: {reason}", at_batch(*batch))]
    BadValue {
        /// The column.
        column: String,
        /// The batch's position (none at transform).
        batch: Option<u64>,
        /// The row within the batch.
        row: usize,
        /// The value, as text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An infinite numeric feature.
    #[error(
        "numeric column `{column}` is {value} at row {row}{}: features must be finite (nulls \
         and NaNs are imputed)",
        at_batch(*batch)
    )]
    NonFinite {
        /// The column.
        column: String,
        /// The batch's position (none at transform).
        batch: Option<u64>,
        /// The row within the batch.
        row: usize,
        /// The value.
        value: f64,
    },
    /// A column held strings in one batch and integers in another (or a label held class
    /// names in one and class indices in another).
    #[error("{what} column `{column}` holds strings in some batches and numbers in others")]
    KindMismatch {
        /// The column.
        column: String,
        /// `categorical` or `label`.
        what: &'static str,
    },
    /// Statistics of different specs cannot be merged.
    #[error("the statistics being merged were gathered for different feature specs")]
    SpecMismatch,
    /// A numeric column with no present value: there is no mean to impute or scale with
    /// (Spark's `Imputer` refuses the same column).
    #[error(
        "numeric column `{column}` has no value in the training data ({missing} rows, all \
         null or NaN): there is no mean to impute it with; drop the column or give it data"
    )]
    NoData {
        /// The column.
        column: String,
        /// How many rows were missing.
        missing: u64,
    },
    /// A categorical column whose vocabulary came out empty.
    #[error(
        "categorical column `{column}` has an empty vocabulary: {seen} distinct values seen \
         ({nulls} nulls), none kept with min_frequency {min_frequency} and max_categories \
         {max_categories:?}; drop the column or lower min_frequency"
    )]
    EmptyVocabulary {
        /// The column.
        column: String,
        /// Distinct non-null values seen.
        seen: usize,
        /// Null values seen.
        nulls: u64,
        /// The spec's `min_frequency`.
        min_frequency: u64,
        /// The spec's `max_categories`.
        max_categories: Option<usize>,
    },
    /// A label column with no rows, or a classification with fewer than two classes.
    #[error("label column `{column}`: {problem}")]
    Labels {
        /// The label column.
        column: String,
        /// What is wrong.
        problem: String,
    },
    /// At transform time, a class the plan was not fitted with.
    #[error(
        "label column `{column}` at row {row}: class {value} was not in the data the plan was \
         fitted on (its classes: {known}); fit the plan on the statistics of every split, \
         training and validation merged"
    )]
    UnknownLabel {
        /// The label column.
        column: String,
        /// The row within the batch.
        row: usize,
        /// The class, as text.
        value: String,
        /// The plan's classes, for the message.
        known: String,
    },
    /// Writing the feature bundle failed (a bug here, reported rather than written).
    #[error("the feature bundle is invalid: {0}")]
    Bundle(#[from] keel_bundle::BundleError),
    /// Planning or scoring the feature bundle failed.
    #[error("computing the features: {0}")]
    Runtime(#[from] keel_runtime::Error),
}

fn at_batch(batch: Option<u64>) -> String {
    batch.map(|b| format!(" of batch {b}")).unwrap_or_default()
}

/// A numeric column's fitted imputation and scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericPlan {
    /// The column.
    pub name: String,
    /// What a null or NaN becomes (Spark `Imputer`, strategy mean): the present values' mean.
    pub surrogate: f64,
    /// The imputed column's mean (StandardScaler `withMean`).
    pub mean: f64,
    /// The imputed column's sample standard deviation (StandardScaler `withStd`; 0 for a
    /// constant column, which Spark scales by 0).
    pub std: f64,
    /// The statistics it was fitted from.
    pub moments: Moments,
}

/// A categorical column's fitted vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoricalPlan {
    /// The column.
    pub name: String,
    /// Strings or integers.
    pub kind: CategoryKind,
    /// The labels in index order (Spark's `labelsArray` entry); index `vocabulary.len()` is
    /// every other value (unseen, cut, or null).
    pub vocabulary: Vec<String>,
    /// Distinct values seen but cut by `min_frequency` / `max_categories`.
    pub dropped: usize,
}

/// The fitted label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LabelPlan {
    /// Numeric labels are class indices `0..classes`.
    ClassIndices {
        /// How many classes (the largest label + 1).
        classes: usize,
    },
    /// String labels, indexed by their position here (sorted, Java's string order).
    ClassNames {
        /// The class names in index order.
        names: Vec<String>,
    },
    /// A regression target.
    Target {
        /// The training target's mean.
        mean: f64,
        /// Its sample standard deviation.
        std: f64,
    },
}

/// Fitted feature stages: serialisable (the driver fits, the tasks receive JSON), and able to
/// write them as a keel bundle and compute a training set through it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturePlan {
    /// The spec it was fitted for.
    pub spec: FeatureSpec,
    /// One per numeric column, in order.
    pub numeric: Vec<NumericPlan>,
    /// One per categorical column, in order.
    pub categorical: Vec<CategoricalPlan>,
    /// The label.
    pub label: LabelPlan,
    /// Rows the statistics covered.
    pub rows: u64,
    /// The feature bundle, planned once on first use.
    #[serde(skip)]
    model: OnceLock<Arc<Model>>,
}

impl PartialEq for FeaturePlan {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
            && self.numeric == other.numeric
            && self.categorical == other.categorical
            && self.label == other.label
            && self.rows == other.rows
    }
}

/// The feature bundle's output holding the scaled numeric block.
pub const FEATURES_OUTPUT: &str = "features";

/// The feature bundle's output holding categorical column `col`'s index.
pub fn index_output(col: &str) -> String {
    format!("{col}_index")
}

impl FeatureSpec {
    /// Checks the spec on its own: at least one feature column, no name used twice.
    pub fn check(&self) -> Result<(), Error> {
        if self.numeric_cols.is_empty() && self.categorical_cols.is_empty() {
            return Err(Error::BadSpec("no numeric or categorical column".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in self
            .numeric_cols
            .iter()
            .chain(&self.categorical_cols)
            .chain([&self.label_col])
        {
            if !seen.insert(c.as_str()) {
                return Err(Error::BadSpec(format!(
                    "column `{c}` is named twice (numeric, categorical and label columns are \
                     distinct)"
                )));
            }
        }
        if self.max_categories == Some(0) {
            return Err(Error::BadSpec(
                "max_categories is 0: no category could be kept".into(),
            ));
        }
        Ok(())
    }
}

impl FeaturePlan {
    /// Fits the stages from `stats` (see the module doc for the rules).
    pub fn fit(spec: &FeatureSpec, stats: &FeatureStats) -> Result<FeaturePlan, Error> {
        spec.check()?;
        if &stats.spec != spec {
            return Err(Error::SpecMismatch);
        }
        let mut numeric = Vec::with_capacity(spec.numeric_cols.len());
        for (name, m) in spec.numeric_cols.iter().zip(&stats.numeric) {
            if m.count == 0 {
                return Err(Error::NoData {
                    column: name.clone(),
                    missing: m.missing,
                });
            }
            // The imputed column: the present values plus `missing` copies of their mean,
            // which add nothing to the squared deviations but count in the sample size.
            let n = m.count + m.missing;
            let std = if n > 1 {
                (m.m2 / (n - 1) as f64).sqrt()
            } else {
                0.0
            };
            numeric.push(NumericPlan {
                name: name.clone(),
                surrogate: m.mean,
                mean: m.mean,
                std,
                moments: *m,
            });
        }
        let mut categorical = Vec::with_capacity(spec.categorical_cols.len());
        for (name, c) in spec.categorical_cols.iter().zip(&stats.categorical) {
            let vocabulary = vocabulary(c, spec.min_frequency, spec.max_categories);
            if vocabulary.is_empty() {
                return Err(Error::EmptyVocabulary {
                    column: name.clone(),
                    seen: c.counts.len(),
                    nulls: c.nulls,
                    min_frequency: spec.min_frequency,
                    max_categories: spec.max_categories,
                });
            }
            categorical.push(CategoricalPlan {
                name: name.clone(),
                // A column with a vocabulary has seen a batch.
                kind: c.kind.unwrap_or(CategoryKind::String),
                dropped: c.counts.len() - vocabulary.len(),
                vocabulary,
            });
        }
        let labels_err = |problem: String| Error::Labels {
            column: spec.label_col.clone(),
            problem,
        };
        let label = match &stats.label {
            LabelStats::Classes { indices, names } => {
                if let Some((&max, _)) = indices.last_key_value() {
                    let classes = max as usize + 1;
                    if classes < 2 {
                        return Err(labels_err(
                            "every label is class 0: a classifier needs at least two classes"
                                .into(),
                        ));
                    }
                    LabelPlan::ClassIndices { classes }
                } else if !names.is_empty() {
                    let mut names: Vec<String> = names.keys().cloned().collect();
                    names.sort_by(|a, b| java_cmp(a, b));
                    if names.len() < 2 {
                        return Err(labels_err(format!(
                            "every label is {:?}: a classifier needs at least two classes",
                            names[0]
                        )));
                    }
                    LabelPlan::ClassNames { names }
                } else {
                    return Err(labels_err("no rows to fit on".into()));
                }
            }
            LabelStats::Target(m) => {
                if m.count == 0 {
                    return Err(labels_err("no rows to fit on".into()));
                }
                let std = if m.count > 1 {
                    (m.m2 / (m.count - 1) as f64).sqrt()
                } else {
                    0.0
                };
                LabelPlan::Target { mean: m.mean, std }
            }
        };
        let plan = FeaturePlan {
            spec: spec.clone(),
            numeric,
            categorical,
            label,
            rows: stats.rows,
            model: OnceLock::new(),
        };
        // Name collisions between inputs and the bundle's own columns surface now.
        graph::check_names(&plan)?;
        Ok(plan)
    }

    /// Width of the numeric block (the network's `numeric_width`).
    pub fn numeric_width(&self) -> usize {
        self.numeric.len()
    }

    /// Rows of each categorical column's embedding table: its vocabulary plus the extra index
    /// (the network's `cardinalities`).
    pub fn cardinalities(&self) -> Vec<usize> {
        self.categorical
            .iter()
            .map(|c| c.vocabulary.len() + 1)
            .collect()
    }

    /// How many classes (`None` under regression).
    pub fn num_classes(&self) -> Option<usize> {
        match &self.label {
            LabelPlan::ClassIndices { classes } => Some(*classes),
            LabelPlan::ClassNames { names } => Some(names.len()),
            LabelPlan::Target { .. } => None,
        }
    }

    /// The class names in index order (`"0"`, `"1"`... for numeric labels; empty under
    /// regression).
    pub fn class_names(&self) -> Vec<String> {
        match &self.label {
            LabelPlan::ClassIndices { classes } => (0..*classes).map(|k| k.to_string()).collect(),
            LabelPlan::ClassNames { names } => names.clone(),
            LabelPlan::Target { .. } => Vec::new(),
        }
    }

    /// The feature-only bundle: inputs are the spec's numeric and categorical columns
    /// (nullable), outputs [`FEATURES_OUTPUT`] (an `f64` vector of the scaled numeric block,
    /// absent with no numeric column) and one [`index_output`] per categorical column (`f64`
    /// scalars, as Spark's `StringIndexer` writes them).
    pub fn bundle(&self) -> Result<keel_bundle::Bundle, Error> {
        graph::bundle(self)
    }

    /// The feature bundle, planned (once; later calls share it).
    pub fn model(&self) -> Result<&Model, Error> {
        if let Some(m) = self.model.get() {
            return Ok(m);
        }
        let model = Model::from_bundle(&self.bundle()?, &keel_runtime::Options::default())?;
        Ok(self.model.get_or_init(|| Arc::new(model)))
    }

    /// The training set of `batch`: its features computed by scoring the feature bundle
    /// (`f64` features to `f32`, indices to `i64`) and its labels (class indices or targets,
    /// as `f32`). Errors name the column and the row within `batch`.
    pub fn transform(&self, batch: &RecordBatch) -> Result<Dataset, Error> {
        let rows = batch.num_rows();
        let mut out = Dataset::new(self.numeric.len(), self.categorical.len());
        let labels = self.labels(batch)?;
        if rows == 0 {
            return Ok(out);
        }
        let scored = self.model()?.score(&self.inputs_of(batch)?)?;
        if !self.numeric.is_empty() {
            let block = column(&scored, FEATURES_OUTPUT)?.as_fixed_size_list();
            let values = block.values().as_primitive::<Float64Type>();
            let w = self.numeric.len();
            out.numeric.reserve(rows * w);
            for (i, &v) in values.values().iter().take(rows * w).enumerate() {
                if !v.is_finite() {
                    // Only an infinite input gets here: nulls and NaNs were imputed.
                    return Err(Error::NonFinite {
                        column: self.numeric[i % w].name.clone(),
                        batch: None,
                        row: i / w,
                        value: v,
                    });
                }
                out.numeric.push(v as f32);
            }
        }
        if !self.categorical.is_empty() {
            let idx: Vec<&Float64Array> = self
                .categorical
                .iter()
                .map(|c| {
                    column(&scored, &index_output(&c.name)).map(|a| a.as_primitive::<Float64Type>())
                })
                .collect::<Result<_, _>>()?;
            out.categorical.reserve(rows * idx.len());
            for r in 0..rows {
                // Indices are small non-negative integers, exact in f64.
                out.categorical
                    .extend(idx.iter().map(|a| a.value(r) as i64));
            }
        }
        out.labels = labels;
        Ok(out)
    }

    /// The bundle's input columns of `batch`, in the manifest's order and in the types its
    /// ops read: numbers as `f64`, integer categories as `i64`, strings as they come.
    fn inputs_of(&self, batch: &RecordBatch) -> Result<RecordBatch, Error> {
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for n in &self.numeric {
            let col = column(batch, &n.name)?;
            let values = f64_values(col.as_ref()).ok_or_else(|| Error::ColumnType {
                column: n.name.clone(),
                found: col.data_type().to_string(),
                expected: "a numeric column (any integer or float type)",
            })?;
            fields.push(ArrowField::new(&n.name, DataType::Float64, true));
            cols.push(Arc::new(Float64Array::from(values)));
        }
        for c in &self.categorical {
            let col = column(batch, &c.name)?;
            let wrong = |expected| Error::ColumnType {
                column: c.name.clone(),
                found: col.data_type().to_string(),
                expected,
            };
            let arr: ArrayRef = match c.kind {
                CategoryKind::String => {
                    let v = str_values(col.as_ref())
                        .ok_or_else(|| wrong("strings (the plan was fitted on a string column)"))?;
                    Arc::new(StringArray::from(v))
                }
                CategoryKind::Integer => {
                    let v = int_values(col.as_ref()).ok_or_else(|| {
                        wrong("integers (the plan was fitted on an integer column)")
                    })?;
                    // A value outside i64 is in no vocabulary: it takes the extra index, as
                    // null does.
                    Arc::new(
                        v.into_iter()
                            .map(|x| x.and_then(|x| i64::try_from(x).ok()))
                            .collect::<Int64Array>(),
                    )
                }
            };
            fields.push(ArrowField::new(&c.name, arr.data_type().clone(), true));
            cols.push(arr);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
            .map_err(|e| Error::BadSpec(format!("cannot assemble the feature bundle's input: {e}")))
    }

    /// The labels of `batch` as the network reads them.
    fn labels(&self, batch: &RecordBatch) -> Result<Vec<f32>, Error> {
        let col = &self.spec.label_col;
        let labels = stats::labels(&self.spec, batch, None)?;
        let unknown = |row, value: String| Error::UnknownLabel {
            column: col.clone(),
            row,
            value,
            known: self.class_names().join(", "),
        };
        labels
            .into_iter()
            .enumerate()
            .map(|(row, l)| match (&self.label, l) {
                (LabelPlan::ClassIndices { classes }, Label::Index(k)) => {
                    if (k as usize) < *classes {
                        Ok(k as f32)
                    } else {
                        Err(unknown(row, k.to_string()))
                    }
                }
                (LabelPlan::ClassNames { names }, Label::Name(s)) => names
                    .binary_search_by(|n| java_cmp(n, s))
                    .map(|k| k as f32)
                    .map_err(|_| unknown(row, format!("{s:?}"))),
                (LabelPlan::Target { .. }, Label::Target(t)) => Ok(t as f32),
                (LabelPlan::ClassIndices { .. }, _) => Err(Error::ColumnType {
                    column: col.clone(),
                    found: batch
                        .schema()
                        .field_with_name(col)
                        .map(|f| f.data_type().to_string())
                        .unwrap_or_default(),
                    expected: "class indices (the plan was fitted on numeric labels)",
                }),
                (LabelPlan::ClassNames { .. }, _) => Err(Error::ColumnType {
                    column: col.clone(),
                    found: batch
                        .schema()
                        .field_with_name(col)
                        .map(|f| f.data_type().to_string())
                        .unwrap_or_default(),
                    expected: "class names (the plan was fitted on string labels)",
                }),
                (LabelPlan::Target { .. }, _) => Err(Error::Labels {
                    column: col.clone(),
                    problem: "a regression plan reads numeric targets".into(),
                }),
            })
            .collect()
    }
}

/// The vocabulary of one column: Spark's `StringIndexer` order, then the spec's cuts.
///
/// Spark's rule (`StringIndexer.getSortFunc`, Spark 3.0+; the `stringOrderType` doc: "In case
/// of equal frequency when under frequencyDesc/Asc, the strings are further sorted
/// alphabetically"): descending count, ties by ascending string, compared as Scala's `<` on
/// `String`, i.e. Java's `compareTo` over UTF-16 code units. Integer columns are compared by
/// their decimal text, so `"10"` comes before `"2"`.
fn vocabulary(c: &CategoryCounts, min_frequency: u64, max: Option<usize>) -> Vec<String> {
    let mut v: Vec<(&String, u64)> = c
        .counts
        .iter()
        .filter(|&(_, &n)| n >= min_frequency)
        .map(|(s, &n)| (s, n))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| java_cmp(a.0, b.0)));
    if let Some(max) = max {
        v.truncate(max);
    }
    v.into_iter().map(|(s, _)| s.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn vocabulary_orders_by_count_then_java_string_order_and_cuts() {
        let c = CategoryCounts {
            kind: Some(CategoryKind::Integer),
            counts: BTreeMap::from([
                ("2".into(), 5),
                ("10".into(), 5),
                ("7".into(), 9),
                ("33".into(), 1),
            ]),
            nulls: 3,
        };
        assert_eq!(vocabulary(&c, 0, None), ["7", "10", "2", "33"]);
        assert_eq!(vocabulary(&c, 2, None), ["7", "10", "2"]);
        assert_eq!(vocabulary(&c, 0, Some(2)), ["7", "10"]);
        assert!(vocabulary(&c, 10, None).is_empty());
    }
}
