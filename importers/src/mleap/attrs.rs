//! MLeap's typed attributes (`model.json`): `{"double": 1.5}`, `{"long": 3}`,
//! `{"boolean": true}`, `{"string": "x"}`, lists `{"type": "list", "double": [..]}` and dense
//! tensors `{"type": "tensor", "double": [..], "shape": ..}`. Each accessor checks the kind and
//! names the entry and attribute when it is wrong. A double may also be the text `"NaN"`,
//! `"Infinity"` or `"-Infinity"` (JSON numbers cannot hold them; the protobuf reader writes
//! them so). Integers are read from `long` or, where MLeap writes Scala `Int`s, `int`.

use super::ImportError;
use serde_json::{Map, Value};

/// A JSON double: a number, or the text of a non-finite value.
pub(crate) fn f64_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "Inf" => Some(f64::INFINITY),
            "-Infinity" | "-Inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// One stage's `model.json`: its op and attributes.
#[derive(Debug)]
pub(crate) struct ModelDoc {
    /// The entry path, for messages.
    pub entry: String,
    /// The op name.
    pub op: String,
    attrs: Map<String, Value>,
}

impl ModelDoc {
    /// Parses the document's outer shape.
    pub(crate) fn parse(entry: &str, doc: &Value) -> Result<ModelDoc, ImportError> {
        let op = doc
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| ImportError::malformed(entry, "no string `op`"))?;
        let attrs = match doc.get("attributes") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(ImportError::malformed(
                    entry,
                    "`attributes` is not an object",
                ));
            }
        };
        Ok(ModelDoc {
            entry: entry.to_string(),
            op: op.to_string(),
            attrs,
        })
    }

    fn err(&self, name: &str, what: &str) -> ImportError {
        ImportError::malformed(&self.entry, format!("attribute `{name}`: {what}"))
    }

    /// Whether the attribute is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.attrs.contains_key(name)
    }

    fn field(&self, name: &str, kind: &str) -> Result<&Value, ImportError> {
        let attr = self
            .attrs
            .get(name)
            .ok_or_else(|| self.err(name, "missing"))?;
        attr.get(kind)
            .ok_or_else(|| self.err(name, &format!("expected a `{kind}` value")))
    }

    /// A `double` scalar.
    pub(crate) fn f64(&self, name: &str) -> Result<f64, ImportError> {
        f64_of(self.field(name, "double")?).ok_or_else(|| self.err(name, "not a number"))
    }

    /// The `long` or `int` field of an integer attribute: the one that is present (JSON), or
    /// the non-default one (protobuf, where both are present).
    fn integer(&self, name: &str) -> Result<&Value, ImportError> {
        let attr = self
            .attrs
            .get(name)
            .ok_or_else(|| self.err(name, "missing"))?;
        let empty = |v: &Value| match v {
            Value::Array(a) => a.is_empty(),
            v => v.as_i64() == Some(0),
        };
        match (attr.get("long"), attr.get("int")) {
            (Some(l), Some(i)) if empty(l) => Ok(i),
            (Some(l), _) => Ok(l),
            (None, Some(i)) => Ok(i),
            (None, None) => Err(self.err(name, "expected a `long` or `int` value")),
        }
    }

    /// A `long` (or `int`) scalar.
    pub(crate) fn i64(&self, name: &str) -> Result<i64, ImportError> {
        self.integer(name)?
            .as_i64()
            .ok_or_else(|| self.err(name, "not an integer"))
    }

    /// A list (or one-dimensional tensor) of `long` (or `int`) values.
    pub(crate) fn i64s(&self, name: &str) -> Result<Vec<i64>, ImportError> {
        self.integer(name)?
            .as_array()
            .ok_or_else(|| self.err(name, "not a list"))?
            .iter()
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| self.err(name, "an element is not an integer"))
            })
            .collect()
    }

    /// A two-dimensional dense tensor of doubles: `(rows, cols, values)`, the values in the
    /// order stored.
    pub(crate) fn matrix(&self, name: &str) -> Result<(usize, usize, Vec<f64>), ImportError> {
        let dims = self
            .attrs
            .get(name)
            .and_then(|a| a.get("shape"))
            .and_then(|s| s.get("dimensions"))
            .and_then(Value::as_array)
            .ok_or_else(|| self.err(name, "not a tensor with a shape"))?;
        let sizes: Vec<usize> = dims
            .iter()
            .map(|d| {
                d.get("size")
                    .and_then(Value::as_u64)
                    .and_then(|s| usize::try_from(s).ok())
            })
            .collect::<Option<_>>()
            .ok_or_else(|| self.err(name, "a dimension without a size"))?;
        let [rows, cols] = sizes.as_slice() else {
            return Err(self.err(name, "not a two-dimensional tensor"));
        };
        let values = self.doubles(name)?;
        if rows.checked_mul(*cols) != Some(values.len()) {
            return Err(self.err(
                name,
                &format!("{} values for a {rows} x {cols} tensor", values.len()),
            ));
        }
        Ok((*rows, *cols, values))
    }

    /// A list of one-dimensional double tensors (MLeap's `tensor` lists, e.g. cluster
    /// centres).
    pub(crate) fn f64_tensors(&self, name: &str) -> Result<Vec<Vec<f64>>, ImportError> {
        self.array(name, "tensor")?
            .iter()
            .map(|t| {
                t.get("double")
                    .and_then(Value::as_array)
                    .ok_or_else(|| self.err(name, "an element is not a double tensor"))?
                    .iter()
                    .map(|v| f64_of(v).ok_or_else(|| self.err(name, "an element is not a number")))
                    .collect()
            })
            .collect()
    }

    fn doubles(&self, name: &str) -> Result<Vec<f64>, ImportError> {
        self.array(name, "double")?
            .iter()
            .map(|v| f64_of(v).ok_or_else(|| self.err(name, "an element is not a number")))
            .collect()
    }

    /// A `boolean` scalar.
    pub(crate) fn bool(&self, name: &str) -> Result<bool, ImportError> {
        self.field(name, "boolean")?
            .as_bool()
            .ok_or_else(|| self.err(name, "not a boolean"))
    }

    /// A `string` scalar.
    pub(crate) fn str(&self, name: &str) -> Result<&str, ImportError> {
        self.field(name, "string")?
            .as_str()
            .ok_or_else(|| self.err(name, "not a string"))
    }

    fn array(&self, name: &str, kind: &str) -> Result<&Vec<Value>, ImportError> {
        self.field(name, kind)?
            .as_array()
            .ok_or_else(|| self.err(name, &format!("`{kind}` is not a list")))
    }

    /// A list of strings.
    pub(crate) fn strs(&self, name: &str) -> Result<Vec<String>, ImportError> {
        self.array(name, "string")?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.err(name, "an element is not a string"))
            })
            .collect()
    }

    /// A list or a one-dimensional dense tensor of doubles.
    pub(crate) fn f64s(&self, name: &str) -> Result<Vec<f64>, ImportError> {
        if let Some(dims) = self
            .attrs
            .get(name)
            .and_then(|a| a.get("shape"))
            .and_then(|s| s.get("dimensions"))
            .and_then(Value::as_array)
            && dims.len() != 1
        {
            return Err(self.err(name, "only one-dimensional tensors are supported"));
        }
        self.doubles(name)
    }

    /// The raw attribute (for structured ones such as `input_shapes`).
    pub(crate) fn raw(&self, name: &str) -> Option<&Value> {
        self.attrs.get(name)
    }
}
