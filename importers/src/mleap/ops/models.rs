//! The other predictors: `naive_bayes` and `kmeans`.

use super::{classifier_outputs, column_major_to_rows, push_thresholds, vector_in};
use crate::mleap::ImportError;
use crate::mleap::context::{Kind, OpNode, State};
use keel_bundle::Attr;

/// `naive_bayes`, multinomial or Bernoulli (MLeap writes no other model type).
pub(super) fn naive_bayes(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let model = n.model;
    let kind = model.str("model_type")?.to_string();
    if kind != "multinomial" && kind != "bernoulli" {
        return Err(ImportError::unsupported(
            n.dir,
            format!("naive_bayes model_type `{kind}` (supported: multinomial, bernoulli)"),
        ));
    }
    let pi = model.f64s("pi")?;
    let (rows, cols, data) = model.matrix("theta")?;
    let k = pi.len();
    if rows != k || k < 2 {
        return Err(ImportError::malformed(
            &model.entry,
            format!("`theta` has {rows} rows for {k} classes"),
        ));
    }
    let theta = column_major_to_rows(rows, cols, &data);
    let input = n.shape.input("features", n.dir)?;
    vector_in(st, n.dir, &input, cols)?;
    let mut attrs = vec![
        ("model_type", Attr::Str(kind)),
        ("pi", st.f64_tensor(&[k], &pi)),
        ("theta", st.f64_tensor(&[k, cols], &theta)),
    ];
    push_thresholds(model, k, &mut attrs)?;
    let outputs = classifier_outputs(n.shape, n.dir, k)?;
    st.stage(n, "spark.naive_bayes", vec![input], outputs, attrs)
}

/// `kmeans` with the euclidean distance; the prediction is an integer cluster index.
pub(super) fn kmeans(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let model = n.model;
    if model.has("distance_measure") {
        let m = model.str("distance_measure")?;
        if m != "euclidean" {
            return Err(ImportError::unsupported(
                n.dir,
                format!("kmeans distance_measure `{m}` (supported: euclidean)"),
            ));
        }
    }
    let centers = model.f64_tensors("cluster_centers")?;
    let width = centers.first().map_or(0, Vec::len);
    if width == 0 || centers.iter().any(|c| c.len() != width) {
        return Err(ImportError::malformed(
            &model.entry,
            "`cluster_centers` must be non-empty tensors of one width",
        ));
    }
    let flat: Vec<f64> = centers.concat();
    let input = n.shape.input("features", n.dir)?;
    vector_in(st, n.dir, &input, width)?;
    let out = n.shape.output("prediction", n.dir)?;
    let centers = st.f64_tensor(&[flat.len() / width, width], &flat);
    st.stage(
        n,
        "spark.kmeans",
        vec![input],
        vec![("prediction", out, Kind::I32)],
        vec![("centers", centers)],
    )
}
