//! Typed column builders: text (CSV fields) and JSON values go in, Arrow arrays of exactly the
//! type the bundle's input schema declares come out. Parsing here, by the declared type, rather
//! than letting a reader infer types, is what makes a bad value an error that names its row and
//! column instead of a silently different column type.
//!
//! Conventions (documented in `keel score --help`):
//! - numbers: surrounding ASCII whitespace is ignored; `NaN`, `inf`, `-inf`, `Infinity` are
//!   accepted for floats; integers must be integers (`3.0` is refused for an `i64` column);
//! - booleans: `true`/`false` in any case, or `1`/`0`;
//! - CSV: an empty field is a null (for every type, strings included);
//! - JSON: `null` (or an absent key) is a null; floats may also be the strings `"NaN"`,
//!   `"Infinity"`, `"-Infinity"` (JSON has no literal for them; keel's fixtures use these).
//! - lists of strings (`list<utf8>`): in JSON an array whose items are strings or `null`; in
//!   CSV a field holding that JSON array as text (`["a","b"]`), an empty field being a null
//!   list.
//! - tensors (format 1.1): nested JSON arrays in the field's shape (see `tensor_json.rs`); in
//!   CSV a field holding that array as text.
//! - bytes (`binary`, format 1.1): base64 text, RFC 4648's standard alphabet with `=` padding
//!   and no line breaks (Python's `base64.b64encode`); in JSON a string, in CSV the field's
//!   text (an empty field is a null, so an empty byte string is written `""` in JSON only).

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, FixedSizeListBuilder, Float32Builder, Float64Builder,
    Int32Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef};
use base64::Engine;
use keel_bundle::{DType, Field};
use serde_json::value::RawValue;
use std::str::FromStr;
use std::sync::Arc;

/// How a value shows up in an error message: quoted, and cut short if long.
pub fn shown(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

fn parse_float<T: FromStr>(text: &str, dtype: DType) -> Result<Option<T>, String> {
    let t = text.trim_ascii();
    if t.is_empty() {
        return Ok(None);
    }
    // Rust's float grammar is a superset of JSON's and CSV writers' (it also takes `inf`,
    // `infinity`, `nan` in any case), and parses to the nearest value of the target width
    // directly, so an f32 column gets the same rounding as numpy's float32 parse.
    t.parse::<T>()
        .map(Some)
        .map_err(|_| format!("cannot read {} as {dtype}", shown(text)))
}

fn parse_int<T: FromStr + TryFrom<i64>>(text: &str, dtype: DType) -> Result<Option<T>, String> {
    let t = text.trim_ascii();
    if t.is_empty() {
        return Ok(None);
    }
    let wide: i64 = t.parse().map_err(|_| {
        let hint = if t.parse::<f64>().is_ok() {
            " (an integer column takes whole numbers written without a decimal point)"
        } else {
            ""
        };
        format!("cannot read {} as {dtype}{hint}", shown(text))
    })?;
    T::try_from(wide)
        .map(Some)
        .map_err(|_| format!("{wide} is out of range for {dtype}"))
}

fn parse_bool(text: &str) -> Result<Option<bool>, String> {
    let t = text.trim_ascii();
    if t.is_empty() {
        Ok(None)
    } else if t.eq_ignore_ascii_case("true") || t == "1" {
        Ok(Some(true))
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Ok(Some(false))
    } else {
        Err(format!(
            "cannot read {} as bool (expected true, false, 1 or 0)",
            shown(text)
        ))
    }
}

/// A JSON value's kind, for messages.
fn json_kind(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// A JSON float: a number, or one of the strings keel uses for non-finite values.
fn json_float<T: FromStr>(raw: &str, dtype: DType) -> Result<Option<T>, String> {
    match raw.as_bytes().first() {
        Some(b'n') => Ok(None),
        Some(b'"') => {
            let s: String = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            match s.as_str() {
                "NaN" | "Infinity" | "-Infinity" => parse_float(&s, dtype),
                _ => Err(format!(
                    "expected a number, found the string {} (the only strings a number column \
                     takes are \"NaN\", \"Infinity\" and \"-Infinity\")",
                    shown(&s)
                )),
            }
        }
        Some(b'-' | b'0'..=b'9') => parse_float(raw, dtype),
        _ => Err(format!("expected a number, found {}", json_kind(raw))),
    }
}

/// The most bytes one batch's `binary` column may hold: Arrow's `Binary` addresses its values
/// with 32-bit offsets, and a builder past them would panic, so the reader refuses first.
const MAX_BINARY_BATCH_BYTES: usize = i32::MAX as usize;

/// Decodes a base64 cell (standard alphabet, padding required, no whitespace).
fn parse_base64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| {
            format!(
                "cannot read {} as base64 (standard alphabet with `=` padding): {e}",
                shown(text)
            )
        })
}

/// One column being built.
#[derive(Debug)]
enum Builder {
    F64(Float64Builder),
    F32(Float32Builder),
    I64(Int64Builder),
    I32(Int32Builder),
    Bool(BooleanBuilder),
    Utf8(StringBuilder),
    /// An f64 vector per row (the only vector inputs the runtime takes).
    Vector(FixedSizeListBuilder<Float64Builder>, usize),
    /// A list of strings per row (`list<utf8>`).
    StrList(ListBuilder<StringBuilder>),
    /// A tensor per row (format 1.1 tensor fields).
    Tensor(crate::tensor_json::TensorBuilder),
    /// Bytes per row (`binary`), with the bytes appended so far.
    Binary(BinaryBuilder, usize),
}

/// A typed column of the input being assembled, one row at a time.
#[derive(Debug)]
pub struct ColumnBuilder {
    field: Field,
    builder: Builder,
}

/// Rows a builder is sized for when the caller does not say (Arrow's own default).
const DEFAULT_ROWS: usize = 1024;

fn item_field() -> Arc<ArrowField> {
    Arc::new(ArrowField::new("item", DataType::Float64, false))
}

impl ColumnBuilder {
    /// A builder for `field`. Fails for vector fields of a type the runtime cannot take.
    pub fn new(field: &Field) -> Result<Self, String> {
        Self::with_capacity(field, DEFAULT_ROWS)
    }

    /// A builder for `field` sized for `rows` rows: a one-row request then allocates for one
    /// row, not for Arrow's default 1,024 (which was most of a single-row call's cost).
    pub fn with_capacity(field: &Field, rows: usize) -> Result<Self, String> {
        let builder = match (field.shape.as_slice(), field.dtype) {
            _ if field.is_tensor() => {
                Builder::Tensor(crate::tensor_json::TensorBuilder::new(field))
            }
            ([], DType::F64) => Builder::F64(Float64Builder::with_capacity(rows)),
            ([], DType::F32) => Builder::F32(Float32Builder::with_capacity(rows)),
            ([], DType::I64) => Builder::I64(Int64Builder::with_capacity(rows)),
            ([], DType::I32) => Builder::I32(Int32Builder::with_capacity(rows)),
            ([], DType::Bool) => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            ([], DType::Utf8) => Builder::Utf8(StringBuilder::with_capacity(rows, rows * 8)),
            ([], DType::ListUtf8) => Builder::StrList(ListBuilder::with_capacity(
                StringBuilder::with_capacity(rows, rows * 8),
                rows,
            )),
            ([], DType::Binary) => {
                Builder::Binary(BinaryBuilder::with_capacity(rows, rows * 16), 0)
            }
            ([n], DType::F64) => {
                let width = usize::try_from(*n).map_err(|_| "vector too wide".to_string())?;
                let w = i32::try_from(width).map_err(|_| "vector too wide".to_string())?;
                Builder::Vector(
                    FixedSizeListBuilder::with_capacity(
                        Float64Builder::with_capacity(rows.saturating_mul(width)),
                        w,
                        rows,
                    )
                    .with_field(item_field()),
                    width,
                )
            }
            (shape, dtype) => {
                return Err(format!(
                    "input `{}`: {dtype}{shape:?} inputs are not supported",
                    field.name
                ));
            }
        };
        Ok(ColumnBuilder {
            field: field.clone(),
            builder,
        })
    }

    /// The vector width, if this is a vector column.
    pub fn width(&self) -> Option<usize> {
        match &self.builder {
            Builder::Vector(_, w) => Some(*w),
            _ => None,
        }
    }

    /// Appends a scalar from text (`None` or empty = null). Vector columns take their elements
    /// through [`Self::append_text_row`].
    pub fn append_text(&mut self, text: Option<&str>) -> Result<(), String> {
        let t = text.unwrap_or("");
        let dtype = self.field.dtype;
        match &mut self.builder {
            Builder::F64(b) => b.append_option(parse_float(t, dtype)?),
            Builder::F32(b) => b.append_option(parse_float(t, dtype)?),
            Builder::I64(b) => b.append_option(parse_int(t, dtype)?),
            Builder::I32(b) => b.append_option(parse_int(t, dtype)?),
            Builder::Bool(b) => b.append_option(parse_bool(t)?),
            Builder::Utf8(b) => b.append_option((!t.is_empty()).then_some(t)),
            Builder::Vector(..) => return Err("a vector needs one value per element".into()),
            Builder::Binary(b, total) => {
                if t.is_empty() {
                    b.append_null();
                } else {
                    append_bytes(b, total, parse_base64(t)?)?;
                }
            }
            Builder::Tensor(b) => {
                if t.trim_ascii().is_empty() {
                    b.append_null();
                } else {
                    let raw: &RawValue = serde_json::from_str(t).map_err(|_| {
                        format!("expected a tensor as a JSON array, found {}", shown(t))
                    })?;
                    b.append_json(raw)?;
                }
            }
            Builder::StrList(b) => {
                if t.trim_ascii().is_empty() {
                    b.append_null();
                } else {
                    let items: Vec<&RawValue> = serde_json::from_str(t).map_err(|_| {
                        format!(
                            "expected a JSON array of strings (e.g. [\"a\",\"b\"]), found {}",
                            shown(t)
                        )
                    })?;
                    append_str_list(b, &items)?;
                }
            }
        }
        Ok(())
    }

    /// Appends one vector row from the texts of its elements (CSV: one column per element). An
    /// empty element is missing (NaN, which is how the runtime represents a missing feature).
    /// On error, returns the index of the offending element with the message.
    pub fn append_text_row<'t>(
        &mut self,
        elements: impl Iterator<Item = Option<&'t str>>,
    ) -> Result<(), (usize, String)> {
        let Builder::Vector(b, _) = &mut self.builder else {
            return Err((0, "not a vector column".into()));
        };
        for (j, t) in elements.enumerate() {
            let v = parse_float::<f64>(t.unwrap_or(""), DType::F64).map_err(|m| (j, m))?;
            b.values().append_value(v.unwrap_or(f64::NAN));
        }
        b.append(true);
        Ok(())
    }

    /// Appends a value from its raw JSON text (`None` = the key is absent = null).
    pub fn append_json(&mut self, raw: Option<&RawValue>) -> Result<(), String> {
        let raw = raw.map(RawValue::get).unwrap_or("null");
        if raw == "null" {
            self.append_null();
            return Ok(());
        }
        let dtype = self.field.dtype;
        let first = raw.as_bytes().first().copied();
        match &mut self.builder {
            Builder::F64(b) => b.append_option(json_float(raw, dtype)?),
            Builder::F32(b) => b.append_option(json_float(raw, dtype)?),
            Builder::I64(b) => match first {
                Some(b'-' | b'0'..=b'9') => b.append_option(parse_int(raw, dtype)?),
                _ => return Err(format!("expected an integer, found {}", json_kind(raw))),
            },
            Builder::I32(b) => match first {
                Some(b'-' | b'0'..=b'9') => b.append_option(parse_int(raw, dtype)?),
                _ => return Err(format!("expected an integer, found {}", json_kind(raw))),
            },
            Builder::Bool(b) => match raw {
                "true" => b.append_value(true),
                "false" => b.append_value(false),
                _ => return Err(format!("expected true or false, found {}", json_kind(raw))),
            },
            Builder::Utf8(b) => {
                if first != Some(b'"') {
                    return Err(format!(
                        "expected a string, found {} {}",
                        json_kind(raw),
                        shown(raw)
                    ));
                }
                let s: std::borrow::Cow<'_, str> =
                    serde_json::from_str(raw).map_err(|e| e.to_string())?;
                b.append_value(s);
            }
            Builder::Vector(_, width) => {
                let items: Vec<&RawValue> = serde_json::from_str(raw).map_err(|_| {
                    format!(
                        "expected an array of {width} numbers, found {}",
                        json_kind(raw)
                    )
                })?;
                return self.append_json_vector(&items);
            }
            Builder::StrList(b) => {
                let items: Vec<&RawValue> = serde_json::from_str(raw).map_err(|_| {
                    format!("expected an array of strings, found {}", json_kind(raw))
                })?;
                append_str_list(b, &items)?;
            }
            Builder::Tensor(b) => {
                let v: &RawValue = serde_json::from_str(raw).map_err(|e| e.to_string())?;
                b.append_json(v)?;
            }
            Builder::Binary(b, total) => {
                if first != Some(b'"') {
                    return Err(format!(
                        "expected bytes as a base64 string, found {}",
                        json_kind(raw)
                    ));
                }
                let text: std::borrow::Cow<'_, str> =
                    serde_json::from_str(raw).map_err(|e| e.to_string())?;
                append_bytes(b, total, parse_base64(&text)?)?;
            }
        }
        Ok(())
    }

    /// Appends one vector row from the raw JSON of its elements (a JSON array's items, or an
    /// MLeap dense tensor's `values`). Elements are checked before any is appended, so a
    /// refused row leaves the column as it was.
    pub fn append_json_vector(&mut self, items: &[&RawValue]) -> Result<(), String> {
        let mut values = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            let v = json_float::<f64>(item.get(), DType::F64)
                .map_err(|m| format!("element {j}: {m}"))?;
            values.push(v.unwrap_or(f64::NAN));
        }
        self.append_f64_vector(&values)
    }

    /// Appends one vector row of f64 values (NaN = a missing element).
    pub fn append_f64_vector(&mut self, values: &[f64]) -> Result<(), String> {
        let Builder::Vector(b, width) = &mut self.builder else {
            return Err(format!(
                "expected a {} value, found a vector",
                self.field.dtype
            ));
        };
        if values.len() != *width {
            return Err(format!(
                "expected an array of {width} numbers, found {} elements",
                values.len()
            ));
        }
        b.values().append_slice(values);
        b.append(true);
        Ok(())
    }

    fn append_null(&mut self) {
        match &mut self.builder {
            Builder::F64(b) => b.append_null(),
            Builder::F32(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::I32(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Utf8(b) => b.append_null(),
            Builder::Vector(b, width) => {
                for _ in 0..*width {
                    b.values().append_value(f64::NAN);
                }
                b.append(false);
            }
            Builder::StrList(b) => b.append_null(),
            Builder::Tensor(b) => b.append_null(),
            Builder::Binary(b, _) => b.append_null(),
        }
    }

    /// The rows appended since the last call, as one array; the builder starts over empty.
    pub fn finish(&mut self) -> ArrayRef {
        match &mut self.builder {
            // A tensor builder's rows were checked as they came: assembling them fails only past
            // Arrow's 2^31 list offsets. The empty null column put there instead does not fit
            // the schema, so `BatchBuilder::finish` reports the batch as an error.
            Builder::Tensor(b) => b
                .finish()
                .unwrap_or_else(|_| arrow_array::new_null_array(&DataType::Null, 0)),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Vector(b, _) => Arc::new(b.finish()),
            Builder::StrList(b) => Arc::new(b.finish()),
            Builder::Binary(b, total) => {
                *total = 0;
                Arc::new(b.finish())
            }
        }
    }
}

/// Appends one row of bytes, refusing it when the batch's column would pass what 32-bit
/// offsets address.
fn append_bytes(b: &mut BinaryBuilder, total: &mut usize, bytes: Vec<u8>) -> Result<(), String> {
    let after = total.saturating_add(bytes.len());
    if after > MAX_BINARY_BATCH_BYTES {
        return Err(format!(
            "the batch's bytes in this column pass {MAX_BINARY_BATCH_BYTES} (Arrow's 32-bit \
             offsets); score fewer rows at once"
        ));
    }
    *total = after;
    b.append_value(bytes);
    Ok(())
}

/// Appends one list row from the raw JSON of its items: each a string or `null` (a null
/// element, which ops treat as Spark does). Items are checked before any is appended, so a
/// refused row leaves the column as it was.
fn append_str_list(b: &mut ListBuilder<StringBuilder>, items: &[&RawValue]) -> Result<(), String> {
    let mut values: Vec<Option<String>> = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let raw = item.get();
        match raw.as_bytes().first() {
            Some(b'n') => values.push(None),
            Some(b'"') => values.push(Some(
                serde_json::from_str(raw).map_err(|e| format!("element {j}: {e}"))?,
            )),
            _ => {
                return Err(format!(
                    "element {j}: expected a string or null, found {} {}",
                    json_kind(raw),
                    shown(raw)
                ));
            }
        }
    }
    for v in values {
        b.values().append_option(v);
    }
    b.append(true);
    Ok(())
}

/// The schema of the batches the readers hand to the runtime: the bundle's input types, every
/// column nullable. Nullability is the runtime's to enforce: it reports the row and column of a
/// null in a non-nullable input, where Arrow would only refuse the whole batch.
pub fn reader_schema(fields: &[Field]) -> SchemaRef {
    let declared = keel_runtime::arrow_schema(fields);
    Arc::new(Schema::new(
        declared
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

/// The builders of all input columns, with the schema their arrays assemble into.
#[derive(Debug)]
pub struct BatchBuilder {
    /// One builder per declared field, in the schema's order.
    pub columns: Vec<ColumnBuilder>,
    schema: SchemaRef,
}

impl BatchBuilder {
    /// Builders for the bundle's input fields.
    pub fn new(fields: &[Field]) -> Result<Self, String> {
        Self::with_capacity(fields, DEFAULT_ROWS)
    }

    /// Builders for the bundle's input fields, sized for `rows` rows.
    pub fn with_capacity(fields: &[Field], rows: usize) -> Result<Self, String> {
        Ok(BatchBuilder {
            columns: fields
                .iter()
                .map(|f| ColumnBuilder::with_capacity(f, rows))
                .collect::<Result<_, _>>()?,
            schema: reader_schema(fields),
        })
    }

    /// The rows appended since the last call, as one batch.
    pub fn finish(&mut self, rows: usize) -> Result<RecordBatch, String> {
        let columns: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Float64Type, Int32Type};

    #[test]
    fn text_parses_by_declared_type() {
        let mut f = ColumnBuilder::new(&Field::scalar("x", DType::F64, true)).unwrap();
        for t in [
            Some(" 1.5 "),
            Some(""),
            None,
            Some("NaN"),
            Some("-inf"),
            Some("1e3"),
        ] {
            f.append_text(t).unwrap();
        }
        let a = f.finish();
        let a = a.as_primitive::<Float64Type>();
        assert_eq!(a.value(0), 1.5);
        assert!(a.is_null(1) && a.is_null(2));
        assert!(a.value(3).is_nan());
        assert_eq!(a.value(4), f64::NEG_INFINITY);
        assert_eq!(a.value(5), 1000.0);
        let e = f.append_text(Some("abc")).unwrap_err();
        assert!(e.contains("\"abc\"") && e.contains("f64"), "{e}");

        let mut i = ColumnBuilder::new(&Field::scalar("n", DType::I32, true)).unwrap();
        i.append_text(Some("7")).unwrap();
        assert!(
            i.append_text(Some("3.0"))
                .unwrap_err()
                .contains("whole numbers")
        );
        assert!(
            i.append_text(Some("9999999999"))
                .unwrap_err()
                .contains("out of range")
        );
        assert_eq!(i.finish().as_primitive::<Int32Type>().value(0), 7);

        let mut s = ColumnBuilder::new(&Field::scalar("s", DType::Utf8, true)).unwrap();
        s.append_text(Some("")).unwrap();
        s.append_text(Some(" a ")).unwrap();
        let a = s.finish();
        assert!(a.is_null(0));
        assert_eq!(a.as_string::<i32>().value(1), " a ");
    }

    #[test]
    fn f32_columns_round_once_from_the_text() {
        // Just below the midpoint of two f32s: parsing to f64 first lands exactly on the
        // midpoint, and the second rounding (ties to even) then goes the wrong way. Parsing the
        // text straight to f32, as numpy does, rounds once.
        let text = "1.00000017881393432617187499";
        let twice = text.parse::<f64>().unwrap() as f32;
        let mut f = ColumnBuilder::new(&Field::scalar("x", DType::F32, false)).unwrap();
        f.append_text(Some(text)).unwrap();
        let once = f.finish().as_primitive::<Float32Type>().value(0);
        assert_eq!(once, 1.0 + f32::EPSILON);
        assert_ne!(once, twice);
    }

    #[test]
    fn json_values_parse_by_declared_type() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        let mut f = ColumnBuilder::new(&Field::scalar("x", DType::F64, true)).unwrap();
        f.append_json(Some(&raw("2.5"))).unwrap();
        f.append_json(Some(&raw("null"))).unwrap();
        f.append_json(None).unwrap();
        f.append_json(Some(&raw("\"-Infinity\""))).unwrap();
        assert!(
            f.append_json(Some(&raw("\"3\"")))
                .unwrap_err()
                .contains("string")
        );
        assert!(
            f.append_json(Some(&raw("true")))
                .unwrap_err()
                .contains("boolean")
        );
        let a = f.finish();
        assert_eq!(a.len(), 4);
        assert_eq!(a.null_count(), 2);

        let mut v = ColumnBuilder::new(&Field::vector("v", DType::F64, 2)).unwrap();
        v.append_json(Some(&raw("[1, \"NaN\"]"))).unwrap();
        assert!(
            v.append_json(Some(&raw("[1]")))
                .unwrap_err()
                .contains("1 elements")
        );
        let a = v.finish();
        let l = a.as_fixed_size_list();
        assert_eq!(l.len(), 1);
        let vals = l.values().as_primitive::<Float64Type>();
        assert_eq!(vals.value(0), 1.0);
        assert!(vals.value(1).is_nan());

        let mut i = ColumnBuilder::new(&Field::scalar("i", DType::I64, true)).unwrap();
        i.append_json(Some(&raw("null"))).unwrap();
        i.append_json(Some(&raw("-4"))).unwrap();
        assert!(i.append_json(Some(&raw("1.5"))).is_err());
        assert_eq!(i.finish().null_count(), 1);
    }

    #[test]
    fn string_lists_parse_from_json_and_csv_text() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        let mut l = ColumnBuilder::new(&Field::str_list("t", true)).unwrap();
        l.append_json(Some(&raw(r#"["a", null, "\u00e9"]"#)))
            .unwrap();
        l.append_json(Some(&raw("[]"))).unwrap();
        l.append_json(Some(&raw("null"))).unwrap();
        l.append_text(Some(r#"["x","y"]"#)).unwrap();
        l.append_text(Some("")).unwrap();
        // A wrong element type names the element; the row is left out, not half-written.
        let e = l.append_json(Some(&raw(r#"["a", 3]"#))).unwrap_err();
        assert!(e.contains("element 1") && e.contains("a number"), "{e}");
        let e = l.append_json(Some(&raw(r#""a b""#))).unwrap_err();
        assert!(
            e.contains("array of strings") && e.contains("a string"),
            "{e}"
        );
        let e = l.append_text(Some("a,b")).unwrap_err();
        assert!(e.contains("JSON array"), "{e}");
        let a = l.finish();
        assert_eq!(a.data_type(), &keel_runtime::str_list_type());
        let lists = a.as_list::<i32>();
        assert_eq!(lists.len(), 5);
        let row = |i: usize| -> Vec<Option<String>> {
            let v = lists.value(i);
            v.as_string::<i32>()
                .iter()
                .map(|x| x.map(String::from))
                .collect()
        };
        assert_eq!(row(0), [Some("a".into()), None, Some("\u{e9}".into())]);
        assert!(row(1).is_empty() && lists.is_valid(1));
        assert!(lists.is_null(2) && lists.is_null(4));
        assert_eq!(row(3), [Some("x".into()), Some("y".into())]);
    }
}
