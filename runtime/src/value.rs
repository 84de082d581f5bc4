//! Values that flow between stages, and the helpers ops use to read them.
//!
//! A column is either an Arrow array (scalar per row: the input columns, labels, predictions;
//! or a `List<Utf8>` of tokens per row between Spark's text stages), a dense row-major f64
//! [`Matrix`] (a feature block: the output of scalers, encoders, concatenation), or a
//! [`SparseMatrix`] (a CSR feature block: hashed or counted term frequencies, whose width, 2^18
//! by default in Spark's `HashingTF`, is far too wide to densify). Row-major because every
//! model kernel (dot products, tree walks, MLP layers) reads one row at a time.
//!
//! Networks pass N-d [`Tensor`]s (`Value::Tensor`), whose axis 0 is the batch; an op that
//! reads features from a tensor sees it flattened to one row per index of axis 0.
//!
//! Only ops that declare it (`OpEntry::sparse_input` in the registry) ever see a sparse value:
//! for every other op the planner inserts a densifying step when the block is at most
//! [`DENSIFY_LIMIT`] wide and refuses the graph, naming the column, when it is wider.

use crate::error::Error;
use crate::tensor::{Tensor, TensorType};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, StringArray};
use arrow_schema::DataType;
use ndarray::{ArrayView2, ArrayViewMut2};
use std::borrow::Cow;

/// A dense row-major block of f64 features.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns (features).
    pub cols: usize,
    /// `rows * cols` values, row by row.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A zero-filled matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Wraps row-major data.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        debug_assert_eq!(rows * cols, data.len());
        Matrix { rows, cols, data }
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, mutably.
    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// An ndarray view, for kernels that use ndarray's linear algebra.
    #[allow(clippy::expect_used)] // rows * cols == data.len() is an internal invariant
    pub fn view(&self) -> ArrayView2<'_, f64> {
        ArrayView2::from_shape((self.rows, self.cols), &self.data).expect("matrix shape")
    }

    /// A mutable ndarray view.
    #[allow(clippy::expect_used)] // rows * cols == data.len() is an internal invariant
    pub fn view_mut(&mut self) -> ArrayViewMut2<'_, f64> {
        ArrayViewMut2::from_shape((self.rows, self.cols), &mut self.data).expect("matrix shape")
    }
}

/// The widest sparse feature block that is densified for an op that reads dense features:
/// a chunk of [`crate::CHUNK_ROWS`] rows then takes at most 1024 x 65536 x 8 bytes =
/// 512 MiB. Wider blocks are refused at plan time, naming the column.
pub const DENSIFY_LIMIT: usize = 1 << 16;

/// A CSR (compressed sparse row) block of f64 features, as Spark's `SparseVector` rows: per
/// row, strictly increasing column indices and their values (a stored value may be 0, as in
/// Spark).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseMatrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns (features).
    pub cols: usize,
    /// `rows + 1` offsets into `indices`/`values`; row `i` is `indptr[i]..indptr[i + 1]`.
    pub indptr: Vec<usize>,
    /// Column indices, increasing within a row.
    pub indices: Vec<u32>,
    /// The stored values.
    pub values: Vec<f64>,
}

impl SparseMatrix {
    /// An empty block of `cols` columns, to be filled row by row with [`Self::push_row`].
    pub fn with_capacity(rows: usize, cols: usize, nnz: usize) -> Self {
        let mut indptr = Vec::with_capacity(rows + 1);
        indptr.push(0);
        SparseMatrix {
            rows: 0,
            cols,
            indptr,
            indices: Vec::with_capacity(nnz),
            values: Vec::with_capacity(nnz),
        }
    }

    /// Appends a row from `(index, value)` pairs; they are sorted here (callers build rows
    /// from hash maps), and every index must be below `cols` (the callers compute indices
    /// modulo the width or from a vocabulary of that size).
    pub fn push_row(&mut self, entries: &mut [(u32, f64)]) {
        entries.sort_unstable_by_key(|e| e.0);
        for &(j, v) in entries.iter() {
            debug_assert!((j as usize) < self.cols);
            self.indices.push(j);
            self.values.push(v);
        }
        self.indptr.push(self.indices.len());
        self.rows += 1;
    }

    /// Row `i`: its indices and values.
    #[inline]
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// The value at `(row, col)` (0 where nothing is stored).
    pub fn get(&self, row: usize, col: usize) -> f64 {
        let (idx, val) = self.row(row);
        match idx.binary_search(&(col as u32)) {
            Ok(k) => val[k],
            Err(_) => 0.0,
        }
    }

    /// The dense equivalent. Only called for blocks at most [`DENSIFY_LIMIT`] wide (the
    /// planner refuses wider ones), so the allocation is bounded.
    pub fn to_dense(&self) -> Matrix {
        let mut m = Matrix::zeros(self.rows, self.cols);
        for i in 0..self.rows {
            let (idx, val) = self.row(i);
            let r = m.row_mut(i);
            for (&j, &v) in idx.iter().zip(val) {
                r[j as usize] = v;
            }
        }
        m
    }
}

/// A column value.
#[derive(Debug, Clone)]
pub enum Value {
    /// One scalar per row (or one `List<Utf8>` of tokens per row).
    Array(ArrayRef),
    /// A feature block.
    Matrix(Matrix),
    /// A sparse feature block.
    Sparse(SparseMatrix),
    /// An N-d tensor (networks); axis 0 is the batch.
    Tensor(Tensor),
}

impl Value {
    /// Rows in the value.
    pub fn rows(&self) -> usize {
        match self {
            Value::Array(a) => a.len(),
            Value::Matrix(m) => m.rows,
            Value::Sparse(m) => m.rows,
            Value::Tensor(t) => t.shape.first().copied().unwrap_or(1),
        }
    }

    /// Feature columns the value contributes when stacked.
    pub fn width(&self) -> usize {
        match self {
            Value::Array(_) => 1,
            Value::Matrix(m) => m.cols,
            Value::Sparse(m) => m.cols,
            Value::Tensor(t) => t.shape.iter().skip(1).product(),
        }
    }
}

/// The planned type of a column, known before any data is seen.
#[derive(Debug, Clone, PartialEq)]
pub enum ColType {
    /// A scalar Arrow column of this type.
    Scalar(keel_bundle::DType),
    /// An f64 feature block of this many columns.
    Vector(usize),
    /// A sparse f64 feature block of this many columns (see [`SparseMatrix`]). Its
    /// [`ColInfo::names`] are not materialised (a block may be 2^31 wide): ops name its
    /// features `column[j]`.
    Sparse(usize),
    /// A list of strings per row (Arrow `List<Utf8>`): the tokens Spark's text stages pass
    /// along, and what a bundle declares as a `list<utf8>` input or output.
    StrList,
    /// An N-d tensor (`Value::Tensor`). Ops that read features see it flattened after axis 0;
    /// its width is then the product of the other dimensions, when they are known.
    Tensor(TensorType),
}

impl ColType {
    /// Feature columns contributed when stacked.
    pub fn width(&self) -> usize {
        match self {
            ColType::Scalar(_) | ColType::StrList => 1,
            ColType::Vector(w) | ColType::Sparse(w) => *w,
            ColType::Tensor(t) => t
                .shape
                .iter()
                .skip(1)
                .map(|d| d.known().unwrap_or(0))
                .product(),
        }
    }

    /// Whether it can feed a numeric feature matrix.
    pub fn is_numeric(&self) -> bool {
        match self {
            ColType::Scalar(d) => d.is_numeric() || *d == keel_bundle::DType::Bool,
            ColType::Vector(_) | ColType::Sparse(_) => true,
            ColType::StrList => false,
            // A tensor feeds a feature block only when every dimension after the batch is
            // known (the block's width is fixed at load).
            ColType::Tensor(t) => t.shape.iter().skip(1).all(|d| d.known().is_some()),
        }
    }
}

/// A planned column: its type and the names of its features (used in error messages so they
/// can name `age` rather than "feature 3").
#[derive(Debug, Clone, PartialEq)]
pub struct ColInfo {
    /// The type.
    pub ty: ColType,
    /// One name per feature column (`width` names).
    pub names: Vec<String>,
}

impl ColInfo {
    /// A scalar column named `name`.
    pub fn scalar(name: &str, dtype: keel_bundle::DType) -> Self {
        ColInfo {
            ty: ColType::Scalar(dtype),
            names: vec![name.to_string()],
        }
    }

    /// A feature block with the given feature names.
    pub fn vector(names: Vec<String>) -> Self {
        ColInfo {
            ty: ColType::Vector(names.len()),
            names,
        }
    }
}

/// One feature (one column of what a port stacks), borrowed from its value. Categorical ops
/// read features one by one without first converting strings to numbers.
#[derive(Debug, Clone, Copy)]
pub enum Feature<'a> {
    /// Strings.
    Str(&'a StringArray),
    /// Numbers read as f64, nulls as NaN.
    Num(&'a dyn Array),
    /// Booleans.
    Bool(&'a BooleanArray),
    /// Column `j` of a feature block.
    MatCol(&'a Matrix, usize),
    /// Column `j` of a sparse feature block.
    SparseCol(&'a SparseMatrix, usize),
}

impl Feature<'_> {
    /// Numeric value at `row` (NaN for nulls); `None` for strings.
    #[inline]
    pub fn num(&self, row: usize) -> Option<f64> {
        match self {
            Feature::Str(_) => None,
            Feature::Num(a) => Some(num_at(*a, row)),
            Feature::Bool(b) => Some(if b.is_null(row) {
                f64::NAN
            } else if b.value(row) {
                1.0
            } else {
                0.0
            }),
            Feature::MatCol(m, j) => Some(m.data[row * m.cols + j]),
            Feature::SparseCol(m, j) => Some(m.get(row, *j)),
        }
    }

    /// String value at `row`, `None` for null (or for numeric features).
    #[inline]
    pub fn str(&self, row: usize) -> Option<&str> {
        match self {
            Feature::Str(a) if !a.is_null(row) => Some(a.value(row)),
            _ => None,
        }
    }

    /// Whether the value at `row` is missing (null or NaN).
    #[inline]
    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            Feature::Str(a) => a.is_null(row),
            _ => self.num(row).is_none_or(f64::is_nan),
        }
    }
}

#[inline]
fn num_at(a: &dyn Array, row: usize) -> f64 {
    if a.is_null(row) {
        return f64::NAN;
    }
    match a.data_type() {
        DataType::Float64 => a.as_primitive::<Float64Type>().value(row),
        DataType::Float32 => f64::from(a.as_primitive::<Float32Type>().value(row)),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(row) as f64,
        DataType::Int32 => f64::from(a.as_primitive::<Int32Type>().value(row)),
        _ => f64::NAN,
    }
}

/// Splits stacked input values into features, in order.
pub fn features<'a>(inputs: &[&'a Value]) -> Vec<Feature<'a>> {
    let mut out = Vec::with_capacity(inputs.iter().map(|v| v.width()).sum());
    for v in inputs {
        match v {
            Value::Array(a) => out.push(match a.data_type() {
                DataType::Utf8 => Feature::Str(a.as_string::<i32>()),
                DataType::Boolean => Feature::Bool(a.as_boolean()),
                _ => Feature::Num(a.as_ref()),
            }),
            Value::Matrix(m) => out.extend((0..m.cols).map(|j| Feature::MatCol(m, j))),
            Value::Sparse(m) => out.extend((0..m.cols).map(|j| Feature::SparseCol(m, j))),
            // Never reached: the planner gives ops that read features a flattened copy of a
            // tensor (a `Value::Matrix`), as it densifies sparse blocks.
            Value::Tensor(_) => {}
        }
    }
    out
}

/// Stacks input values into one feature matrix (nulls become NaN). A single matrix input is
/// borrowed, not copied: that is the common case inside a pipeline. Sparse blocks are
/// densified: only ops that take sparse input see them, and those densify only what the
/// planner bounded.
pub fn gather<'a>(inputs: &[&'a Value]) -> Cow<'a, Matrix> {
    if let [Value::Matrix(m)] = inputs {
        return Cow::Borrowed(m);
    }
    let rows = inputs.first().map_or(0, |v| v.rows());
    let cols: usize = inputs.iter().map(|v| v.width()).sum();
    let mut data = vec![0.0; rows * cols];
    let mut off = 0;
    for v in inputs {
        match v {
            Value::Matrix(m) => {
                for i in 0..rows {
                    data[i * cols + off..i * cols + off + m.cols].copy_from_slice(m.row(i));
                }
                off += m.cols;
            }
            Value::Sparse(m) => {
                for i in 0..rows {
                    let (idx, val) = m.row(i);
                    for (&j, &v) in idx.iter().zip(val) {
                        data[i * cols + off + j as usize] = v;
                    }
                }
                off += m.cols;
            }
            Value::Array(a) => {
                fill_column(a.as_ref(), &mut data, cols, off);
                off += 1;
            }
            // Never reached (see `features`); skipped rather than trusted.
            Value::Tensor(t) => off += t.shape.iter().skip(1).product::<usize>(),
        }
    }
    Cow::Owned(Matrix { rows, cols, data })
}

fn fill_column(a: &dyn Array, data: &mut [f64], stride: usize, off: usize) {
    macro_rules! fill {
        ($t:ty, $conv:expr) => {{
            let p = a.as_primitive::<$t>();
            let vals = p.values();
            for (i, v) in vals.iter().enumerate() {
                data[i * stride + off] = $conv(*v);
            }
            if p.null_count() > 0 {
                for i in 0..p.len() {
                    if p.is_null(i) {
                        data[i * stride + off] = f64::NAN;
                    }
                }
            }
        }};
    }
    match a.data_type() {
        DataType::Float64 => fill!(Float64Type, |v: f64| v),
        DataType::Float32 => fill!(Float32Type, f64::from),
        DataType::Int64 => fill!(Int64Type, |v: i64| v as f64),
        DataType::Int32 => fill!(Int32Type, f64::from),
        DataType::Boolean => {
            let b = a.as_boolean();
            for i in 0..b.len() {
                data[i * stride + off] = if b.is_null(i) {
                    f64::NAN
                } else if b.value(i) {
                    1.0
                } else {
                    0.0
                };
            }
        }
        // Strings never reach here: the planner refuses a string column on a numeric port.
        _ => {
            for i in 0..a.len() {
                data[i * stride + off] = f64::NAN;
            }
        }
    }
}

/// Checks a feature matrix the way scikit-learn's `check_array` does before a stage that
/// needs it: infinities are always refused; NaN only when `allow_nan` is false. `names` are the
/// feature names, so the error can say which feature and row.
pub fn check_finite(m: &Matrix, names: &[String], allow_nan: bool) -> Result<(), Error> {
    // The fast path is one pass with no branches taken: all finite.
    if m.data.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    for (k, v) in m.data.iter().enumerate() {
        if v.is_finite() || (allow_nan && v.is_nan()) {
            continue;
        }
        let (row, col) = (k / m.cols.max(1), k % m.cols.max(1));
        let column = names.get(col).cloned().unwrap_or_else(|| format!("x{col}"));
        return Err(if v.is_nan() {
            Error::Missing {
                column,
                row,
                node: String::new(),
            }
        } else {
            Error::NonFinite {
                column,
                row,
                value: v.to_string(),
                node: String::new(),
            }
        });
    }
    Ok(())
}
