//! Reading the training frame's Arrow columns as the feature stages see them: numbers as
//! `f64` (any integer or float type), categories as text (strings, and integers as their
//! decimal text, which is what Spark's `StringIndexer` indexes), and labels.

use super::Error;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use std::cmp::Ordering;

/// The column `name` of `batch`, or the error naming it and the columns there are.
pub(crate) fn column<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef, Error> {
    let schema = batch.schema();
    match schema.index_of(name) {
        Ok(i) => Ok(batch.column(i)),
        Err(_) => Err(Error::MissingColumn {
            column: name.to_string(),
            available: schema
                .fields()
                .iter()
                .map(|f| format!("`{}`", f.name()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A numeric column's values as `f64` (`None` for a null), or `None` when the column is not an
/// integer or float column. `u64` and `i64` beyond 2^53 round, as Spark's cast to double does.
pub(crate) fn f64_values(col: &dyn Array) -> Option<Vec<Option<f64>>> {
    macro_rules! prim {
        ($t:ty, $f:expr) => {
            col.as_primitive::<$t>().iter().map(|v| v.map($f)).collect()
        };
    }
    Some(match col.data_type() {
        DataType::Float64 => prim!(Float64Type, |v| v),
        DataType::Float32 => prim!(Float32Type, f64::from),
        DataType::Float16 => prim!(Float16Type, f64::from),
        DataType::Int8 => prim!(Int8Type, f64::from),
        DataType::Int16 => prim!(Int16Type, f64::from),
        DataType::Int32 => prim!(Int32Type, f64::from),
        DataType::Int64 => prim!(Int64Type, |v| v as f64),
        DataType::UInt8 => prim!(UInt8Type, f64::from),
        DataType::UInt16 => prim!(UInt16Type, f64::from),
        DataType::UInt32 => prim!(UInt32Type, f64::from),
        DataType::UInt64 => prim!(UInt64Type, |v| v as f64),
        _ => return None,
    })
}

/// An integer column's values as `i128` (wide enough for every Arrow integer), or `None` when
/// it is not an integer column.
pub(crate) fn int_values(col: &dyn Array) -> Option<Vec<Option<i128>>> {
    macro_rules! prim {
        ($t:ty) => {
            col.as_primitive::<$t>()
                .iter()
                .map(|v| v.map(i128::from))
                .collect()
        };
    }
    Some(match col.data_type() {
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        _ => return None,
    })
}

/// A string column's values (`None` for a null), or `None` when it is not a string column.
pub(crate) fn str_values(col: &dyn Array) -> Option<Vec<Option<&str>>> {
    Some(match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().iter().collect(),
        DataType::LargeUtf8 => col.as_string::<i64>().iter().collect(),
        DataType::Utf8View => col.as_string_view().iter().collect(),
        _ => return None,
    })
}

/// Java's `String.compareTo`: lexicographic over UTF-16 code units, the order Spark (Scala's
/// `<` on strings) sorts labels in. It differs from Rust's byte order only between characters
/// above U+FFFF and those in U+E000..U+FFFF.
pub(crate) fn java_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_order_is_utf16_order() {
        assert_eq!(java_cmp("10", "2"), Ordering::Less);
        // U+FF21 (fullwidth A) sorts after U+1F600 in bytes, before it in UTF-16.
        assert_eq!("\u{1F600}".cmp("\u{FF21}"), Ordering::Greater);
        assert_eq!(java_cmp("\u{1F600}", "\u{FF21}"), Ordering::Less);
    }
}
