//! The `--sample-schema` option: the input columns and their types, given as Spark's JSON
//! `StructType` (`df.schema.json()`) or as a DDL string (`df.schema.simpleString()` without
//! the `struct<...>` wrapper also works: `x DOUBLE, cat STRING` or `x:double,cat:string`).
//!
//! Spark types map as `keel.spark.export` maps a sample frame: string to utf8, double to f64,
//! float to f32, the integer types to i64, boolean to bool, `array<string>` to `list<utf8>`. Vector
//! columns cannot be spelled in either form; a pipeline input that a stage reads as a vector is
//! sized from the fitted model.

use super::Error;
use keel_bundle::DType;

/// One declared input column.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaField {
    /// Column name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Whether it may hold NULLs.
    pub nullable: bool,
}

fn dtype(t: &str) -> Result<DType, Error> {
    Ok(match t.trim().to_ascii_lowercase().as_str() {
        "string" | "varchar" | "char" => DType::Utf8,
        "double" => DType::F64,
        "float" | "real" => DType::F32,
        "int" | "integer" | "bigint" | "long" | "smallint" | "short" | "tinyint" | "byte" => {
            DType::I64
        }
        "boolean" | "bool" => DType::Bool,
        "array<string>" => DType::ListUtf8,
        other => {
            return Err(Error::Schema(format!(
                "type `{other}` is not supported (string, double, float, integer types, boolean, array<string>)"
            )));
        }
    })
}

/// Parses a JSON `StructType` or a DDL column list.
pub fn parse(text: &str) -> Result<Vec<SchemaField>, Error> {
    let text = text.trim();
    let fields = if text.starts_with('{') {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Schema(format!("invalid JSON: {e}")))?;
        let list = doc
            .get("fields")
            .and_then(|f| f.as_array())
            .ok_or_else(|| Error::Schema("JSON schema has no `fields` list".into()))?;
        list.iter()
            .map(|f| {
                let name = f.get("name").and_then(|n| n.as_str());
                // `array<string>` is `{"type": "array", "elementType": "string", ...}`.
                let t = f.get("type").and_then(|t| match t {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Object(o)
                        if o.get("type").and_then(|x| x.as_str()) == Some("array") =>
                    {
                        o.get("elementType")
                            .and_then(|e| e.as_str())
                            .map(|e| format!("array<{e}>"))
                    }
                    _ => None,
                });
                match (name, t) {
                    (Some(name), Some(t)) => Ok(SchemaField {
                        name: name.to_string(),
                        dtype: dtype(&t)?,
                        nullable: f.get("nullable").and_then(|n| n.as_bool()).unwrap_or(true),
                    }),
                    _ => Err(Error::Schema(format!(
                        "field {f} needs a `name` and a simple `type`"
                    ))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let inner = text
            .strip_prefix("struct<")
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(text);
        inner
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|part| {
                let part = part.trim();
                let (name, t) = part
                    .split_once(':')
                    .or_else(|| part.split_once(char::is_whitespace))
                    .ok_or_else(|| Error::Schema(format!("`{part}` is not `name TYPE`")))?;
                let t = t.trim();
                let (t, nullable) = match t.to_ascii_lowercase().strip_suffix("not null") {
                    Some(rest) => (rest.trim().to_string(), false),
                    None => (t.to_string(), true),
                };
                Ok::<_, Error>(SchemaField {
                    name: name.trim().trim_matches('`').to_string(),
                    dtype: dtype(&t)?,
                    nullable,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if fields.is_empty() {
        return Err(Error::Schema("no columns".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &fields {
        if !seen.insert(f.name.as_str()) {
            return Err(Error::Schema(format!("column `{}` appears twice", f.name)));
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ddl_and_json_forms() {
        let a = parse("x DOUBLE, cat STRING NOT NULL, n bigint").unwrap();
        assert_eq!(a[0].dtype, DType::F64);
        assert_eq!(a[1].dtype, DType::Utf8);
        assert!(!a[1].nullable);
        assert_eq!(a[2].dtype, DType::I64);
        let b = parse("struct<x:double,cat:string>").unwrap();
        assert_eq!(b[1].name, "cat");
        let c = parse(r#"{"type":"struct","fields":[{"name":"x","type":"double","nullable":false,"metadata":{}}]}"#).unwrap();
        assert_eq!(c[0].dtype, DType::F64);
        assert!(!c[0].nullable);
        assert!(matches!(parse("x vector"), Err(Error::Schema(_))));
        // array<string> in both forms; arrays of anything else are refused by type.
        let d = parse("words array<string>, x double").unwrap();
        assert_eq!(d[0].dtype, DType::ListUtf8);
        let e = parse(r#"{"type":"struct","fields":[{"name":"w","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}}]}"#).unwrap();
        assert_eq!(e[0].dtype, DType::ListUtf8);
        let f = parse(
            r#"{"type":"struct","fields":[{"name":"w","type":{"type":"array","elementType":"integer","containsNull":true},"nullable":true,"metadata":{}}]}"#,
        );
        assert!(matches!(f, Err(Error::Schema(m)) if m.contains("array<integer>")));
        assert!(matches!(parse("x double, x string"), Err(Error::Schema(_))));
    }
}
