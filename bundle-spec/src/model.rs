//! The logical model of a bundle: manifest, graph nodes and typed attributes. These types are
//! the single source of truth; the JSON encoding is their serde form and the protobuf encoding
//! is a field-for-field mapping (see `proto.rs`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The value of [`Manifest::format`].
pub const FORMAT_NAME: &str = "keel-bundle";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: &str = "1.1.0";

/// The manifest: what the bundle is, who made it, its typed interface, and the hash of every
/// other entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Semver of the format the bundle was written with.
    pub format_version: String,
    /// The bundle's name.
    pub name: String,
    /// A unique id.
    pub uid: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The exporter and training framework.
    pub producer: Producer,
    /// Name of the root node of the graph.
    pub root: String,
    /// Input schema, in order.
    pub inputs: Vec<Field>,
    /// Output schema, in order.
    pub outputs: Vec<Field>,
    /// Free-form metadata.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_keys::deserialize"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Every other entry with its digest and size, sorted by path.
    #[serde(default)]
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// A manifest of the current format ([`FORMAT_NAME`] [`FORMAT_VERSION`]) for the graph
    /// whose root node is `root`, with the given interface and nothing else: no producer,
    /// metadata or entries (the writer lists the entries), and `uid` and `created` empty for
    /// the caller to set where provenance matters.
    pub fn new(
        name: impl Into<String>,
        root: impl Into<String>,
        inputs: Vec<Field>,
        outputs: Vec<Field>,
    ) -> Manifest {
        Manifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION.into(),
            name: name.into(),
            uid: String::new(),
            created: String::new(),
            producer: Producer::default(),
            root: root.into(),
            inputs,
            outputs,
            metadata: BTreeMap::new(),
            entries: Vec::new(),
        }
    }
}

/// Who wrote the bundle, from what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    /// Exporter name, e.g. `keel.sklearn`.
    pub name: String,
    /// Exporter version.
    pub version: String,
    /// Training framework, e.g. `scikit-learn`.
    pub framework: String,
    /// Training framework version.
    pub framework_version: String,
}

/// Element type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 64-bit float.
    F64,
    /// 32-bit float.
    F32,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// Boolean.
    Bool,
    /// UTF-8 string.
    Utf8,
    /// A variable-length list of UTF-8 strings per row (Spark's `array<string>`, Arrow's
    /// `List<Utf8>`): tokens. Only with shape `[]`; the list itself and its elements may be
    /// null, and each op documents what it does with them.
    #[serde(rename = "list<utf8>")]
    ListUtf8,
    /// IEEE 754 half-precision float (format 1.1; tensor fields only).
    F16,
    /// bfloat16 (format 1.1; tensor fields only). Arrow has no bfloat16, so such columns
    /// travel as f32 and are rounded to bfloat16 on the way in.
    Bf16,
    /// 8-bit signed integer (format 1.1; tensor fields only).
    I8,
    /// 8-bit unsigned integer (format 1.1; tensor fields only).
    U8,
    /// Bytes per row (format 1.1): an encoded image, say (Arrow's `Binary`/`LargeBinary`,
    /// base64 text in JSON and CSV). Only with shape `[]`: each row's value is already a
    /// variable-length byte string.
    Binary,
}

impl DType {
    /// The spelling used in both encodings.
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::Bool => "bool",
            DType::Utf8 => "utf8",
            DType::ListUtf8 => "list<utf8>",
            DType::F16 => "f16",
            DType::Bf16 => "bf16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::Binary => "binary",
        }
    }

    /// Parses the spelling used in both encodings.
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s {
            "f64" => DType::F64,
            "f32" => DType::F32,
            "i64" => DType::I64,
            "i32" => DType::I32,
            "bool" => DType::Bool,
            "utf8" => DType::Utf8,
            "list<utf8>" => DType::ListUtf8,
            "f16" => DType::F16,
            "bf16" => DType::Bf16,
            "i8" => DType::I8,
            "u8" => DType::U8,
            "binary" => DType::Binary,
            _ => return None,
        })
    }

    /// Whether the type is numeric (can feed a numeric feature).
    pub fn is_numeric(self) -> bool {
        matches!(self, DType::F64 | DType::F32 | DType::I64 | DType::I32)
    }

    /// Whether the type may be the element type of a tensor field (shape of rank >= 1 other
    /// than an f64 vector): every numeric type and bool, not strings or bytes.
    pub fn is_tensor_element(self) -> bool {
        !matches!(self, DType::Utf8 | DType::ListUtf8 | DType::Binary)
    }

    /// Whether each row holds a variable-length value, so the field must be a scalar (shape
    /// `[]`, no element names): `list<utf8>` and `binary`.
    pub fn is_variable_length(self) -> bool {
        matches!(self, DType::ListUtf8 | DType::Binary)
    }

    /// Whether the type exists only in tensor fields (format 1.1): f16, bf16, i8, u8.
    pub fn is_tensor_only(self) -> bool {
        matches!(self, DType::F16 | DType::Bf16 | DType::I8 | DType::U8)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The metadata key under which a manifest's symbolic dimensions travel (SPEC.md section 2):
/// a JSON object from field name to its [`Field::dims`].
pub const DIMS_METADATA: &str = "keel.dims";

impl Manifest {
    /// Moves the fields' symbolic dimensions into the metadata entry [`DIMS_METADATA`] (for
    /// writing); the entry is removed when no field has one.
    pub fn dims_to_metadata(&mut self) {
        let dims: BTreeMap<&str, &Vec<String>> = self
            .inputs
            .iter()
            .chain(&self.outputs)
            .filter(|f| !f.dims.is_empty())
            .map(|f| (f.name.as_str(), &f.dims))
            .collect();
        if dims.is_empty() {
            self.metadata.remove(DIMS_METADATA);
        } else if let Ok(json) = serde_json::to_string(&dims) {
            self.metadata.insert(DIMS_METADATA.into(), json);
        }
    }

    /// Moves the metadata entry [`DIMS_METADATA`] into the fields (after decoding). An entry
    /// that is not an object of string lists, or names no field, is an error message.
    pub fn dims_from_metadata(&mut self) -> Result<(), String> {
        let Some(json) = self.metadata.remove(DIMS_METADATA) else {
            return Ok(());
        };
        let dims: BTreeMap<String, Vec<String>> = serde_json::from_str(&json).map_err(|e| {
            format!("metadata `{DIMS_METADATA}` is not an object of string lists: {e}")
        })?;
        for (name, d) in dims {
            let mut found = false;
            for f in self.inputs.iter_mut().chain(self.outputs.iter_mut()) {
                if f.name == name {
                    f.dims = d.clone();
                    found = true;
                }
            }
            if !found {
                return Err(format!(
                    "metadata `{DIMS_METADATA}` names `{name}`, which is no field"
                ));
            }
        }
        Ok(())
    }
}

/// The highest rank of a field's per-row shape (format 1.1 tensors).
pub const MAX_RANK: usize = 8;

/// A typed column of the input or output schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// The shape of one row's value: `[]` for a scalar, `[n]` for a vector of n elements, and
    /// (format 1.1) any rank up to [`MAX_RANK`] for a tensor. Where [`Field::dims`] names a
    /// dimension, its entry here is that dimension's upper bound.
    #[serde(default)]
    pub shape: Vec<u64>,
    /// Format 1.1: one entry per dimension of `shape`, empty for a fixed dimension and a name
    /// (`seq`, `height`) for a symbolic one, which may take any size from 1 to its bound and
    /// differ from batch to batch. Empty when every dimension is fixed. A minor version may
    /// not add fields, so the encodings carry it in the manifest's metadata entry
    /// [`DIMS_METADATA`], which the reader moves here (and the writer back).
    #[serde(skip)]
    pub dims: Vec<String>,
    /// Whether nulls are accepted (inputs) or may appear (outputs).
    pub nullable: bool,
    /// Names of a vector's elements (class labels of a probability vector, feature names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
}

impl Field {
    /// A scalar column.
    pub fn scalar(name: impl Into<String>, dtype: DType, nullable: bool) -> Self {
        Field {
            name: name.into(),
            dtype,
            shape: Vec::new(),
            dims: Vec::new(),
            nullable,
            names: Vec::new(),
            doc: String::new(),
        }
    }

    /// A list-of-strings column (one variable-length list of strings per row).
    pub fn str_list(name: impl Into<String>, nullable: bool) -> Self {
        Field::scalar(name, DType::ListUtf8, nullable)
    }

    /// A tensor column: each row holds a tensor of `shape` (every dimension fixed).
    pub fn tensor(name: impl Into<String>, dtype: DType, shape: Vec<u64>) -> Self {
        Field {
            shape,
            ..Field::scalar(name, dtype, false)
        }
    }

    /// Whether the field is a tensor column (format 1.1): a shape of rank 2 or more, a
    /// symbolic dimension, or a rank-1 shape of any type but f64 (an f64 vector is a feature
    /// block, as in format 1.0).
    pub fn is_tensor(&self) -> bool {
        self.shape.len() > 1
            || !self.dims.is_empty()
            || (self.shape.len() == 1 && self.dtype != DType::F64)
    }

    /// A vector column of `width` elements.
    pub fn vector(name: impl Into<String>, dtype: DType, width: u64) -> Self {
        Field {
            shape: vec![width],
            ..Field::scalar(name, dtype, false)
        }
    }
}

/// The digest and size of one archive entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Path inside the archive.
    pub path: String,
    /// Lower-case hex SHA-256 of the uncompressed content.
    pub sha256: String,
    /// Uncompressed size in bytes.
    pub size: u64,
}

/// A port of a node bound to one or more columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// Port name, documented per op.
    pub port: String,
    /// Column names, stacked side by side in order.
    pub columns: Vec<String>,
}

impl Binding {
    /// A binding of `port` to `columns`.
    pub fn new<S: Into<String>>(port: &str, columns: impl IntoIterator<Item = S>) -> Self {
        Binding {
            port: port.to_string(),
            columns: columns.into_iter().map(Into::into).collect(),
        }
    }
}

/// One node of the graph: a stage, or a `pipeline` container with children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique name.
    pub name: String,
    /// Operation.
    pub op: String,
    /// Ports read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Binding>,
    /// Ports written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Binding>,
    /// Typed attributes.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_keys::deserialize"
    )]
    pub attrs: BTreeMap<String, Attr>,
    /// Children of a container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// Where the node came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
}

impl Node {
    /// A stage running `op`, with no bindings, attributes or children yet (the `with_*`
    /// methods add them): how tools and tests build graphs by hand.
    pub fn new(name: impl Into<String>, op: impl Into<String>) -> Node {
        Node {
            name: name.into(),
            op: op.into(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            attrs: BTreeMap::new(),
            children: Vec::new(),
            doc: String::new(),
        }
    }

    /// A `pipeline` node running `children` in order.
    pub fn pipeline(name: impl Into<String>, children: Vec<Node>) -> Node {
        Node {
            children,
            ..Node::new(name, "pipeline")
        }
    }

    /// This node with `columns` bound to input port `port`.
    pub fn with_input<S: Into<String>>(
        mut self,
        port: &str,
        columns: impl IntoIterator<Item = S>,
    ) -> Node {
        self.inputs.push(Binding::new(port, columns));
        self
    }

    /// This node with `columns` bound to output port `port`.
    pub fn with_output<S: Into<String>>(
        mut self,
        port: &str,
        columns: impl IntoIterator<Item = S>,
    ) -> Node {
        self.outputs.push(Binding::new(port, columns));
        self
    }

    /// This node with attribute `key` set to `value`.
    pub fn with_attr(mut self, key: &str, value: Attr) -> Node {
        self.attrs.insert(key.to_string(), value);
        self
    }

    /// The columns bound to input port `port`, if bound.
    pub fn input(&self, port: &str) -> Option<&[String]> {
        self.inputs
            .iter()
            .find(|b| b.port == port)
            .map(|b| b.columns.as_slice())
    }

    /// The columns bound to output port `port`, if bound.
    pub fn output(&self, port: &str) -> Option<&[String]> {
        self.outputs
            .iter()
            .find(|b| b.port == port)
            .map(|b| b.columns.as_slice())
    }

    /// Visits this node and all descendants, parents first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Node, usize)) {
        fn go<'a>(n: &'a Node, depth: usize, f: &mut dyn FnMut(&'a Node, usize)) {
            f(n, depth);
            for c in &n.children {
                go(c, depth + 1, f);
            }
        }
        go(self, 0, f)
    }
}

/// A reference to a tensor in a safetensors entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorRef {
    /// The safetensors entry path.
    pub file: String,
    /// The tensor's key in that file.
    pub key: String,
}

/// A typed attribute value (SPEC.md section 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attr {
    /// A boolean.
    Bool(bool),
    /// An integer.
    I64(i64),
    /// A float (non-finite values allowed).
    F64(#[serde(with = "crate::json_f64::one")] f64),
    /// A string.
    Str(String),
    /// A list of integers.
    I64s(Vec<i64>),
    /// A list of floats.
    F64s(#[serde(with = "crate::json_f64::many")] Vec<f64>),
    /// A list of strings.
    Strs(Vec<String>),
    /// A list of attributes (e.g. one category list per feature).
    List(Vec<Attr>),
    /// A tensor stored in a safetensors entry.
    Tensor(TensorRef),
}

impl Attr {
    /// The kind's name as written in JSON, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attr::Bool(_) => "bool",
            Attr::I64(_) => "i64",
            Attr::F64(_) => "f64",
            Attr::Str(_) => "str",
            Attr::I64s(_) => "i64s",
            Attr::F64s(_) => "f64s",
            Attr::Strs(_) => "strs",
            Attr::List(_) => "list",
            Attr::Tensor(_) => "tensor",
        }
    }

    /// Nesting depth of list attributes (a scalar is 0).
    pub fn depth(&self) -> usize {
        match self {
            Attr::List(items) => 1 + items.iter().map(Attr::depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// JSON objects used as maps (`metadata`, `attrs`) refuse a repeated key. serde's own map
/// deserializer keeps the last value silently, which would let two readers of one file (or the
/// JSON and protobuf encodings, where a repeated key is refused) disagree on what it says.
mod unique_keys {
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use std::collections::BTreeMap;
    use std::fmt;
    use std::marker::PhantomData;

    struct UniqueMap<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueMap<V> {
        type Value = BTreeMap<String, V>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object with distinct keys")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, V>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format!("key `{k}` appears twice")));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }

    pub(super) fn deserialize<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
    where
        D: Deserializer<'de>,
        V: Deserialize<'de>,
    {
        d.deserialize_map(UniqueMap(PhantomData))
    }
}
