//! A safe wrapper around `gemm::gemm` for the network's three products (forward `X·Wᵀ`, weight
//! gradient `dZᵀ·X`, input gradient `dZ·W`), written as the runtime's
//! `runtime/src/ops/nn/linalg.rs` wraps it (that one is private to the runtime): every view is
//! checked against its buffer before the one `unsafe` call.

use super::real::Real;

/// A strided matrix operand: element `(i, j)` at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A contiguous row-major matrix with `cols` columns.
    pub fn rows(data: &'a [T], cols: usize) -> Self {
        MatRef {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a contiguous row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [T], cols: usize) -> Self {
        MatRef {
            data,
            rs: 1,
            cs: cols,
        }
    }

    /// Whether every element of a `rows × cols` view lies inside `data`, and the strides fit an
    /// `isize` (what `gemm` takes).
    fn fits(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1).checked_mul(self.rs).and_then(|r| {
            (cols - 1)
                .checked_mul(self.cs)
                .and_then(|c| r.checked_add(c))
        });
        last.is_some_and(|l| l < self.data.len())
            && isize::try_from(self.rs).is_ok()
            && isize::try_from(self.cs).is_ok()
    }
}

/// `c = a·b` (or `c += a·b` when `accumulate`) with `a` `m × k`, `b` `k × n` and `c` a
/// contiguous row-major `m × n` buffer. The network's shapes come from its own layout, so a
/// view that does not fit its buffer is a bug in this crate: it panics rather than read out of
/// bounds.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    accumulate: bool,
) {
    let cells = m.checked_mul(n);
    assert!(
        a.fits(m, k)
            && b.fits(k, n)
            && cells.is_some_and(|x| x <= c.len() && isize::try_from(n).is_ok()),
        "matrix product {m}x{k} · {k}x{n}: operand buffers too small"
    );
    if m == 0 || n == 0 {
        return;
    }
    let c = &mut c[..m * n];
    if k == 0 {
        if !accumulate {
            c.fill(T::ZERO);
        }
        return;
    }
    product(m, n, k, a, b, c, accumulate);
}

/// The product itself: `gemm`'s single-threaded packed kernels (SIMD chosen at run time). The
/// trainer parallelises over batches itself, so no threads here.
#[allow(unsafe_code)]
fn product<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    accumulate: bool,
) {
    // SAFETY: `matmul` checked that every element `i * rs + j * cs` of the `m × k` view of `a`,
    // the `k × n` view of `b` and the contiguous `m × n` destination lies inside its slice, and
    // that every stride fits an `isize`; `T` is f32 or f64 (the sealed `Real`), which `gemm`
    // supports. The destination is borrowed mutably, so nothing aliases it. `gemm` computes
    // `dst = alpha * dst + beta * lhs · rhs` (alpha read only when `read_dst`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_follow_the_definition() {
        // [[1,2,3],[4,5,6]] · [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
        let a = [1f32, 2., 3., 4., 5., 6.];
        let b = [1f32, 0., 0., 1., 1., 1.];
        let mut c = [100f32; 4];
        matmul(
            2,
            2,
            3,
            MatRef::rows(&a, 3),
            MatRef::rows(&b, 2),
            &mut c,
            false,
        );
        assert_eq!(c, [4., 5., 10., 11.]);
        // Accumulating, through a transposed view of the 3x2 buffer holding Aᵀ.
        let at = [1f64, 4., 2., 5., 3., 6.];
        let b = [1f64, 0., 0., 1., 1., 1.];
        let mut c = [1f64; 4];
        matmul(
            2,
            2,
            3,
            MatRef::transposed(&at, 2),
            MatRef::rows(&b, 2),
            &mut c,
            true,
        );
        assert_eq!(c, [5., 6., 11., 12.]);
    }

    #[test]
    fn an_empty_inner_dimension_gives_zeros() {
        let mut c = [7f32; 2];
        matmul(
            1,
            2,
            0,
            MatRef::rows(&[], 0),
            MatRef::rows(&[], 2),
            &mut c,
            false,
        );
        assert_eq!(c, [0., 0.]);
    }
}
