//! Tensor columns in Arrow (SPEC.md section 3, tensor fields).
//!
//! A tensor field whose dimensions are all fixed is Arrow's canonical fixed-shape tensor
//! extension type: a `FixedSizeList` of the row's elements in row-major order, whose field
//! carries `ARROW:extension:name = arrow.fixed_shape_tensor` and the shape in
//! `ARROW:extension:metadata`. A field with a symbolic dimension is nested lists, one level
//! per dimension. Input is taken in either form (and as nested fixed-size lists, what
//! `pyarrow` makes of a multi-dimensional NumPy column), checked row by row against the
//! declared shape: the error names the column, the row, and the expected and found shapes.

use crate::error::Error;
use crate::tensor::{Dim, Tensor, TensorData, TensorType, checked_elements};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float16Array, Float32Array, Float64Array,
    Int8Array, Int32Array, Int64Array, ListArray, UInt8Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field as ArrowField};
use half::bf16;
use keel_bundle::{DType, Field};
use std::collections::HashMap;
use std::sync::Arc;

/// The extension name of Arrow's canonical fixed-shape tensor type.
pub const FIXED_SHAPE_TENSOR: &str = "arrow.fixed_shape_tensor";

/// The Arrow type of one element of a tensor of `dtype`. Arrow has no bfloat16: bf16 tensors
/// travel as f32.
pub fn element_type(dtype: DType) -> DataType {
    match dtype {
        DType::F32 | DType::Bf16 => DataType::Float32,
        DType::F64 => DataType::Float64,
        DType::F16 => DataType::Float16,
        DType::I64 => DataType::Int64,
        DType::I32 => DataType::Int32,
        DType::I8 => DataType::Int8,
        DType::U8 => DataType::UInt8,
        DType::Bool => DataType::Boolean,
        DType::Utf8 | DType::ListUtf8 => DataType::Utf8,
        DType::Binary => DataType::Binary,
    }
}

/// The planned type of a tensor field's column: the batch, then the declared dimensions.
pub fn field_type(f: &Field) -> TensorType {
    let mut shape = vec![Dim::batch()];
    for (i, &n) in f.shape.iter().enumerate() {
        shape.push(match f.dims.get(i).filter(|s| !s.is_empty()) {
            Some(name) => Dim::Sym(name.as_str().into()),
            None => Dim::Known(usize::try_from(n).unwrap_or(usize::MAX)),
        });
    }
    TensorType {
        dtype: f.dtype,
        shape,
    }
}

fn is_symbolic(f: &Field) -> bool {
    f.dims.iter().any(|d| !d.is_empty())
}

/// The Arrow field of a tensor column.
pub fn arrow_field(f: &Field) -> ArrowField {
    let item = element_type(f.dtype);
    if is_symbolic(f) {
        let mut ty = item;
        for _ in &f.shape {
            ty = DataType::List(Arc::new(ArrowField::new("item", ty, false)));
        }
        return ArrowField::new(&f.name, ty, f.nullable);
    }
    let n: u64 = f.shape.iter().product();
    let ty = DataType::FixedSizeList(
        Arc::new(ArrowField::new("item", item, false)),
        i32::try_from(n).unwrap_or(i32::MAX),
    );
    let shape = f
        .shape
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let metadata = HashMap::from([
        (
            "ARROW:extension:name".to_string(),
            FIXED_SHAPE_TENSOR.to_string(),
        ),
        (
            "ARROW:extension:metadata".to_string(),
            format!("{{\"shape\":[{shape}]}}"),
        ),
    ]);
    ArrowField::new(&f.name, ty, f.nullable).with_metadata(metadata)
}

fn shape_err(f: &Field, row: Option<usize>, found: String) -> Error {
    let expected = f
        .shape
        .iter()
        .enumerate()
        .map(|(i, n)| match f.dims.get(i).filter(|s| !s.is_empty()) {
            Some(name) => format!("{name}<={n}"),
            None => n.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Error::TensorShape {
        column: f.name.clone(),
        row,
        expected: format!("{}[{expected}]", f.dtype),
        found,
        node: String::new(),
    }
}

/// The common case read without per-element bookkeeping: a flat fixed-size list of exactly the
/// field's element type, with every dimension fixed and no nulls, whose values are copied in
/// one slice. `None` when any of that does not hold (the general path then reads it).
fn admit_flat(f: &Field, col: &ArrayRef) -> Option<Tensor> {
    if is_symbolic(f) || col.null_count() > 0 {
        return None;
    }
    let list = col.as_fixed_size_list_opt()?;
    let width = usize::try_from(list.value_length()).ok()?;
    let want: u64 = f.shape.iter().product();
    if width as u64 != want || list.values().null_count() > 0 {
        return None;
    }
    let rows = list.len();
    let start = list.value_offset_at(0);
    let n = rows.checked_mul(width)?;
    macro_rules! copy {
        ($t:ty, $variant:ident) => {{
            let v = list.values().as_primitive_opt::<$t>()?.values();
            TensorData::$variant(Arc::new(v.get(start..start + n)?.to_vec()))
        }};
    }
    let data = match (f.dtype, list.values().data_type()) {
        (DType::F32, DataType::Float32) => copy!(Float32Type, F32),
        (DType::F64, DataType::Float64) => copy!(Float64Type, F64),
        (DType::F16, DataType::Float16) => copy!(Float16Type, F16),
        (DType::I64, DataType::Int64) => copy!(Int64Type, I64),
        (DType::I32, DataType::Int32) => copy!(Int32Type, I32),
        (DType::I8, DataType::Int8) => copy!(Int8Type, I8),
        (DType::U8, DataType::UInt8) => copy!(UInt8Type, U8),
        _ => return None,
    };
    let mut shape = vec![rows];
    shape.extend(f.shape.iter().map(|&d| d as usize));
    Tensor::from_data(shape, data).ok()
}

/// Reads a tensor column into a tensor of shape `[rows, shape...]`.
pub fn admit(f: &Field, col: &ArrayRef) -> Result<Tensor, Error> {
    if let Some(t) = admit_flat(f, col) {
        return Ok(t);
    }
    let rows = col.len();
    let rank = f.shape.len();
    // Count list levels to tell the flat form (one level) from the nested one (one per dim).
    let mut levels = 0;
    let mut ty = col.data_type();
    while let DataType::List(c) | DataType::LargeList(c) | DataType::FixedSizeList(c, _) = ty {
        levels += 1;
        ty = c.data_type();
    }
    let flat = levels == 1 && rank > 1 && !is_symbolic(f);
    if levels != rank && !flat {
        return Err(shape_err(
            f,
            None,
            format!("a column of type {}", col.data_type()),
        ));
    }
    // Walk the levels, keeping for every selected element its row and its index in the
    // current level's array; each level's length is checked before descending.
    let mut sel: Vec<(usize, usize)> = (0..rows).map(|r| (r, r)).collect();
    let mut actual: Vec<usize> = Vec::with_capacity(rank);
    let mut arr: ArrayRef = col.clone();
    for level in 0..levels {
        let dims: &[u64] = if flat {
            &f.shape
        } else {
            &f.shape[level..=level]
        };
        let want: u64 = dims.iter().product();
        let symbolic = !flat && f.dims.get(level).is_some_and(|s| !s.is_empty());
        let mut len_here: Option<usize> = None;
        let mut next = Vec::with_capacity(sel.len().saturating_mul(want.min(1 << 20) as usize));
        let values = match arr.data_type() {
            DataType::List(_) => arr.as_list::<i32>().values().clone(),
            DataType::LargeList(_) => arr.as_list::<i64>().values().clone(),
            _ => arr.as_fixed_size_list().values().clone(),
        };
        for &(row, i) in &sel {
            if arr.is_null(i) {
                return Err(Error::Missing {
                    column: f.name.clone(),
                    row,
                    node: "the input schema (a tensor has no missing elements)".into(),
                });
            }
            let (start, len) = match arr.data_type() {
                DataType::List(_) => {
                    let o = arr.as_list::<i32>().value_offsets();
                    (o[i] as usize, (o[i + 1] - o[i]) as usize)
                }
                DataType::LargeList(_) => {
                    let o = arr.as_list::<i64>().value_offsets();
                    (o[i] as usize, (o[i + 1] - o[i]) as usize)
                }
                _ => {
                    let l = arr.as_fixed_size_list();
                    (l.value_offset_at(i), l.value_length() as usize)
                }
            };
            let ok = if symbolic {
                len >= 1 && len as u64 <= want && len_here.is_none_or(|h| h == len)
            } else {
                len as u64 == want
            };
            if !ok {
                let found = match len_here {
                    Some(h) if symbolic && len as u64 <= want && len >= 1 => format!(
                        "{len} elements on axis {level} where earlier rows have {h} (a batch \
                         shares one size per dimension: pad to one length)"
                    ),
                    _ => format!("{len} elements on axis {level}"),
                };
                return Err(shape_err(f, Some(row), found));
            }
            len_here = Some(len);
            next.extend((start..start + len).map(|k| (row, k)));
        }
        if flat {
            actual.extend(f.shape.iter().map(|&n| n as usize));
        } else {
            actual.push(len_here.unwrap_or(want as usize));
        }
        sel = next;
        arr = values;
    }
    let mut shape = vec![rows];
    shape.extend(actual);
    checked_elements(&shape, &f.name)?;
    let data = leaf(f, &arr, &sel)?;
    Tensor::from_data(shape, data)
}

/// Converts the selected leaf elements to the field's dtype; a null element is refused.
fn leaf(f: &Field, arr: &ArrayRef, sel: &[(usize, usize)]) -> Result<TensorData, Error> {
    if let Some(&(row, _)) = sel.iter().find(|&&(_, k)| arr.is_null(k)) {
        return Err(Error::Missing {
            column: f.name.clone(),
            row,
            node: "the input schema (a tensor has no missing elements)".into(),
        });
    }
    let type_err = || Error::ColumnType {
        column: f.name.clone(),
        expected: format!("tensor elements of {}", f.dtype),
        found: arr.data_type().to_string(),
    };
    macro_rules! num {
        ($conv:expr) => {{
            let conv = $conv;
            match arr.data_type() {
                DataType::Float64 => {
                    let a = arr.as_primitive::<Float64Type>().values();
                    sel.iter().map(|&(_, k)| conv(a[k])).collect()
                }
                DataType::Float32 => {
                    let a = arr.as_primitive::<Float32Type>().values();
                    sel.iter().map(|&(_, k)| conv(f64::from(a[k]))).collect()
                }
                DataType::Float16 => {
                    let a = arr.as_primitive::<Float16Type>().values();
                    sel.iter().map(|&(_, k)| conv(a[k].to_f64())).collect()
                }
                DataType::Int64 => {
                    let a = arr.as_primitive::<Int64Type>().values();
                    sel.iter().map(|&(_, k)| conv(a[k] as f64)).collect()
                }
                DataType::Int32 => {
                    let a = arr.as_primitive::<Int32Type>().values();
                    sel.iter().map(|&(_, k)| conv(f64::from(a[k]))).collect()
                }
                DataType::Int16 => {
                    let a = arr.as_primitive::<Int16Type>().values();
                    sel.iter().map(|&(_, k)| conv(f64::from(a[k]))).collect()
                }
                DataType::Int8 => {
                    let a = arr.as_primitive::<Int8Type>().values();
                    sel.iter().map(|&(_, k)| conv(f64::from(a[k]))).collect()
                }
                DataType::UInt8 => {
                    let a = arr.as_primitive::<UInt8Type>().values();
                    sel.iter().map(|&(_, k)| conv(f64::from(a[k]))).collect()
                }
                DataType::UInt16 => {
                    let a = arr.as_primitive::<UInt16Type>().values();
                    sel.iter().map(|&(_, k)| conv(f64::from(a[k]))).collect()
                }
                DataType::UInt32 => {
                    let a = arr.as_primitive::<UInt32Type>().values();
                    sel.iter().map(|&(_, k)| conv(f64::from(a[k]))).collect()
                }
                DataType::UInt64 => {
                    let a = arr.as_primitive::<UInt64Type>().values();
                    sel.iter().map(|&(_, k)| conv(a[k] as f64)).collect()
                }
                _ => return Err(type_err()),
            }
        }};
    }
    macro_rules! int {
        ($t:ty) => {{
            // Integers come exactly from integer columns only, each checked against the range.
            fn read<A: arrow_array::ArrowPrimitiveType>(
                arr: &ArrayRef,
                sel: &[(usize, usize)],
                f: &Field,
            ) -> Result<Vec<$t>, Error>
            where
                A::Native: TryInto<$t> + Copy + std::fmt::Display,
            {
                let a = arr.as_primitive::<A>().values();
                sel.iter()
                    .map(|&(row, k)| {
                        a[k].try_into().map_err(|_| Error::BadValue {
                            column: f.name.clone(),
                            row,
                            message: format!("{} does not fit in {}", a[k], f.dtype),
                        })
                    })
                    .collect()
            }
            match arr.data_type() {
                DataType::Int64 => read::<Int64Type>(arr, sel, f)?,
                DataType::Int32 => read::<Int32Type>(arr, sel, f)?,
                DataType::Int16 => read::<Int16Type>(arr, sel, f)?,
                DataType::Int8 => read::<Int8Type>(arr, sel, f)?,
                DataType::UInt8 => read::<UInt8Type>(arr, sel, f)?,
                DataType::UInt16 => read::<UInt16Type>(arr, sel, f)?,
                DataType::UInt32 => read::<UInt32Type>(arr, sel, f)?,
                DataType::UInt64 => read::<UInt64Type>(arr, sel, f)?,
                _ => return Err(type_err()),
            }
        }};
    }
    Ok(match f.dtype {
        DType::F64 => TensorData::F64(Arc::new(num!(|x: f64| x))),
        DType::F32 => TensorData::F32(Arc::new(num!(|x: f64| x as f32))),
        DType::F16 => TensorData::F16(Arc::new(num!(half::f16::from_f64))),
        DType::Bf16 => TensorData::Bf16(Arc::new(num!(bf16::from_f64))),
        DType::I64 => TensorData::I64(Arc::new(int!(i64))),
        DType::I32 => TensorData::I32(Arc::new(int!(i32))),
        DType::I8 => TensorData::I8(Arc::new(int!(i8))),
        DType::U8 => TensorData::U8(Arc::new(int!(u8))),
        DType::Bool => {
            let Some(b) = arr.as_boolean_opt() else {
                return Err(type_err());
            };
            TensorData::Bool(Arc::new(sel.iter().map(|&(_, k)| b.value(k)).collect()))
        }
        DType::Utf8 | DType::ListUtf8 | DType::Binary => return Err(type_err()),
    })
}

/// The flat Arrow array of a tensor's elements, in the field's element type.
fn values_array(t: &Tensor) -> ArrayRef {
    match &t.data {
        TensorData::F32(v) => Arc::new(Float32Array::from(v.as_ref().clone())),
        TensorData::F64(v) => Arc::new(Float64Array::from(v.as_ref().clone())),
        TensorData::F16(v) => Arc::new(Float16Array::from(v.as_ref().clone())),
        TensorData::Bf16(v) => Arc::new(Float32Array::from(
            v.iter().map(|x| x.to_f32()).collect::<Vec<_>>(),
        )),
        TensorData::I64(v) => Arc::new(Int64Array::from(v.as_ref().clone())),
        TensorData::I32(v) => Arc::new(Int32Array::from(v.as_ref().clone())),
        TensorData::I8(v) => Arc::new(Int8Array::from(v.as_ref().clone())),
        TensorData::U8(v) => Arc::new(UInt8Array::from(v.as_ref().clone())),
        TensorData::Bool(v) => Arc::new(BooleanArray::from(v.as_ref().clone())),
    }
}

/// Writes a tensor of shape `[rows, ...]` as the Arrow column of tensor field `f`, checking
/// that the graph produced what the manifest declares.
pub fn to_arrow(t: Tensor, f: &Field) -> Result<ArrayRef, Error> {
    let ty = field_type(f);
    if t.dtype() != f.dtype || !ty.accepts(&t.shape) {
        return Err(Error::Interface(format!(
            "output `{}` is declared as {ty} but the graph produced {}{:?}",
            f.name,
            t.dtype(),
            t.shape
        )));
    }
    let values = values_array(&t);
    let item = element_type(f.dtype);
    let fail = |e: arrow_schema::ArrowError| Error::Interface(format!("output `{}`: {e}", f.name));
    if !is_symbolic(f) {
        let n: usize = t.shape.iter().skip(1).product();
        let w = i32::try_from(n)
            .map_err(|_| Error::Interface(format!("output `{}`: {n} elements per row", f.name)))?;
        // The row count is given, not derived from the values: a row of an empty tensor has
        // no elements (a list of size 0), so the values cannot tell how many rows there are.
        let rows = t.shape.first().copied().unwrap_or(1);
        let list = FixedSizeListArray::try_new_with_length(
            Arc::new(ArrowField::new("item", item, false)),
            w,
            values,
            None,
            rows,
        )
        .map_err(fail)?;
        return Ok(Arc::new(list));
    }
    // Nested lists, innermost first: every list at level k has shape[k] elements.
    let mut arr = values;
    let mut ty = item;
    for level in (1..t.shape.len()).rev() {
        let len = t.shape[level];
        let count: usize = t.shape[..level].iter().product();
        let offsets = (0..=count)
            .map(|i| i32::try_from(i * len))
            .collect::<Result<Vec<i32>, _>>()
            .map_err(|_| Error::Interface(format!("output `{}` is too large", f.name)))?;
        let field = Arc::new(ArrowField::new("item", ty.clone(), false));
        arr = Arc::new(
            ListArray::try_new(field.clone(), OffsetBuffer::new(offsets.into()), arr, None)
                .map_err(fail)?,
        );
        ty = DataType::List(field);
    }
    Ok(arr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(shape: Vec<u64>, dims: Vec<&str>) -> Field {
        Field {
            dims: dims.into_iter().map(String::from).collect(),
            ..Field::tensor("x", DType::F32, shape)
        }
    }

    #[test]
    fn rows_of_empty_tensors_keep_their_row_count() {
        // Three rows of a [2, 0] tensor: no elements at all, still three rows.
        let f = field(vec![2, 0], vec![]);
        let t = Tensor::new(vec![3, 2, 0], Vec::<f32>::new()).unwrap();
        let col = to_arrow(t.clone(), &f).unwrap();
        assert_eq!(col.len(), 3);
        assert_eq!(col.data_type(), arrow_field(&f).data_type());
        assert_eq!(admit(&f, &col).unwrap(), t);
    }

    #[test]
    fn flat_fixed_size_lists_read_as_tensors_and_write_back() {
        let f = field(vec![2, 3], vec![]);
        let values = Arc::new(Float64Array::from(
            (0..12).map(f64::from).collect::<Vec<_>>(),
        ));
        let col: ArrayRef = Arc::new(
            FixedSizeListArray::try_new(
                Arc::new(ArrowField::new("item", DataType::Float64, false)),
                6,
                values,
                None,
            )
            .unwrap(),
        );
        let t = admit(&f, &col).unwrap();
        assert_eq!(t.shape, vec![2, 2, 3]);
        assert_eq!(t.as_slice::<f32>().unwrap()[7], 7.0);
        let back = to_arrow(t, &f).unwrap();
        assert_eq!(back.data_type(), arrow_field(&f).data_type());
        assert_eq!(
            arrow_field(&f).metadata()["ARROW:extension:name"],
            FIXED_SHAPE_TENSOR
        );
    }

    fn nested(rows: &[Vec<f32>]) -> ArrayRef {
        let mut offsets = vec![0i32];
        let mut values = Vec::new();
        for r in rows {
            values.extend_from_slice(r);
            offsets.push(values.len() as i32);
        }
        Arc::new(
            ListArray::try_new(
                Arc::new(ArrowField::new("item", DataType::Float32, false)),
                OffsetBuffer::new(offsets.into()),
                Arc::new(Float32Array::from(values)),
                None,
            )
            .unwrap(),
        )
    }

    #[test]
    fn a_row_of_the_wrong_length_is_named() {
        let f = field(vec![3], vec![]);
        let e = admit(&f, &nested(&[vec![1.0, 2.0, 3.0], vec![1.0, 2.0]])).unwrap_err();
        assert_eq!(e.code(), "tensor_shape");
        assert_eq!(e.row(), Some(1));
        assert!(e.to_string().contains("2 elements on axis 0"), "{e}");
    }

    #[test]
    fn symbolic_dimensions_take_one_length_per_batch_within_the_bound() {
        let f = field(vec![4], vec!["seq"]);
        let t = admit(&f, &nested(&[vec![1.0, 2.0], vec![3.0, 4.0]])).unwrap();
        assert_eq!(t.shape, vec![2, 2]);
        let back = to_arrow(t, &f).unwrap();
        assert_eq!(back.data_type(), arrow_field(&f).data_type());
        let e = admit(&f, &nested(&[vec![1.0, 2.0], vec![3.0]])).unwrap_err();
        assert!(e.to_string().contains("pad to one length"), "{e}");
        let e = admit(&f, &nested(&[vec![1.0; 5]])).unwrap_err();
        assert_eq!(e.row(), Some(0));
    }

    #[test]
    fn integers_out_of_range_and_floats_for_integers_are_refused() {
        let f = Field::tensor("ids", DType::I8, vec![1]);
        let col: ArrayRef = Arc::new(
            FixedSizeListArray::try_new(
                Arc::new(ArrowField::new("item", DataType::Int64, false)),
                1,
                Arc::new(Int64Array::from(vec![1, 300])),
                None,
            )
            .unwrap(),
        );
        let e = admit(&f, &col).unwrap_err();
        assert_eq!((e.code(), e.row()), ("bad_value", Some(1)));
        let e = admit(&f, &nested(&[vec![1.0]])).unwrap_err();
        assert_eq!(e.code(), "column_type");
    }
}
