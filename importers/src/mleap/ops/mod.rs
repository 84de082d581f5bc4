//! The MLeap op converters: one table from op name to converter, which is also the list of
//! supported ops ([`SUPPORTED_OPS`]), and the checks several families share (reading a column
//! as a scalar or a vector of known width, a classifier's outputs and thresholds). Each family
//! lives in its own file and maps MLeap's attributes onto an existing keel op (`spark.*`, or
//! the generic `select` for the vector slicer):
//!
//! | MLeap op | attributes read | keel op |
//! |---|---|---|
//! | `string_indexer` | `labels`, `handle_invalid`? | `spark.string_indexer` |
//! | `one_hot_encoder` (MLeap 0.8) | `size`, `drop_last`? | `spark.one_hot_encoder` |
//! | `one_hot_encoder` (MLeap 0.16+) | `category_sizes`, `drop_last`, `handle_invalid` | `spark.one_hot_encoder` |
//! | `vector_assembler` | `input_shapes`? | `spark.vector_assembler` |
//! | `standard_scaler` | `mean`?, `std`? | `spark.standard_scaler` |
//! | `linear_regression` | `coefficients`, `intercept` | `spark.linear` |
//! | `logistic_regression` | binomial: `coefficients`, `intercept`, `threshold`?; multinomial: `coefficient_matrix` [k, n], `intercept_vector`, `thresholds`?; `num_classes` | `spark.linear` |
//! | `linear_svc` | `coefficients`, `intercept`, `threshold`? | `spark.linear` (`svc`) |
//! | `decision_tree_*`, `random_forest_*`, `gbt_*` | `num_features`, `num_classes`, `trees`, `tree_weights`, `thresholds`? | `spark.tree_ensemble` |
//! | `naive_bayes` | `model_type`, `pi` [k], `theta` [k, n], `thresholds`? | `spark.naive_bayes` |
//! | `kmeans` | `cluster_centers` (a list of tensors), `distance_measure`? | `spark.kmeans` |
//! | `min_max_scaler` | `min`, `max` (Spark's originalMin/Max), `min_value`?, `max_value`? | `spark.min_max_scaler` |
//! | `max_abs_scaler` | `maxAbs` | `spark.max_abs_scaler` |
//! | `binarizer` | `threshold` | `spark.binarizer` |
//! | `bucketizer` | `splits`, `handle_invalid`? | `spark.bucketizer` |
//! | `imputer` | `surrogate_value`, `missing_value`? | `spark.imputer` |
//! | `normalizer` | `p_norm` | `spark.normalizer` |
//! | `pca` | `principal_components` [n, k] | `spark.pca` |
//! | `polynomial_expansion` | `degree` | `spark.polynomial_expansion` |
//! | `reverse_string_indexer` | `labels` | `spark.index_to_string` |
//! | `vector_slicer` | `indices` (`names` must be empty) | `select` |
//!
//! The attribute layout read for each op is MLeap's as we understand it; the fixtures in
//! `fixtures/mleap/` are written by keel's generator in that layout from models fitted by real
//! Spark, and compared with Spark's own outputs. Matrices (`coefficient_matrix`, `theta`,
//! `principal_components`) are stored as MLeap stores Spark's `Matrix.toArray`: column-major
//! values with the dimensions `[rows, cols]`. The width of a vector input that no earlier stage
//! wrote comes from the node's `input_shapes`; without it the bundle is refused.

mod ensembles;
mod features;
mod linear;
mod models;
mod vector_maps;

use super::ImportError;
use super::attrs::ModelDoc;
use super::context::{Kind, OpNode, Shape, State};
use keel_bundle::Attr;
use serde_json::Value;

/// Converts one MLeap node into keel stages on `State`.
pub(super) type Convert = fn(&OpNode<'_>, &mut State) -> Result<(), ImportError>;

/// The op whose children are its stages; the walker recurses into it rather than converting.
pub(super) const PIPELINE: &str = "pipeline";

/// Largest vector a stage may produce.
const MAX_WIDTH: usize = 1 << 24;

/// The op table: [`SUPPORTED_OPS`] and [`converter`] both come from one list, so what is
/// converted and what a refusal says is supported cannot drift apart.
macro_rules! op_table {
    ($($op:literal => $convert:path),* $(,)?) => {
        /// MLeap ops this importer converts (the op names of `model.json`).
        pub const SUPPORTED_OPS: &[&str] = &[PIPELINE, $($op),*];

        /// The converter of `op`; `None` for an op outside the table (and for `pipeline`,
        /// which the walker handles).
        pub(super) fn converter(op: &str) -> Option<Convert> {
            match op {
                $($op => Some($convert),)*
                _ => None,
            }
        }
    };
}

op_table! {
    "string_indexer" => features::string_indexer,
    "one_hot_encoder" => features::one_hot_encoder,
    "vector_assembler" => features::vector_assembler,
    "standard_scaler" => vector_maps::standard_scaler,
    "linear_regression" => linear::linear_regression,
    "decision_tree_regression" => ensembles::tree_ensemble,
    "random_forest_regression" => ensembles::tree_ensemble,
    "logistic_regression" => linear::logistic_regression,
    "linear_svc" => linear::linear_svc,
    "decision_tree_classifier" => ensembles::tree_ensemble,
    "random_forest_classifier" => ensembles::tree_ensemble,
    "gbt_regression" => ensembles::tree_ensemble,
    "gbt_classifier" => ensembles::tree_ensemble,
    "naive_bayes" => models::naive_bayes,
    "kmeans" => models::kmeans,
    "min_max_scaler" => vector_maps::min_max_scaler,
    "max_abs_scaler" => vector_maps::max_abs_scaler,
    "binarizer" => features::binarizer,
    "bucketizer" => features::bucketizer,
    "imputer" => features::imputer,
    "normalizer" => vector_maps::normalizer,
    "pca" => vector_maps::pca,
    "polynomial_expansion" => vector_maps::polynomial_expansion,
    "reverse_string_indexer" => features::reverse_string_indexer,
    "vector_slicer" => features::vector_slicer,
}

/// A classifier's optional `thresholds` (one per class).
fn push_thresholds(
    model: &ModelDoc,
    k: usize,
    attrs: &mut Vec<(&str, Attr)>,
) -> Result<(), ImportError> {
    if model.has("thresholds") {
        let t = model.f64s("thresholds")?;
        if t.len() != k {
            return Err(ImportError::malformed(
                &model.entry,
                format!("{} thresholds for {k} classes", t.len()),
            ));
        }
        attrs.push(("thresholds", Attr::F64s(t)));
    }
    Ok(())
}

/// A classifier's bound outputs: MLeap's ports `prediction`, `probability` and
/// `raw_prediction` (the same names as keel's), at least one of them.
fn classifier_outputs(
    shape: &Shape,
    dir: &str,
    k: usize,
) -> Result<Vec<(&'static str, String, Kind)>, ImportError> {
    let mut out = Vec::new();
    for (port, kind) in [
        ("prediction", Kind::F64),
        ("probability", Kind::Vector(k)),
        ("raw_prediction", Kind::Vector(k)),
    ] {
        if let Some(col) = shape.output_opt(port) {
            out.push((port, col, kind));
        }
    }
    if out.is_empty() {
        return Err(ImportError::malformed(
            dir,
            "the classifier binds no output",
        ));
    }
    Ok(out)
}

/// Values stored column-major for a `rows x cols` matrix, rearranged row-major.
fn column_major_to_rows(rows: usize, cols: usize, data: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            out.push(data.get(c * rows + r).copied().unwrap_or(f64::NAN));
        }
    }
    out
}

/// The double attribute `name`, `default` when absent.
fn opt_f64(model: &ModelDoc, name: &str, default: f64) -> Result<f64, ImportError> {
    if model.has(name) {
        model.f64(name)
    } else {
        Ok(default)
    }
}

/// The string attribute `name`, `default` when absent.
fn opt_str(model: &ModelDoc, name: &str, default: &str) -> Result<String, ImportError> {
    if model.has(name) {
        Ok(model.str(name)?.to_string())
    } else {
        Ok(default.to_string())
    }
}

/// Reads `col` as a double scalar.
fn scalar_in(st: &mut State, dir: &str, col: &str) -> Result<(), ImportError> {
    match st.read(dir, col, Kind::F64)? {
        Kind::F64 => Ok(()),
        k => Err(ImportError::malformed(
            dir,
            format!("input `{col}` is {k:?}, the stage expects a double scalar"),
        )),
    }
}

/// Reads `col` as a vector of exactly `width` elements.
fn vector_in(st: &mut State, dir: &str, col: &str, width: usize) -> Result<(), ImportError> {
    match st.read(dir, col, Kind::Vector(width))? {
        Kind::Vector(w) if w == width => Ok(()),
        k => Err(ImportError::malformed(
            dir,
            format!("input `{col}` is {k:?}, the stage expects a vector of {width}"),
        )),
    }
}

/// The width MLeap's `input_shapes` records for input `i`, when it records a tensor.
fn declared_width(model: &ModelDoc, i: usize) -> Result<Option<usize>, ImportError> {
    let Some(s) = model
        .raw("input_shapes")
        .and_then(|s| s.get("data_shape"))
        .and_then(Value::as_array)
        .and_then(|s| s.get(i))
    else {
        return Ok(None);
    };
    if s.get("base").and_then(Value::as_str) != Some("tensor") {
        return Ok(None);
    }
    s.get("tensorShape")
        .and_then(|t| t.get("dimensions"))
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(|d| d.get("size"))
        .and_then(Value::as_u64)
        .and_then(|w| usize::try_from(w).ok())
        .filter(|&w| w > 0 && w < MAX_WIDTH)
        .map(Some)
        .ok_or_else(|| {
            ImportError::malformed(
                &model.entry,
                format!("input_shapes[{i}]: a tensor without a size"),
            )
        })
}

/// The width of the vector column `col`: as written by an earlier stage, or as the node's
/// `input_shapes` declares it.
fn vector_width(
    st: &mut State,
    model: &ModelDoc,
    dir: &str,
    col: &str,
) -> Result<usize, ImportError> {
    let want = match st.written(col) {
        Some(k) => k,
        None => match declared_width(model, 0)? {
            Some(w) => Kind::Vector(w),
            None => {
                return Err(ImportError::unsupported(
                    dir,
                    format!(
                        "the width of input `{col}` is unknown (no earlier stage writes it and the node has no `input_shapes`)"
                    ),
                ));
            }
        },
    };
    match st.read(dir, col, want)? {
        Kind::Vector(w) => Ok(w),
        k => Err(ImportError::malformed(
            dir,
            format!("input `{col}` is {k:?}, the stage expects a vector"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_op_but_pipeline_has_a_converter() {
        for op in SUPPORTED_OPS {
            assert_eq!(converter(op).is_some(), *op != PIPELINE, "{op}");
        }
        assert!(converter("word2vec").is_none());
    }
}
