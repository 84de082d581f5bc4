//! `spark.polynomial_expansion`: Spark ML's `PolynomialExpansion.transform`.
//!
//! Ports: `X` (a vector of `n` elements) -> `Y` (a vector of `C(n + d, d) - 1` elements).
//! Attribute: `degree` (i64, `d >= 1`).
//!
//! Spark's term order is its recursion, `f([a, b, c], d) = f([a, b], d) ++ f([a, b], d - 1) * c
//! ++ ... ++ [c^d]` (so `(x, y)` at degree 2 gives `x, x², y, x·y, y²`), and its products are
//! built the same way: the multiplier passed down is `1 * c * c ...`, a branch stops as soon as
//! its multiplier is exactly 0 (leaving zeros), and the constant term is dropped. This op runs
//! that recursion on the dense vector, as Spark does for a dense input. (For a sparse input
//! Spark skips zero elements altogether, which gives the same numbers unless the vector also
//! holds an infinity.)

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Matrix, Value, gather};

/// The largest output width the op plans (Spark's own limit is `Int.MaxValue`).
const MAX_WIDTH: u128 = 1 << 24;

#[derive(Debug)]
struct PolynomialExpansion {
    degree: usize,
    n: usize,
    width: usize,
}

/// `C(n + d, d)`, Spark's `getPolySize`, or `None` past `MAX_WIDTH`.
fn poly_size(n: usize, d: usize) -> Option<usize> {
    let mut c: u128 = 1;
    for i in 1..=d as u128 {
        c = c * (n as u128 + i) / i;
        if c > MAX_WIDTH + 1 {
            return None;
        }
    }
    usize::try_from(c).ok()
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let degree = ctx.usize("degree")?;
    if degree == 0 || n == 0 {
        return Err(ctx.err("`degree` and the input width must be at least 1"));
    }
    let width = poly_size(n, degree).map(|s| s - 1).ok_or_else(|| {
        ctx.err(format!(
            "{n} features at degree {degree} expand past {MAX_WIDTH} terms"
        ))
    })?;
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", (0..width).map(|i| format!("poly[{i}]")).collect())?],
        kernel: Box::new(PolynomialExpansion { degree, n, width }),
    })
}

/// Spark's `expandDense`: writes the terms of `values[..=last]` up to `degree`, times
/// `multiplier`, from position `cur` (-1 is the dropped constant); returns the position after
/// them. `last` is `None` when no feature is left.
fn expand(
    values: &[f64],
    last: Option<usize>,
    degree: usize,
    multiplier: f64,
    out: &mut [f64],
    cur: isize,
) -> isize {
    if multiplier == 0.0 {
        // Spark leaves the block at zero.
    } else if degree == 0 || last.is_none() {
        if let Ok(i) = usize::try_from(cur) {
            out[i] = multiplier;
        }
    } else if let Some(l) = last {
        let v = values[l];
        let mut alpha = multiplier;
        let mut start = cur;
        let mut i = 0;
        while i <= degree && alpha != 0.0 {
            start = expand(values, l.checked_sub(1), degree - i, alpha, out, start);
            i += 1;
            alpha *= v;
        }
    }
    // The block spans all terms of the first `last + 1` features up to `degree`; sizes were
    // bounded at load, so this cannot overflow.
    let n = last.map_or(0, |l| l + 1);
    cur + poly_size(n, degree).unwrap_or(0) as isize
}

impl Kernel for PolynomialExpansion {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        let mut out = Matrix::zeros(rows, self.width);
        for (xr, yr) in x
            .data
            .chunks_exact(self.n)
            .zip(out.data.chunks_exact_mut(self.width.max(1)))
        {
            expand(xr, Some(self.n - 1), self.degree, 1.0, yr, -1);
        }
        Ok(vec![Value::Matrix(out)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_term_order() {
        // Spark's documented example: (x, y) at degree 2 -> (x, x*x, y, x*y, y*y).
        let mut out = vec![0.0; 5];
        expand(&[2.0, 3.0], Some(1), 2, 1.0, &mut out, -1);
        assert_eq!(out, vec![2.0, 4.0, 3.0, 6.0, 9.0]);
        // A zero stops its branch: terms holding it stay 0.
        let mut out = vec![0.0; 9];
        expand(&[0.0, 2.0, 3.0], Some(2), 2, 1.0, &mut out, -1);
        assert_eq!(out, vec![0.0, 0.0, 2.0, 0.0, 4.0, 3.0, 0.0, 6.0, 9.0]);
        assert_eq!(poly_size(3, 2), Some(10));
    }
}
