//! One-pass, mergeable statistics of a training frame: what [`super::FeaturePlan::fit`] needs,
//! gathered batch by batch (on Spark tasks, say) and merged (on the driver), serialisable so
//! that they travel as JSON.
//!
//! Numeric columns keep a count, a mean and the sum of squared deviations (`m2`), merged with
//! Chan et al.'s pairwise update: naive sums of squares lose every digit of a variance that is
//! small beside the mean (a timestamp column), this does not. Each batch is reduced exactly
//! (two passes over its values) before it is merged.

use super::columns::{column, f64_values, int_values, str_values};
use super::{Error, FeatureSpec};
use crate::net::Task;
use arrow_array::{Array, RecordBatch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The count, mean and sum of squared deviations of a column's present values, and how many
/// were missing (null or NaN).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moments {
    /// Values that are neither null nor NaN.
    pub count: u64,
    /// Their mean (0 when there are none).
    pub mean: f64,
    /// The sum of their squared deviations from `mean`.
    pub m2: f64,
    /// Null or NaN values.
    pub missing: u64,
}

impl Moments {
    /// The moments of `values` (`None` = null), computed in two passes; NaN counts as missing.
    pub fn of(values: impl Iterator<Item = Option<f64>> + Clone) -> Moments {
        let (mut count, mut sum, mut missing) = (0u64, 0.0f64, 0u64);
        for v in values.clone() {
            match v {
                Some(x) if !x.is_nan() => {
                    count += 1;
                    sum += x;
                }
                _ => missing += 1,
            }
        }
        if count == 0 {
            return Moments {
                missing,
                ..Moments::default()
            };
        }
        let mean = sum / count as f64;
        let m2 = values
            .flatten()
            .filter(|x| !x.is_nan())
            .map(|x| (x - mean) * (x - mean))
            .sum();
        Moments {
            count,
            mean,
            m2,
            missing,
        }
    }

    /// Chan, Golub and LeVeque's pairwise combination.
    pub fn merge(&mut self, other: &Moments) {
        self.missing += other.missing;
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            let missing = self.missing;
            *self = *other;
            self.missing = missing;
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * (nb / n);
        self.m2 += other.m2 + delta * delta * (na * nb / n);
        self.count += other.count;
    }

    /// The sum of the present values.
    pub fn sum(&self) -> f64 {
        self.mean * self.count as f64
    }

    /// The sum of squares of the present values.
    pub fn sum_of_squares(&self) -> f64 {
        self.m2 + self.count as f64 * self.mean * self.mean
    }
}

/// How a categorical column's values reach the indexer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryKind {
    /// A string column.
    String,
    /// An integer column, indexed by its decimal text (as Spark's `StringIndexer` casts it).
    Integer,
}

/// A categorical column's value counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryCounts {
    /// Strings or integers: unknown until a batch was seen.
    pub kind: Option<CategoryKind>,
    /// Value (integers as decimal text) -> occurrences.
    pub counts: BTreeMap<String, u64>,
    /// Null values.
    pub nulls: u64,
}

/// What the label column held so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LabelStats {
    /// Classification: class -> occurrences. Numeric labels are class indices (`indices`);
    /// string labels are names (`names`); one frame holds one kind.
    Classes {
        /// Class index -> occurrences (numeric labels).
        indices: BTreeMap<u64, u64>,
        /// Class name -> occurrences (string labels).
        names: BTreeMap<String, u64>,
    },
    /// Regression: the target's moments (`missing` stays 0: a missing target is an error).
    Target(Moments),
}

/// Statistics of a training frame for one [`FeatureSpec`]: per numeric column its
/// [`Moments`], per categorical column its [`CategoryCounts`], and the label's
/// [`LabelStats`]. Update with batches, merge partial statistics, serialise as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureStats {
    /// The spec these statistics are for (merging statistics of another spec is an error).
    pub spec: FeatureSpec,
    /// Rows seen.
    pub rows: u64,
    /// Batches seen (each error names the batch's position among them).
    pub batches: u64,
    /// One per `spec.numeric_cols`, in order.
    pub numeric: Vec<Moments>,
    /// One per `spec.categorical_cols`, in order.
    pub categorical: Vec<CategoryCounts>,
    /// The label's statistics.
    pub label: LabelStats,
}

/// Classes beyond this many are refused: a numeric label is a class index, and a stray
/// 1e9 in a label column would otherwise ask for a billion-way softmax.
pub const MAX_CLASSES: u64 = 1 << 16;

impl FeatureStats {
    /// Empty statistics for `spec`.
    pub fn new(spec: &FeatureSpec) -> FeatureStats {
        FeatureStats {
            spec: spec.clone(),
            rows: 0,
            batches: 0,
            numeric: vec![Moments::default(); spec.numeric_cols.len()],
            categorical: vec![CategoryCounts::default(); spec.categorical_cols.len()],
            label: match spec.task {
                Task::Classification => LabelStats::Classes {
                    indices: BTreeMap::new(),
                    names: BTreeMap::new(),
                },
                Task::Regression => LabelStats::Target(Moments::default()),
            },
        }
    }

    /// Adds one batch. Every check runs before anything is added, so a refused batch leaves
    /// the statistics as they were.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let index = self.batches;
        let mut numeric = Vec::with_capacity(self.numeric.len());
        for name in &self.spec.numeric_cols {
            let col = column(batch, name)?;
            let values = f64_values(col.as_ref()).ok_or_else(|| Error::ColumnType {
                column: name.clone(),
                found: col.data_type().to_string(),
                expected: "a numeric column (any integer or float type)",
            })?;
            if let Some(row) = values.iter().position(|v| v.is_some_and(f64::is_infinite)) {
                return Err(Error::NonFinite {
                    column: name.clone(),
                    batch: Some(index),
                    row,
                    value: values[row].unwrap_or_default(),
                });
            }
            numeric.push(Moments::of(values.iter().copied()));
        }
        let mut categorical = Vec::with_capacity(self.categorical.len());
        for (name, prev) in self.spec.categorical_cols.iter().zip(&self.categorical) {
            let col = column(batch, name)?;
            let counts = category_counts(name, col.as_ref(), index)?;
            check_kind(name, prev.kind, counts.kind)?;
            categorical.push(counts);
        }
        let label = label_stats(&self.spec, batch, index)?;
        let mut merged = self.label.clone();
        merge_labels(&self.spec.label_col, &mut merged, &label)?;

        for (m, b) in self.numeric.iter_mut().zip(&numeric) {
            m.merge(b);
        }
        for (c, b) in self.categorical.iter_mut().zip(categorical) {
            merge_counts(c, b);
        }
        self.label = merged;
        self.rows += batch.num_rows() as u64;
        self.batches += 1;
        Ok(())
    }

    /// Adds `other`'s statistics (gathered for the same spec from other rows).
    pub fn merge(&mut self, other: &FeatureStats) -> Result<(), Error> {
        if self.spec != other.spec
            || self.numeric.len() != other.numeric.len()
            || self.categorical.len() != other.categorical.len()
        {
            return Err(Error::SpecMismatch);
        }
        for (name, (a, b)) in self
            .spec
            .categorical_cols
            .iter()
            .zip(self.categorical.iter().zip(&other.categorical))
        {
            check_kind(name, a.kind, b.kind)?;
        }
        let mut label = self.label.clone();
        merge_labels(&self.spec.label_col, &mut label, &other.label)?;
        for (a, b) in self.numeric.iter_mut().zip(&other.numeric) {
            a.merge(b);
        }
        for (a, b) in self.categorical.iter_mut().zip(&other.categorical) {
            merge_counts(a, b.clone());
        }
        self.label = label;
        self.rows += other.rows;
        self.batches += other.batches;
        Ok(())
    }
}

fn check_kind(column: &str, a: Option<CategoryKind>, b: Option<CategoryKind>) -> Result<(), Error> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(Error::KindMismatch {
            column: column.to_string(),
            what: "categorical",
        }),
        _ => Ok(()),
    }
}

fn merge_counts(into: &mut CategoryCounts, from: CategoryCounts) {
    into.kind = into.kind.or(from.kind);
    into.nulls += from.nulls;
    if into.counts.is_empty() {
        into.counts = from.counts;
        return;
    }
    for (k, n) in from.counts {
        *into.counts.entry(k).or_default() += n;
    }
}

fn merge_labels(column: &str, into: &mut LabelStats, from: &LabelStats) -> Result<(), Error> {
    match (into, from) {
        (
            LabelStats::Classes { indices, names },
            LabelStats::Classes {
                indices: i2,
                names: n2,
            },
        ) => {
            if (!indices.is_empty() && !n2.is_empty()) || (!names.is_empty() && !i2.is_empty()) {
                return Err(Error::KindMismatch {
                    column: column.to_string(),
                    what: "label",
                });
            }
            for (k, n) in i2 {
                *indices.entry(*k).or_default() += n;
            }
            for (k, n) in n2 {
                *names.entry(k.clone()).or_default() += n;
            }
            Ok(())
        }
        (LabelStats::Target(a), LabelStats::Target(b)) => {
            a.merge(b);
            Ok(())
        }
        _ => Err(Error::SpecMismatch),
    }
}

/// One batch's counts of categorical column `name`.
fn category_counts(name: &str, col: &dyn Array, batch: u64) -> Result<CategoryCounts, Error> {
    let mut out = CategoryCounts::default();
    let add = |counts: &mut BTreeMap<String, u64>, v: &str| match counts.get_mut(v) {
        Some(n) => *n += 1,
        None => {
            counts.insert(v.to_string(), 1);
        }
    };
    if let Some(values) = str_values(col) {
        out.kind = Some(CategoryKind::String);
        for v in values {
            match v {
                Some(s) => add(&mut out.counts, s),
                None => out.nulls += 1,
            }
        }
    } else if let Some(values) = int_values(col) {
        out.kind = Some(CategoryKind::Integer);
        for (row, v) in values.into_iter().enumerate() {
            match v {
                // The bundle reads integer categories as i64.
                Some(x) if i64::try_from(x).is_err() => {
                    return Err(Error::BadValue {
                        column: name.to_string(),
                        batch: Some(batch),
                        row,
                        value: x.to_string(),
                        reason: "an integer category must fit in i64".into(),
                    });
                }
                Some(x) => add(&mut out.counts, &x.to_string()),
                None => out.nulls += 1,
            }
        }
    } else {
        return Err(Error::ColumnType {
            column: name.to_string(),
            found: col.data_type().to_string(),
            expected: "a categorical column (utf8, large utf8, utf8 view, or an integer type)",
        });
    }
    Ok(out)
}

/// The label of one row, as the trainer reads it.
pub(crate) enum Label<'a> {
    /// A class index (a numeric label under classification).
    Index(u64),
    /// A class name (a string label under classification).
    Name(&'a str),
    /// A regression target.
    Target(f64),
}

/// Every label of `batch`, checked: no nulls, class indices integral and `>= 0`, targets
/// finite. `batch_index` is `None` outside [`FeatureStats::update`].
pub(crate) fn labels<'b>(
    spec: &FeatureSpec,
    batch: &'b RecordBatch,
    batch_index: Option<u64>,
) -> Result<Vec<Label<'b>>, Error> {
    let name = &spec.label_col;
    let col = column(batch, name)?;
    let col = col.as_ref();
    let null = |row| Error::NullLabel {
        column: name.clone(),
        batch: batch_index,
        row,
    };
    let bad = |row, value: String, reason: &str| Error::BadValue {
        column: name.clone(),
        batch: batch_index,
        row,
        value,
        reason: reason.into(),
    };
    let wrong_type = |expected| Error::ColumnType {
        column: name.clone(),
        found: col.data_type().to_string(),
        expected,
    };
    let mut out = Vec::with_capacity(col.len());
    match spec.task {
        Task::Classification => {
            if let Some(values) = str_values(col) {
                for (row, v) in values.into_iter().enumerate() {
                    out.push(Label::Name(v.ok_or_else(|| null(row))?));
                }
            } else if let Some(values) = int_values(col) {
                for (row, v) in values.into_iter().enumerate() {
                    let v = v.ok_or_else(|| null(row))?;
                    let k = u64::try_from(v)
                        .ok()
                        .filter(|&k| k < MAX_CLASSES)
                        .ok_or_else(|| {
                            bad(
                                row,
                                v.to_string(),
                                &format!(
                                    "a numeric class label is a class index, 0 to {}",
                                    MAX_CLASSES - 1
                                ),
                            )
                        })?;
                    out.push(Label::Index(k));
                }
            } else if let Some(values) = f64_values(col) {
                for (row, v) in values.into_iter().enumerate() {
                    let v = v.ok_or_else(|| null(row))?;
                    if v.is_nan() {
                        return Err(null(row));
                    }
                    if v.fract() != 0.0 || !(0.0..MAX_CLASSES as f64).contains(&v) {
                        return Err(bad(
                            row,
                            v.to_string(),
                            &format!(
                                "a numeric class label is a class index: an integer, 0 to {}",
                                MAX_CLASSES - 1
                            ),
                        ));
                    }
                    out.push(Label::Index(v as u64));
                }
            } else {
                return Err(wrong_type(
                    "a class label column (strings, or class indices as integers or floats)",
                ));
            }
        }
        Task::Regression => {
            let values = f64_values(col)
                .ok_or_else(|| wrong_type("a numeric target column (integer or float)"))?;
            for (row, v) in values.into_iter().enumerate() {
                let v = v.ok_or_else(|| null(row))?;
                if v.is_nan() {
                    return Err(null(row));
                }
                if v.is_infinite() {
                    return Err(bad(row, v.to_string(), "a target must be finite"));
                }
                out.push(Label::Target(v));
            }
        }
    }
    Ok(out)
}

fn label_stats(spec: &FeatureSpec, batch: &RecordBatch, index: u64) -> Result<LabelStats, Error> {
    let labels = labels(spec, batch, Some(index))?;
    Ok(match spec.task {
        Task::Classification => {
            let (mut indices, mut names) = (BTreeMap::new(), BTreeMap::<String, u64>::new());
            for l in labels {
                match l {
                    Label::Index(k) => *indices.entry(k).or_default() += 1,
                    Label::Name(s) => match names.get_mut(s) {
                        Some(n) => *n += 1,
                        None => {
                            names.insert(s.to_string(), 1);
                        }
                    },
                    Label::Target(_) => {}
                }
            }
            LabelStats::Classes { indices, names }
        }
        Task::Regression => LabelStats::Target(Moments::of(labels.iter().map(|l| match l {
            Label::Target(t) => Some(*t),
            _ => None,
        }))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chan_merge_matches_one_pass_over_both() {
        let a = [1.0, 2.0, 4.0, f64::NAN];
        let b = [1e3, -7.5];
        let mut m = Moments::of(a.iter().map(|&x| Some(x)));
        m.merge(&Moments::of(b.iter().map(|&x| Some(x)).chain([None])));
        let all = Moments::of(a.iter().chain(&b).map(|&x| Some(x)));
        assert_eq!((m.count, m.missing), (5, 2));
        assert!((m.mean - all.mean).abs() < 1e-12);
        assert!((m.m2 - all.m2).abs() < 1e-9 * all.m2);
    }

    #[test]
    fn merge_keeps_a_small_variance_beside_a_large_mean() {
        // Naive sums of squares lose this variance entirely (1e18 + ... in f64).
        let base = 1e9;
        let mut m = Moments::default();
        for chunk in [[base + 1.0, base + 2.0], [base + 3.0, base + 4.0]] {
            m.merge(&Moments::of(chunk.iter().map(|&x| Some(x))));
        }
        assert!((m.m2 - 5.0).abs() < 1e-6, "{}", m.m2);
    }
}
