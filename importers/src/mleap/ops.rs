//! MLeap ops beyond the original AirBnB set, each mapped onto an existing keel op (`spark.*`,
//! or the generic `select` for the vector slicer). The attribute layout read for each op is
//! MLeap's as we understand it (names below); the fixtures in `fixtures/mleap/` are written by
//! keel's generator in that layout from models fitted by real Spark, and compared with Spark's
//! own outputs.
//!
//! | MLeap op | attributes read | keel op |
//! |---|---|---|
//! | `logistic_regression` | binomial: `coefficients`, `intercept`, `threshold`?; multinomial: `coefficient_matrix` [k, n], `intercept_vector`, `thresholds`?; `num_classes` | `spark.linear` |
//! | `linear_svc` | `coefficients`, `intercept`, `threshold`? | `spark.linear` (`svc`) |
//! | `decision_tree_classifier`, `random_forest_classifier`, `gbt_regression`, `gbt_classifier` | `num_features`, `num_classes`, `trees`, `tree_weights`, `thresholds`? | `spark.tree_ensemble` |
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
//! | `one_hot_encoder` (MLeap 0.16+) | `category_sizes`, `drop_last`, `handle_invalid` | `spark.one_hot_encoder` |
//!
//! Matrices (`coefficient_matrix`, `theta`, `principal_components`) are stored as MLeap stores
//! Spark's `Matrix.toArray`: column-major values with the dimensions `[rows, cols]`.
//!
//! The width of a vector input that no earlier stage wrote comes from the node's
//! `input_shapes` (as for the vector assembler); without it the bundle is refused.

use super::attrs::ModelDoc;
use super::convert::{Kind, Reader, Shape, State, trees, vector_in};
use super::{ImportError, SUPPORTED_OPS};
use keel_bundle::Attr;
use serde_json::Value;

/// Largest vector a stage may produce.
const MAX_WIDTH: usize = 1 << 24;

/// Converts one node whose op `convert.rs` does not handle itself; any op neither handles is
/// refused naming [`SUPPORTED_OPS`], the one list of what the importer converts.
pub(super) fn convert(
    rd: &Reader<'_>,
    model: &ModelDoc,
    shape: &Shape,
    dir: &str,
    name: &str,
    st: &mut State,
    doc: String,
) -> Result<(), ImportError> {
    let malformed = |m: String| ImportError::malformed(&model.entry, m);
    match model.op.as_str() {
        "decision_tree_classifier"
        | "random_forest_classifier"
        | "gbt_regression"
        | "gbt_classifier" => trees(rd, model, shape, dir, name, st, doc),
        "logistic_regression" => logistic(model, shape, dir, name, st, doc),
        "linear_svc" => {
            let coef = model.f64s("coefficients")?;
            let intercept = model.f64("intercept")?;
            let threshold = if model.has("threshold") {
                model.f64("threshold")?
            } else {
                0.0
            };
            if shape.output_opt("probability").is_some() {
                return Err(ImportError::unsupported(
                    dir,
                    "linear_svc binds a `probability` output (Spark's LinearSVC writes none)",
                ));
            }
            let input = shape.input("features", dir)?;
            let linear = BinaryLinear {
                model: "svc",
                coef,
                intercept,
                threshold,
            };
            linear.stage(st, shape, dir, name, input, doc)
        }
        "naive_bayes" => {
            let kind = model.str("model_type")?.to_string();
            if kind != "multinomial" && kind != "bernoulli" {
                return Err(ImportError::unsupported(
                    dir,
                    format!("naive_bayes model_type `{kind}` (supported: multinomial, bernoulli)"),
                ));
            }
            let pi = model.f64s("pi")?;
            let (rows, cols, data) = model.matrix("theta")?;
            let k = pi.len();
            if rows != k || k < 2 {
                return Err(malformed(format!(
                    "`theta` has {rows} rows for {k} classes"
                )));
            }
            let theta = column_major_to_rows(rows, cols, &data);
            let input = shape.input("features", dir)?;
            vector_in(st, dir, &input, cols)?;
            let mut attrs = vec![
                ("model_type", Attr::Str(kind)),
                ("pi", st.f64_tensor(&[k], &pi)),
                ("theta", st.f64_tensor(&[k, cols], &theta)),
            ];
            push_thresholds(model, k, &mut attrs)?;
            let outputs = classifier_outputs(shape, dir, k)?;
            st.stage(name, "spark.naive_bayes", vec![input], outputs, attrs, doc)
        }
        "kmeans" => {
            if model.has("distance_measure") {
                let m = model.str("distance_measure")?;
                if m != "euclidean" {
                    return Err(ImportError::unsupported(
                        dir,
                        format!("kmeans distance_measure `{m}` (supported: euclidean)"),
                    ));
                }
            }
            let centers = model.f64_tensors("cluster_centers")?;
            let n = centers.first().map_or(0, Vec::len);
            if n == 0 || centers.iter().any(|c| c.len() != n) {
                return Err(malformed(
                    "`cluster_centers` must be non-empty tensors of one width".into(),
                ));
            }
            let flat: Vec<f64> = centers.concat();
            let input = shape.input("features", dir)?;
            vector_in(st, dir, &input, n)?;
            let out = shape.output("prediction", dir)?;
            let centers = st.f64_tensor(&[flat.len() / n, n], &flat);
            st.stage(
                name,
                "spark.kmeans",
                vec![input],
                vec![("prediction", out, Kind::I32)],
                vec![("centers", centers)],
                doc,
            )
        }
        "min_max_scaler" => {
            let lo = model.f64s("min")?;
            let hi = model.f64s("max")?;
            if lo.len() != hi.len() {
                return Err(malformed(format!(
                    "`min` has {} values, `max` {}",
                    lo.len(),
                    hi.len()
                )));
            }
            let (min, max) = (
                opt_f64(model, "min_value", 0.0)?,
                opt_f64(model, "max_value", 1.0)?,
            );
            let width = lo.len();
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            vector_in(st, dir, &input, width)?;
            let attrs = vec![
                ("original_min", st.f64_tensor(&[width], &lo)),
                ("original_max", st.f64_tensor(&[width], &hi)),
                ("min", Attr::F64(min)),
                ("max", Attr::F64(max)),
            ];
            st.stage(
                name,
                "spark.min_max_scaler",
                vec![input],
                vec![("Y", out, Kind::Vector(width))],
                attrs,
                doc,
            )
        }
        "max_abs_scaler" => {
            let m = model.f64s("maxAbs")?;
            let width = m.len();
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            vector_in(st, dir, &input, width)?;
            let m = st.f64_tensor(&[width], &m);
            st.stage(
                name,
                "spark.max_abs_scaler",
                vec![input],
                vec![("Y", out, Kind::Vector(width))],
                vec![("max_abs", m)],
                doc,
            )
        }
        "binarizer" => {
            let t = model.f64("threshold")?;
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            let kind = match st.written(&input) {
                Some(k) => k,
                None => match declared_width(model, 0)? {
                    Some(w) => Kind::Vector(w),
                    None => Kind::F64,
                },
            };
            let kind = st.read(dir, &input, kind)?;
            if !matches!(kind, Kind::F64 | Kind::Vector(_)) {
                return Err(ImportError::unsupported(
                    dir,
                    format!(
                        "binarizer input `{input}` is {kind:?} (Spark takes doubles or vectors)"
                    ),
                ));
            }
            st.stage(
                name,
                "spark.binarizer",
                vec![input],
                vec![("Y", out, kind)],
                vec![("thresholds", Attr::F64s(vec![t]))],
                doc,
            )
        }
        "bucketizer" => {
            let splits = model.f64s("splits")?;
            let mode = opt_str(model, "handle_invalid", "error")?;
            if mode != "error" && mode != "keep" {
                return Err(ImportError::unsupported(
                    dir,
                    format!("bucketizer handle_invalid `{mode}` (supported: error, keep)"),
                ));
            }
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            scalar_in(st, dir, &input)?;
            st.nullable(&out);
            st.stage(
                name,
                "spark.bucketizer",
                vec![input],
                vec![("Y", out, Kind::F64)],
                vec![
                    ("splits", Attr::List(vec![Attr::F64s(splits)])),
                    ("handle_invalid", Attr::Str(mode)),
                ],
                doc,
            )
        }
        "imputer" => {
            let s = model.f64("surrogate_value")?;
            if s.is_nan() {
                return Err(ImportError::unsupported(
                    dir,
                    "imputer without a surrogate (all values missing at fit)",
                ));
            }
            let missing = opt_f64(model, "missing_value", f64::NAN)?;
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            scalar_in(st, dir, &input)?;
            st.stage(
                name,
                "spark.imputer",
                vec![input],
                vec![("Y", out, Kind::F64)],
                vec![
                    ("surrogates", Attr::F64s(vec![s])),
                    ("missing_value", Attr::F64(missing)),
                ],
                doc,
            )
        }
        "normalizer" => {
            let p = model.f64("p_norm")?;
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            let width = vector_width(st, model, dir, &input)?;
            st.stage(
                name,
                "spark.normalizer",
                vec![input],
                vec![("Y", out, Kind::Vector(width))],
                vec![("p", Attr::F64(p))],
                doc,
            )
        }
        "pca" => {
            let (n, k, data) = model.matrix("principal_components")?;
            // Column-major [n, k]: each component's n loadings are contiguous, which is the
            // row-major [k, n] layout `spark.pca` takes.
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            vector_in(st, dir, &input, n)?;
            let components = st.f64_tensor(&[k, n], &data);
            st.stage(
                name,
                "spark.pca",
                vec![input],
                vec![("Y", out, Kind::Vector(k))],
                vec![("components", components)],
                doc,
            )
        }
        "polynomial_expansion" => {
            let degree = model.i64("degree")?;
            let d = usize::try_from(degree)
                .ok()
                .filter(|&d| d >= 1)
                .ok_or_else(|| malformed(format!("degree {degree}")))?;
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            let n = vector_width(st, model, dir, &input)?;
            let width = binomial(n + d, d)
                .map(|c| c - 1)
                .filter(|&w| w <= MAX_WIDTH)
                .ok_or_else(|| {
                    ImportError::unsupported(
                        dir,
                        format!("{n} features at degree {d} give too many terms"),
                    )
                })?;
            st.stage(
                name,
                "spark.polynomial_expansion",
                vec![input],
                vec![("Y", out, Kind::Vector(width))],
                vec![("degree", Attr::I64(degree))],
                doc,
            )
        }
        "reverse_string_indexer" => {
            let labels = model.strs("labels")?;
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            scalar_in(st, dir, &input)?;
            st.nullable(&out);
            st.stage(
                name,
                "spark.index_to_string",
                vec![input],
                vec![("Y", out, Kind::Utf8)],
                vec![("labels", Attr::List(vec![Attr::Strs(labels)]))],
                doc,
            )
        }
        "vector_slicer" => {
            if model.has("names") && !model.strs("names")?.is_empty() {
                return Err(ImportError::unsupported(
                    dir,
                    "vector_slicer selecting by feature name (only `indices` are supported)",
                ));
            }
            let indices = model.i64s("indices")?;
            let (input, out) = (shape.input("input", dir)?, shape.output("output", dir)?);
            let n = vector_width(st, model, dir, &input)?;
            if indices.is_empty() || indices.iter().any(|&i| i < 0 || i as u64 >= n as u64) {
                return Err(malformed(format!(
                    "indices {indices:?} empty or outside the {n} features"
                )));
            }
            let width = indices.len();
            st.stage(
                name,
                "select",
                vec![input],
                vec![("Y", out, Kind::Vector(width))],
                vec![("indices", Attr::I64s(indices))],
                doc,
            )
        }
        other => Err(ImportError::UnsupportedOp {
            node: dir.into(),
            op: other.into(),
            supported: SUPPORTED_OPS.join(", "),
        }),
    }
}

/// `logistic_regression`, binomial (`coefficients`, `intercept`) or multinomial
/// (`coefficient_matrix`, `intercept_vector`).
fn logistic(
    model: &ModelDoc,
    shape: &Shape,
    dir: &str,
    name: &str,
    st: &mut State,
    doc: String,
) -> Result<(), ImportError> {
    let malformed = |m: String| ImportError::malformed(&model.entry, m);
    let input = shape.input("features", dir)?;
    if model.has("coefficient_matrix") {
        let (k, n, data) = model.matrix("coefficient_matrix")?;
        let intercept = model.f64s("intercept_vector")?;
        if intercept.len() != k || k < 2 {
            return Err(malformed(format!(
                "{} intercepts for {k} coefficient rows",
                intercept.len()
            )));
        }
        if model.has("num_classes") && model.i64("num_classes")? != k as i64 {
            return Err(malformed(format!("num_classes differs from the {k} rows")));
        }
        let coef = column_major_to_rows(k, n, &data);
        vector_in(st, dir, &input, n)?;
        let mut attrs = vec![
            ("coef", st.f64_tensor(&[k, n], &coef)),
            ("intercept", Attr::F64s(intercept)),
            ("model", Attr::Str("multinomial".into())),
        ];
        push_thresholds(model, k, &mut attrs)?;
        let outputs = classifier_outputs(shape, dir, k)?;
        return st.stage(name, "spark.linear", vec![input], outputs, attrs, doc);
    }
    if model.has("num_classes") && model.i64("num_classes")? != 2 {
        return Err(malformed(
            "a binomial model (`coefficients`) with num_classes other than 2".into(),
        ));
    }
    let coef = model.f64s("coefficients")?;
    let intercept = model.f64("intercept")?;
    // Spark's getThreshold: from `thresholds` when given (t = 1 / (1 + t0 / t1)), else
    // `threshold`, else 0.5.
    let threshold = if model.has("thresholds") {
        match model.f64s("thresholds")?.as_slice() {
            [t0, t1] => 1.0 / (1.0 + t0 / t1),
            t => {
                return Err(malformed(format!(
                    "a binomial model's thresholds need 2 values, not {}",
                    t.len()
                )));
            }
        }
    } else {
        opt_f64(model, "threshold", 0.5)?
    };
    let linear = BinaryLinear {
        model: "binomial",
        coef,
        intercept,
        threshold,
    };
    linear.stage(st, shape, dir, name, input, doc)
}

/// A two-class `spark.linear` model (binomial logistic regression or linear SVC): one row of
/// coefficients, an intercept and Spark's decision threshold.
struct BinaryLinear {
    /// The op's `model` attribute: `binomial` or `svc`.
    model: &'static str,
    coef: Vec<f64>,
    intercept: f64,
    threshold: f64,
}

impl BinaryLinear {
    fn stage(
        self,
        st: &mut State,
        shape: &Shape,
        dir: &str,
        name: &str,
        input: String,
        doc: String,
    ) -> Result<(), ImportError> {
        vector_in(st, dir, &input, self.coef.len())?;
        let outputs = classifier_outputs(shape, dir, 2)?;
        let coef = st.f64_tensor(&[1, self.coef.len()], &self.coef);
        st.stage(
            name,
            "spark.linear",
            vec![input],
            outputs,
            vec![
                ("coef", coef),
                ("intercept", Attr::F64s(vec![self.intercept])),
                ("model", Attr::Str(self.model.into())),
                ("threshold", Attr::F64(self.threshold)),
            ],
            doc,
        )
    }
}

/// MLeap 0.16+'s one-hot encoder (Spark 3's multi-column `OneHotEncoderModel`):
/// `category_sizes` (one per column), `drop_last`, `handle_invalid`; ports `input0..` and
/// `output0..` (or `input`/`output` for one column). The vector widths follow Spark:
/// `size - 1` with `drop_last` and `error`, `size + 1` without `drop_last` and with `keep`,
/// `size` otherwise.
pub(super) fn one_hot_multi(
    model: &ModelDoc,
    shape: &Shape,
    dir: &str,
    name: &str,
    st: &mut State,
    doc: String,
) -> Result<(), ImportError> {
    let sizes = model.i64s("category_sizes")?;
    let drop_last = if model.has("drop_last") {
        model.bool("drop_last")?
    } else {
        true
    };
    let mode = opt_str(model, "handle_invalid", "error")?;
    if mode != "error" && mode != "keep" {
        return Err(ImportError::unsupported(
            dir,
            format!("one_hot_encoder handle_invalid `{mode}` (supported: error, keep)"),
        ));
    }
    let (inputs, outs) = match (shape.input("input", dir), shape.output("output", dir)) {
        (Ok(i), Ok(o)) => (vec![i], vec![o]),
        _ => (shape.numbered_inputs(dir)?, shape.numbered_outputs(dir)?),
    };
    if inputs.len() != sizes.len() || outs.len() != sizes.len() {
        return Err(ImportError::malformed(
            dir,
            format!(
                "{} inputs and {} outputs for {} category sizes",
                inputs.len(),
                outs.len(),
                sizes.len()
            ),
        ));
    }
    let mut outputs = Vec::new();
    for ((input, out), &size) in inputs.iter().zip(outs).zip(&sizes) {
        scalar_in(st, dir, input)?;
        let width = match (drop_last, mode.as_str()) {
            (true, "error") => size - 1,
            (false, "keep") => size + 1,
            _ => size,
        };
        let width = usize::try_from(width)
            .ok()
            .filter(|&w| size > 0 && w < MAX_WIDTH)
            .ok_or_else(|| ImportError::malformed(&model.entry, format!("category size {size}")))?;
        outputs.push(("Y", out, Kind::Vector(width)));
    }
    st.stage(
        name,
        "spark.one_hot_encoder",
        inputs,
        outputs,
        vec![
            ("sizes", Attr::I64s(sizes)),
            ("drop_last", Attr::Bool(drop_last)),
            ("handle_invalid", Attr::Str(mode)),
        ],
        doc,
    )
}

/// A classifier's optional `thresholds` (one per class).
pub(super) fn push_thresholds(
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
pub(super) fn classifier_outputs(
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

fn opt_f64(model: &ModelDoc, name: &str, default: f64) -> Result<f64, ImportError> {
    if model.has(name) {
        model.f64(name)
    } else {
        Ok(default)
    }
}

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

/// `C(n, k)`, `None` on overflow.
fn binomial(n: usize, k: usize) -> Option<usize> {
    let mut c: usize = 1;
    for i in 0..k {
        c = c.checked_mul(n - i)? / (i + 1);
    }
    Some(c)
}
