//! One vector in, one vector out: `standard_scaler`, `min_max_scaler`, `max_abs_scaler`,
//! `normalizer`, `pca` and `polynomial_expansion`.

use super::{MAX_WIDTH, opt_f64, vector_in, vector_width};
use crate::mleap::ImportError;
use crate::mleap::context::{Kind, OpNode, State};
use keel_bundle::Attr;

/// `standard_scaler` with `mean`, `std` or both (each present only when Spark used it).
pub(super) fn standard_scaler(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let model = n.model;
    let mean = if model.has("mean") {
        Some(model.f64s("mean")?)
    } else {
        None
    };
    let std = if model.has("std") {
        Some(model.f64s("std")?)
    } else {
        None
    };
    let width = match (&mean, &std) {
        (Some(m), Some(s)) if m.len() != s.len() => {
            return Err(ImportError::malformed(
                &model.entry,
                format!("`mean` has {} values, `std` {}", m.len(), s.len()),
            ));
        }
        (Some(m), _) => m.len(),
        (None, Some(s)) => s.len(),
        (None, None) => {
            return Err(ImportError::malformed(
                &model.entry,
                "neither `mean` nor `std`",
            ));
        }
    };
    let input = n.shape.input("input", n.dir)?;
    vector_in(st, n.dir, &input, width)?;
    let out = n.shape.output("output", n.dir)?;
    let mut attrs = Vec::new();
    if let Some(m) = mean {
        attrs.push(("mean", st.f64_tensor(&[width], &m)));
    }
    if let Some(s) = std {
        attrs.push(("std", st.f64_tensor(&[width], &s)));
    }
    st.stage(
        n,
        "spark.standard_scaler",
        vec![input],
        vec![("Y", out, Kind::Vector(width))],
        attrs,
    )
}

/// `min_max_scaler`: Spark's `originalMin`/`originalMax` as `min`/`max`, the target range as
/// `min_value`/`max_value`.
pub(super) fn min_max_scaler(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let model = n.model;
    let lo = model.f64s("min")?;
    let hi = model.f64s("max")?;
    if lo.len() != hi.len() {
        return Err(ImportError::malformed(
            &model.entry,
            format!("`min` has {} values, `max` {}", lo.len(), hi.len()),
        ));
    }
    let (min, max) = (
        opt_f64(model, "min_value", 0.0)?,
        opt_f64(model, "max_value", 1.0)?,
    );
    let width = lo.len();
    let (input, out) = (
        n.shape.input("input", n.dir)?,
        n.shape.output("output", n.dir)?,
    );
    vector_in(st, n.dir, &input, width)?;
    let attrs = vec![
        ("original_min", st.f64_tensor(&[width], &lo)),
        ("original_max", st.f64_tensor(&[width], &hi)),
        ("min", Attr::F64(min)),
        ("max", Attr::F64(max)),
    ];
    st.stage(
        n,
        "spark.min_max_scaler",
        vec![input],
        vec![("Y", out, Kind::Vector(width))],
        attrs,
    )
}

/// `max_abs_scaler`.
pub(super) fn max_abs_scaler(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let m = n.model.f64s("maxAbs")?;
    let width = m.len();
    let (input, out) = (
        n.shape.input("input", n.dir)?,
        n.shape.output("output", n.dir)?,
    );
    vector_in(st, n.dir, &input, width)?;
    let m = st.f64_tensor(&[width], &m);
    st.stage(
        n,
        "spark.max_abs_scaler",
        vec![input],
        vec![("Y", out, Kind::Vector(width))],
        vec![("max_abs", m)],
    )
}

/// `normalizer` to unit `p_norm`.
pub(super) fn normalizer(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let p = n.model.f64("p_norm")?;
    let (input, out) = (
        n.shape.input("input", n.dir)?,
        n.shape.output("output", n.dir)?,
    );
    let width = vector_width(st, n.model, n.dir, &input)?;
    st.stage(
        n,
        "spark.normalizer",
        vec![input],
        vec![("Y", out, Kind::Vector(width))],
        vec![("p", Attr::F64(p))],
    )
}

/// `pca`: a projection onto the principal components.
pub(super) fn pca(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let (features, k, data) = n.model.matrix("principal_components")?;
    // Column-major [n, k]: each component's n loadings are contiguous, which is the row-major
    // [k, n] layout `spark.pca` takes.
    let (input, out) = (
        n.shape.input("input", n.dir)?,
        n.shape.output("output", n.dir)?,
    );
    vector_in(st, n.dir, &input, features)?;
    let components = st.f64_tensor(&[k, features], &data);
    st.stage(
        n,
        "spark.pca",
        vec![input],
        vec![("Y", out, Kind::Vector(k))],
        vec![("components", components)],
    )
}

/// `polynomial_expansion` of `degree`; its width is the number of monomials, bounded.
pub(super) fn polynomial_expansion(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let degree = n.model.i64("degree")?;
    let d = usize::try_from(degree)
        .ok()
        .filter(|&d| d >= 1)
        .ok_or_else(|| ImportError::malformed(&n.model.entry, format!("degree {degree}")))?;
    let (input, out) = (
        n.shape.input("input", n.dir)?,
        n.shape.output("output", n.dir)?,
    );
    let features = vector_width(st, n.model, n.dir, &input)?;
    let width = binomial(features + d, d)
        .map(|c| c - 1)
        .filter(|&w| w <= MAX_WIDTH)
        .ok_or_else(|| {
            ImportError::unsupported(
                n.dir,
                format!("{features} features at degree {d} give too many terms"),
            )
        })?;
    st.stage(
        n,
        "spark.polynomial_expansion",
        vec![input],
        vec![("Y", out, Kind::Vector(width))],
        vec![("degree", Attr::I64(degree))],
    )
}

/// `C(n, k)`, `None` on overflow.
fn binomial(n: usize, k: usize) -> Option<usize> {
    let mut c: usize = 1;
    for i in 0..k {
        c = c.checked_mul(n - i)? / (i + 1);
    }
    Some(c)
}
