//! Column encoders and assemblers: `string_indexer`, `reverse_string_indexer`,
//! `one_hot_encoder` (both of MLeap's layouts), `vector_assembler`, `vector_slicer`,
//! `binarizer`, `bucketizer` and `imputer`.

use super::{MAX_WIDTH, declared_width, opt_f64, opt_str, scalar_in, vector_width};
use crate::mleap::ImportError;
use crate::mleap::context::{Kind, OpNode, State};
use keel_bundle::Attr;

/// `handle_invalid` of an indexer or encoder: `error` or `keep` (`skip` drops rows, and keel
/// answers every row).
fn error_or_keep(n: &OpNode<'_>, what: &str) -> Result<String, ImportError> {
    let mode = opt_str(n.model, "handle_invalid", "error")?;
    if mode != "error" && mode != "keep" {
        return Err(ImportError::unsupported(
            n.dir,
            format!("{what} handle_invalid `{mode}` (supported: error, keep)"),
        ));
    }
    Ok(mode)
}

/// `string_indexer`: one string column to its label index.
pub(super) fn string_indexer(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let mode = error_or_keep(n, "string_indexer")?;
    let labels = n.model.strs("labels")?;
    let input = n.shape.input("input", n.dir)?;
    st.read(n.dir, &input, Kind::Utf8)?;
    let out = n.shape.output("output", n.dir)?;
    st.stage(
        n,
        "spark.string_indexer",
        vec![input],
        vec![("Y", out, Kind::F64)],
        vec![
            ("labels", Attr::List(vec![Attr::Strs(labels)])),
            ("handle_invalid", Attr::Str(mode)),
        ],
    )
}

/// `reverse_string_indexer`: an index back to its label (NULL outside the labels).
pub(super) fn reverse_string_indexer(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let labels = n.model.strs("labels")?;
    let (input, out) = (
        n.shape.input("input", n.dir)?,
        n.shape.output("output", n.dir)?,
    );
    scalar_in(st, n.dir, &input)?;
    st.nullable(&out);
    st.stage(
        n,
        "spark.index_to_string",
        vec![input],
        vec![("Y", out, Kind::Utf8)],
        vec![("labels", Attr::List(vec![Attr::Strs(labels)]))],
    )
}

/// `one_hot_encoder`: MLeap 0.8's layout records `size`, MLeap 0.16+'s `category_sizes`.
pub(super) fn one_hot_encoder(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    if n.model.has("size") {
        one_hot_size(n, st)
    } else {
        one_hot_category_sizes(n, st)
    }
}

/// MLeap 0.8's `one_hot_encoder`. MLeap stores `size` (the output vector's length: Spark's
/// category count minus one under `drop_last`) and lights element `i` for an index `i < size`,
/// writing an empty vector for the index `size` (the dropped last category, or the unseen
/// category a `keep` indexer writes); it ignores `drop_last` when scoring, since `size`
/// already accounts for it. That is keel's encoder fitted with `size + 1` categories under
/// `drop_last` and `handle_invalid: error`, the same on every index a string indexer can write
/// (`0..=size`). Beyond that the two differ: an index above `size` is an empty vector in MLeap
/// and an error in keel, and a fractional index is an error in MLeap and truncated in keel.
fn one_hot_size(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let (model, dir) = (n.model, n.dir);
    if model.has("drop_last") {
        // Checked for its kind only: scoring ignores it (see above).
        model.bool("drop_last")?;
    }
    let size = model.i64("size")?;
    let width = usize::try_from(size)
        .ok()
        .filter(|&s| s > 0 && s < (1 << 24))
        .ok_or_else(|| ImportError::malformed(&model.entry, format!("size {size}")))?;
    let input = n.shape.input("input", dir)?;
    if st.read(dir, &input, Kind::F64)? != Kind::F64 {
        return Err(ImportError::malformed(
            dir,
            format!("input `{input}` is not a scalar"),
        ));
    }
    let out = n.shape.output("output", dir)?;
    st.stage(
        n,
        "spark.one_hot_encoder",
        vec![input],
        vec![("Y", out, Kind::Vector(width))],
        vec![
            ("sizes", Attr::I64s(vec![size + 1])),
            ("drop_last", Attr::Bool(true)),
            ("handle_invalid", Attr::Str("error".into())),
        ],
    )
}

/// MLeap 0.16+'s one-hot encoder (Spark 3's multi-column `OneHotEncoderModel`):
/// `category_sizes` (one per column), `drop_last`, `handle_invalid`; ports `input0..` and
/// `output0..` (or `input`/`output` for one column). The vector widths follow Spark:
/// `size - 1` with `drop_last` and `error`, `size + 1` without `drop_last` and with `keep`,
/// `size` otherwise.
fn one_hot_category_sizes(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let (model, shape, dir) = (n.model, n.shape, n.dir);
    let sizes = model.i64s("category_sizes")?;
    let drop_last = if model.has("drop_last") {
        model.bool("drop_last")?
    } else {
        true
    };
    let mode = error_or_keep(n, "one_hot_encoder")?;
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
        n,
        "spark.one_hot_encoder",
        inputs,
        outputs,
        vec![
            ("sizes", Attr::I64s(sizes)),
            ("drop_last", Attr::Bool(drop_last)),
            ("handle_invalid", Attr::Str(mode)),
        ],
    )
}

/// `vector_assembler`: scalars and vectors concatenated; a column no stage wrote takes the
/// kind MLeap recorded for it in `input_shapes` (a vector of a bounded, non-zero width, or a
/// scalar).
pub(super) fn vector_assembler(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let (model, dir) = (n.model, n.dir);
    let cols = n.shape.numbered_inputs(dir)?;
    let mut width = 0usize;
    for (i, col) in cols.iter().enumerate() {
        let declared = match declared_width(model, i)? {
            Some(w) => Kind::Vector(w),
            None => Kind::F64,
        };
        width += match st.read(dir, col, declared)? {
            Kind::Utf8 => {
                return Err(ImportError::unsupported(
                    dir,
                    format!("vector_assembler input `{col}` holds strings"),
                ));
            }
            Kind::F64 | Kind::I32 => 1,
            Kind::Vector(w) => w,
        };
    }
    let out = n.shape.output("output", dir)?;
    // `keep`: a NaN passes through as MLeap's assembler does; NULLs never reach it (the
    // inputs are declared non-nullable, and MLeap fails on them).
    st.stage(
        n,
        "spark.vector_assembler",
        cols,
        vec![("Y", out, Kind::Vector(width))],
        vec![("handle_invalid", Attr::Str("keep".into()))],
    )
}

/// `vector_slicer` by `indices`, through the generic `select` op (selection is a copy).
pub(super) fn vector_slicer(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let (model, dir) = (n.model, n.dir);
    if model.has("names") && !model.strs("names")?.is_empty() {
        return Err(ImportError::unsupported(
            dir,
            "vector_slicer selecting by feature name (only `indices` are supported)",
        ));
    }
    let indices = model.i64s("indices")?;
    let (input, out) = (n.shape.input("input", dir)?, n.shape.output("output", dir)?);
    let width_in = vector_width(st, model, dir, &input)?;
    if indices.is_empty()
        || indices
            .iter()
            .any(|&i| i < 0 || i as u64 >= width_in as u64)
    {
        return Err(ImportError::malformed(
            &model.entry,
            format!("indices {indices:?} empty or outside the {width_in} features"),
        ));
    }
    let width = indices.len();
    st.stage(
        n,
        "select",
        vec![input],
        vec![("Y", out, Kind::Vector(width))],
        vec![("indices", Attr::I64s(indices))],
    )
}

/// `binarizer` over a double or a vector column.
pub(super) fn binarizer(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let (model, dir) = (n.model, n.dir);
    let t = model.f64("threshold")?;
    let (input, out) = (n.shape.input("input", dir)?, n.shape.output("output", dir)?);
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
            format!("binarizer input `{input}` is {kind:?} (Spark takes doubles or vectors)"),
        ));
    }
    st.stage(
        n,
        "spark.binarizer",
        vec![input],
        vec![("Y", out, kind)],
        vec![("thresholds", Attr::F64s(vec![t]))],
    )
}

/// `bucketizer`: a double into its bucket; the output is nullable (a NULL input gives NULL).
pub(super) fn bucketizer(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let splits = n.model.f64s("splits")?;
    let mode = error_or_keep(n, "bucketizer")?;
    let (input, out) = (
        n.shape.input("input", n.dir)?,
        n.shape.output("output", n.dir)?,
    );
    scalar_in(st, n.dir, &input)?;
    st.nullable(&out);
    st.stage(
        n,
        "spark.bucketizer",
        vec![input],
        vec![("Y", out, Kind::F64)],
        vec![
            ("splits", Attr::List(vec![Attr::F64s(splits)])),
            ("handle_invalid", Attr::Str(mode)),
        ],
    )
}

/// `imputer`: a missing value replaced by the fitted surrogate.
pub(super) fn imputer(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let s = n.model.f64("surrogate_value")?;
    if s.is_nan() {
        return Err(ImportError::unsupported(
            n.dir,
            "imputer without a surrogate (all values missing at fit)",
        ));
    }
    let missing = opt_f64(n.model, "missing_value", f64::NAN)?;
    let (input, out) = (
        n.shape.input("input", n.dir)?,
        n.shape.output("output", n.dir)?,
    );
    scalar_in(st, n.dir, &input)?;
    st.stage(
        n,
        "spark.imputer",
        vec![input],
        vec![("Y", out, Kind::F64)],
        vec![
            ("surrogates", Attr::F64s(vec![s])),
            ("missing_value", Attr::F64(missing)),
        ],
    )
}
