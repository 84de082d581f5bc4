//! A stage's fitted data as Spark's model readers see it: the parquet values of `read.rs`
//! ([`V`]) taken apart into numbers, lists, structs, Spark ML vectors and matrices, every
//! mismatch refused naming the stage and field.

use super::Error;
use super::read::V;
use super::stage::Stage;
use std::collections::BTreeMap;

/// Largest vector or matrix a stage may declare (a hostile `size` must not allocate at will).
pub(super) const MAX_ELEMENTS: usize = 1 << 26;

/// Field `name` of a data row or struct.
pub(super) fn field<'a>(
    r: &'a BTreeMap<String, V>,
    name: &str,
    st: &Stage,
) -> Result<&'a V, Error> {
    r.get(name)
        .ok_or_else(|| st.malformed(format!("data has no `{name}` field")))
}

/// A number (any width) as f64.
pub(super) fn as_f64(v: &V, what: &str, st: &Stage) -> Result<f64, Error> {
    match v {
        V::F(x) => Ok(*x),
        V::I(i) => Ok(*i as f64),
        _ => Err(st.malformed(format!("`{what}` is {v:?}, not a number"))),
    }
}

/// An integer (any width).
pub(super) fn as_i64(v: &V, what: &str, st: &Stage) -> Result<i64, Error> {
    match v {
        V::I(i) => Ok(*i),
        _ => Err(st.malformed(format!("`{what}` is {v:?}, not an integer"))),
    }
}

/// A list.
pub(super) fn as_list<'a>(v: &'a V, what: &str, st: &Stage) -> Result<&'a [V], Error> {
    match v {
        V::L(l) => Ok(l),
        _ => Err(st.malformed(format!("`{what}` is not a list"))),
    }
}

/// A struct, by field name.
pub(super) fn as_struct<'a>(
    v: &'a V,
    what: &str,
    st: &Stage,
) -> Result<&'a BTreeMap<String, V>, Error> {
    match v {
        V::R(r) => Ok(r),
        _ => Err(st.malformed(format!("`{what}` is not a struct"))),
    }
}

/// A list of numbers as f64.
pub(super) fn f64_list(v: &V, what: &str, st: &Stage) -> Result<Vec<f64>, Error> {
    as_list(v, what, st)?
        .iter()
        .map(|x| as_f64(x, what, st))
        .collect()
}

/// A size or index, refused past [`MAX_ELEMENTS`] so that a hostile value cannot allocate at
/// will.
pub(super) fn usize_of(i: i64, what: &str, st: &Stage) -> Result<usize, Error> {
    usize::try_from(i)
        .ok()
        .filter(|n| *n <= MAX_ELEMENTS)
        .ok_or_else(|| st.malformed(format!("`{what}` = {i} is out of range")))
}

/// A Spark ML vector (`VectorUDT` struct: type 0 sparse with size/indices/values, 1 dense),
/// as dense values, and whether it was stored sparse.
pub(super) fn vector(v: &V, what: &str, st: &Stage) -> Result<(Vec<f64>, bool), Error> {
    let r = as_struct(v, what, st)?;
    let kind = as_i64(field(r, "type", st)?, what, st)?;
    let values = f64_list(field(r, "values", st)?, what, st)?;
    match kind {
        1 => Ok((values, false)),
        0 => {
            let size = usize_of(as_i64(field(r, "size", st)?, what, st)?, what, st)?;
            let mut out = vec![0.0; size];
            let idx = as_list(field(r, "indices", st)?, what, st)?;
            if idx.len() != values.len() {
                return Err(st.malformed(format!("`{what}`: indices and values differ in length")));
            }
            for (i, x) in idx.iter().zip(&values) {
                let i = usize_of(as_i64(i, what, st)?, what, st)?;
                *out.get_mut(i)
                    .ok_or_else(|| st.malformed(format!("`{what}`: index {i} out of range")))? = *x;
            }
            if values.contains(&0.0) {
                return Err(
                    st.unsupported(format!("`{what}`: sparse storage holds an explicit zero"))
                );
            }
            Ok((out, true))
        }
        k => Err(st.malformed(format!("`{what}`: vector type {k}"))),
    }
}

/// A Spark ML matrix (`MatrixUDT` struct) as (rows, cols, row-major values, stored sparse).
pub(super) fn matrix(
    v: &V,
    what: &str,
    st: &Stage,
) -> Result<(usize, usize, Vec<f64>, bool), Error> {
    let r = as_struct(v, what, st)?;
    let kind = as_i64(field(r, "type", st)?, what, st)?;
    let rows = usize_of(as_i64(field(r, "numRows", st)?, what, st)?, what, st)?;
    let cols = usize_of(as_i64(field(r, "numCols", st)?, what, st)?, what, st)?;
    let n = rows
        .checked_mul(cols)
        .filter(|n| *n <= MAX_ELEMENTS)
        .ok_or_else(|| st.malformed(format!("`{what}`: {rows}x{cols} is too large")))?;
    let transposed = matches!(field(r, "isTransposed", st)?, V::B(true));
    let values = f64_list(field(r, "values", st)?, what, st)?;
    let mut out = vec![0.0; n];
    match kind {
        1 => {
            if values.len() != n {
                return Err(st.malformed(format!(
                    "`{what}`: {} values for {rows}x{cols}",
                    values.len()
                )));
            }
            for i in 0..rows {
                for j in 0..cols {
                    // Dense matrices are column-major unless transposed (then row-major).
                    out[i * cols + j] = if transposed {
                        values[i * cols + j]
                    } else {
                        values[j * rows + i]
                    };
                }
            }
            Ok((rows, cols, out, false))
        }
        0 => {
            // CSC (colPtrs over columns, rowIndices); transposed: CSR over rows.
            let ptrs: Vec<i64> = as_list(field(r, "colPtrs", st)?, what, st)?
                .iter()
                .map(|x| as_i64(x, what, st))
                .collect::<Result<_, _>>()?;
            let idx: Vec<i64> = as_list(field(r, "rowIndices", st)?, what, st)?
                .iter()
                .map(|x| as_i64(x, what, st))
                .collect::<Result<_, _>>()?;
            let (major, minor) = if transposed {
                (rows, cols)
            } else {
                (cols, rows)
            };
            let bad = || st.malformed(format!("`{what}`: inconsistent sparse matrix"));
            if ptrs.len() != major + 1 || idx.len() != values.len() {
                return Err(bad());
            }
            for m in 0..major {
                let (a, b) = (
                    usize_of(ptrs[m], what, st)?,
                    usize_of(ptrs[m + 1], what, st)?,
                );
                if a > b || b > values.len() {
                    return Err(bad());
                }
                for k in a..b {
                    let o = usize_of(idx[k], what, st)?;
                    if o >= minor {
                        return Err(bad());
                    }
                    let (i, j) = if transposed { (m, o) } else { (o, m) };
                    out[i * cols + j] = values[k];
                }
            }
            if values.contains(&0.0) {
                return Err(
                    st.unsupported(format!("`{what}`: sparse storage holds an explicit zero"))
                );
            }
            Ok((rows, cols, out, true))
        }
        k => Err(st.malformed(format!("`{what}`: matrix type {k}"))),
    }
}

/// A list of strings (labels, vocabulary).
pub(super) fn strings(v: &V, st: &Stage) -> Result<Vec<String>, Error> {
    as_list(v, "labels", st)?
        .iter()
        .map(|s| match s {
            V::S(s) => Ok(s.clone()),
            _ => Err(st.malformed("a label is not a string")),
        })
        .collect()
}
