//! MLeap's typed attributes (`model.json`): `{"double": 1.5}`, `{"long": 3}`,
//! `{"boolean": true}`, `{"string": "x"}`, lists `{"type": "list", "double": [..]}` and dense
//! tensors `{"type": "tensor", "double": [..], "shape": ..}`. Each accessor checks the kind and
//! names the entry and attribute when it is wrong.

use super::ImportError;
use serde_json::{Map, Value};

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
        self.field(name, "double")?
            .as_f64()
            .ok_or_else(|| self.err(name, "not a number"))
    }

    /// A `long` scalar.
    pub(crate) fn i64(&self, name: &str) -> Result<i64, ImportError> {
        self.field(name, "long")?
            .as_i64()
            .ok_or_else(|| self.err(name, "not an integer"))
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
        self.array(name, "double")?
            .iter()
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| self.err(name, "an element is not a number"))
            })
            .collect()
    }

    /// The raw attribute (for structured ones such as `input_shapes`).
    pub(crate) fn raw(&self, name: &str) -> Option<&Value> {
        self.attrs.get(name)
    }
}
