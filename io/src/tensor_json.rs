//! Tensor columns from JSON (format 1.1 tensor fields): each row is a nested JSON array whose
//! nesting and lengths follow the field's shape (`[[1, 2], [3, 4]]` for a `[2, 2]` tensor), or,
//! in CSV, a field holding that array as text. Rows are checked against the declared shape as
//! they arrive (the error names the element path, e.g. `[1][0]`), and the column is assembled
//! in the Arrow form the runtime declares for the field: a flat fixed-size list for fixed
//! shapes, nested lists when a dimension is symbolic.

use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float16Array, Float32Array, Float64Array,
    Int8Array, Int32Array, Int64Array, ListArray, UInt8Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field as ArrowField};
use keel_bundle::{DType, Field};
use serde_json::value::RawValue;
use std::sync::Arc;

/// The elements of the rows read so far, in one buffer per kind.
#[derive(Debug)]
enum Elements {
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
}

/// A tensor column being built row by row.
#[derive(Debug)]
pub struct TensorBuilder {
    field: Field,
    /// The Arrow type the runtime declares for the field (from `keel_runtime::arrow_schema`).
    arrow: DataType,
    elements: Elements,
    /// Per row, its shape (`None` for a null row, which the runtime refuses by name).
    rows: Vec<Option<Vec<usize>>>,
}

fn symbolic(f: &Field) -> bool {
    f.dims.iter().any(|d| !d.is_empty())
}

impl TensorBuilder {
    /// A builder for tensor field `field`.
    pub fn new(field: &Field) -> Self {
        let arrow = keel_runtime::arrow_schema(std::slice::from_ref(field))
            .field(0)
            .data_type()
            .clone();
        let elements = match field.dtype {
            DType::Bool => Elements::Bool(Vec::new()),
            DType::I64 | DType::I32 | DType::I8 | DType::U8 => Elements::Int(Vec::new()),
            _ => Elements::Float(Vec::new()),
        };
        TensorBuilder {
            field: field.clone(),
            arrow,
            elements,
            rows: Vec::new(),
        }
    }

    /// Appends a null row.
    pub fn append_null(&mut self) {
        if !symbolic(&self.field) {
            // A fixed-size list keeps its slots for a null row.
            let n: u64 = self.field.shape.iter().product();
            for _ in 0..n {
                match &mut self.elements {
                    Elements::Float(v) => v.push(0.0),
                    Elements::Int(v) => v.push(0),
                    Elements::Bool(v) => v.push(false),
                }
            }
        }
        self.rows.push(None);
    }

    /// Appends one row from its raw JSON. Nothing is appended when the row is refused.
    pub fn append_json(&mut self, raw: &RawValue) -> Result<(), String> {
        let value: serde_json::Value =
            serde_json::from_str(raw.get()).map_err(|e| format!("not JSON: {e}"))?;
        let mut shape: Vec<usize> = Vec::with_capacity(self.field.shape.len());
        let mark = match &self.elements {
            Elements::Float(v) => v.len(),
            Elements::Int(v) => v.len(),
            Elements::Bool(v) => v.len(),
        };
        let r = self.walk(&value, 0, &mut shape, &mut String::new());
        if let Err(e) = r {
            match &mut self.elements {
                Elements::Float(v) => v.truncate(mark),
                Elements::Int(v) => v.truncate(mark),
                Elements::Bool(v) => v.truncate(mark),
            }
            return Err(e);
        }
        self.rows.push(Some(shape));
        Ok(())
    }

    fn walk(
        &mut self,
        v: &serde_json::Value,
        level: usize,
        shape: &mut Vec<usize>,
        path: &mut String,
    ) -> Result<(), String> {
        let at = |path: &str| {
            if path.is_empty() {
                String::new()
            } else {
                format!("element {path}: ")
            }
        };
        if level == self.field.shape.len() {
            return self.leaf(v).map_err(|m| format!("{}{m}", at(path)));
        }
        let serde_json::Value::Array(items) = v else {
            return Err(format!(
                "{}expected an array of {} (a tensor {}{:?}), found {}",
                at(path),
                self.field.shape[level],
                self.field.dtype,
                self.field.shape,
                kind(v)
            ));
        };
        let bound = self.field.shape[level];
        let named = self.field.dims.get(level).is_some_and(|d| !d.is_empty());
        let fits = if named {
            !items.is_empty() && items.len() as u64 <= bound
        } else {
            items.len() as u64 == bound
        };
        if !fits {
            return Err(format!(
                "{}expected {} elements on axis {level}, found {}",
                at(path),
                if named {
                    format!("1 to {bound}")
                } else {
                    bound.to_string()
                },
                items.len()
            ));
        }
        match shape.get(level) {
            None => shape.push(items.len()),
            Some(&n) if n != items.len() => {
                return Err(format!(
                    "{}{} elements on axis {level} where a sibling has {n} (a tensor is not ragged)",
                    at(path),
                    items.len()
                ));
            }
            Some(_) => {}
        }
        for (i, item) in items.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            self.walk(item, level + 1, shape, path)?;
            path.truncate(len);
        }
        Ok(())
    }

    fn leaf(&mut self, v: &serde_json::Value) -> Result<(), String> {
        let dtype = self.field.dtype;
        match (&mut self.elements, v) {
            (Elements::Float(out), serde_json::Value::Number(n)) => {
                out.push(n.as_f64().ok_or("a number out of range")?);
            }
            (Elements::Float(out), serde_json::Value::String(s)) => out.push(match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => return Err(format!("expected a number, found the string {s:?}")),
            }),
            (Elements::Int(out), serde_json::Value::Number(n)) => {
                let x = n
                    .as_i64()
                    .ok_or_else(|| format!("expected an integer ({dtype}), found {n}"))?;
                let fits = match dtype {
                    DType::I32 => i32::try_from(x).is_ok(),
                    DType::I8 => i8::try_from(x).is_ok(),
                    DType::U8 => u8::try_from(x).is_ok(),
                    _ => true,
                };
                if !fits {
                    return Err(format!("{x} does not fit in {dtype}"));
                }
                out.push(x);
            }
            (Elements::Bool(out), serde_json::Value::Bool(b)) => out.push(*b),
            (_, other) => {
                return Err(format!("expected a {dtype} element, found {}", kind(other)));
            }
        }
        Ok(())
    }

    /// The rows appended since the last call, as one array; the builder starts over empty.
    pub fn finish(&mut self) -> Result<ArrayRef, String> {
        let rows = std::mem::take(&mut self.rows);
        let empty = match &self.elements {
            Elements::Float(_) => Elements::Float(Vec::new()),
            Elements::Int(_) => Elements::Int(Vec::new()),
            Elements::Bool(_) => Elements::Bool(Vec::new()),
        };
        let elements = std::mem::replace(&mut self.elements, empty);
        let mut leaf_type = &self.arrow;
        while let DataType::List(f) | DataType::FixedSizeList(f, _) = leaf_type {
            leaf_type = f.data_type();
        }
        let values = leaf_array(elements, leaf_type)?;
        let nulls = NullBuffer::from(rows.iter().map(Option::is_some).collect::<Vec<_>>());
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        let fail = |e: arrow_schema::ArrowError| e.to_string();
        if let DataType::FixedSizeList(item, w) = &self.arrow {
            let list =
                FixedSizeListArray::try_new(item.clone(), *w, values, nulls).map_err(fail)?;
            return Ok(Arc::new(list));
        }
        // Nested lists: level by level from the innermost, each list's length taken from the
        // row shapes (a null row is an empty list marked null at the top level).
        let rank = self.field.shape.len();
        let mut arr = values;
        let mut ty = leaf_type.clone();
        for level in (0..rank).rev() {
            let mut offsets = vec![0i32];
            for s in rows.iter() {
                let Some(s) = s else {
                    if level == 0 {
                        offsets.push(*offsets.last().unwrap_or(&0));
                    }
                    continue;
                };
                let count: usize = s[..level].iter().product();
                for _ in 0..count {
                    let next = offsets.last().unwrap_or(&0)
                        + i32::try_from(s[level]).map_err(|_| "too large")?;
                    offsets.push(next);
                }
            }
            let field = Arc::new(ArrowField::new("item", ty.clone(), false));
            let level_nulls = if level == 0 { nulls.clone() } else { None };
            arr = Arc::new(
                ListArray::try_new(
                    field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    arr,
                    level_nulls,
                )
                .map_err(fail)?,
            );
            ty = DataType::List(field);
        }
        Ok(arr)
    }
}

fn leaf_array(elements: Elements, ty: &DataType) -> Result<ArrayRef, String> {
    Ok(match (elements, ty) {
        (Elements::Float(v), DataType::Float64) => Arc::new(Float64Array::from(v)),
        (Elements::Float(v), DataType::Float32) => Arc::new(Float32Array::from(
            v.into_iter().map(|x| x as f32).collect::<Vec<_>>(),
        )),
        (Elements::Float(v), DataType::Float16) => Arc::new(Float16Array::from(
            v.into_iter().map(half::f16::from_f64).collect::<Vec<_>>(),
        )),
        (Elements::Int(v), DataType::Int64) => Arc::new(Int64Array::from(v)),
        (Elements::Int(v), DataType::Int32) => Arc::new(Int32Array::from(
            v.into_iter().map(|x| x as i32).collect::<Vec<_>>(),
        )),
        (Elements::Int(v), DataType::Int8) => Arc::new(Int8Array::from(
            v.into_iter().map(|x| x as i8).collect::<Vec<_>>(),
        )),
        (Elements::Int(v), DataType::UInt8) => Arc::new(UInt8Array::from(
            v.into_iter().map(|x| x as u8).collect::<Vec<_>>(),
        )),
        (Elements::Bool(v), DataType::Boolean) => Arc::new(BooleanArray::from(v)),
        (_, other) => {
            return Err(format!(
                "tensor elements of Arrow type {other} are not supported"
            ));
        }
    })
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn fixed_tensors_read_as_fixed_size_lists() {
        let f = Field::tensor("img", DType::F32, vec![2, 2]);
        let mut b = TensorBuilder::new(&f);
        b.append_json(&raw("[[1, 2], [3, 4.5]]")).unwrap();
        b.append_null();
        let a = b.finish().unwrap();
        assert_eq!(a.len(), 2);
        assert!(a.is_null(1));
        let l = a.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        assert_eq!(l.value_length(), 4);
    }

    #[test]
    fn shapes_are_checked_with_the_element_path() {
        let f = Field::tensor("img", DType::F32, vec![2, 2]);
        let mut b = TensorBuilder::new(&f);
        let e = b.append_json(&raw("[[1, 2], [3]]")).unwrap_err();
        assert!(
            e.contains("element [1]") && e.contains("expected 2 elements on axis 1"),
            "{e}"
        );
        let e = b.append_json(&raw("[[1, 2], [3, \"x\"]]")).unwrap_err();
        assert!(e.contains("element [1][1]"), "{e}");
        // A refused row leaves nothing behind.
        b.append_json(&raw("[[1, 2], [3, 4]]")).unwrap();
        assert_eq!(b.finish().unwrap().len(), 1);
        let ids = Field::tensor("ids", DType::U8, vec![2]);
        let e = TensorBuilder::new(&ids)
            .append_json(&raw("[1, 300]"))
            .unwrap_err();
        assert!(e.contains("300 does not fit in u8"), "{e}");
    }

    #[test]
    fn symbolic_dimensions_read_as_nested_lists() {
        let f = Field {
            dims: vec!["seq".into()],
            ..Field::tensor("tokens", DType::I64, vec![8])
        };
        let mut b = TensorBuilder::new(&f);
        b.append_json(&raw("[1, 2, 3]")).unwrap();
        b.append_json(&raw("[4, 5, 6]")).unwrap();
        let e = b.append_json(&raw("[]")).unwrap_err();
        assert!(e.contains("1 to 8"), "{e}");
        let a = b.finish().unwrap();
        assert_eq!(
            a.data_type(),
            &keel_runtime::arrow_schema(&[f])
                .field(0)
                .data_type()
                .clone()
        );
        assert_eq!(a.len(), 2);
    }
}
