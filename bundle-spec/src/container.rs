//! The zip container: the defensive reader and the deterministic writer (SPEC.md section 1).
//!
//! Reading never trusts the archive: entry names are checked before use and every entry is
//! inflated through a counting reader that stops at the limits (both in [`crate::archive`]),
//! every digest is verified against the manifest, and the graph is checked for the structural rules of section 3 before any
//! caller sees it.

use crate::archive::{Archive, ArchiveLimits, check_path};
use crate::error::BundleError;
use crate::limits::Limits;
use crate::model::{Attr, Entry, FORMAT_NAME, FORMAT_VERSION, MAX_RANK, Manifest, Node};
use crate::proto;
use crate::tensor::TensorFile;
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Cursor, Write};

/// How the manifest and graph documents are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `manifest.json` + `graph.json`.
    Json,
    /// `manifest.pb` + `graph.pb`.
    Protobuf,
}

impl Encoding {
    fn ext(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Protobuf => "pb",
        }
    }
}

/// A bundle read into memory and verified.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The manifest.
    pub manifest: Manifest,
    /// The root node.
    pub graph: Node,
    /// The encoding it was read with.
    pub encoding: Encoding,
    /// Tensor entries by path.
    pub tensors: BTreeMap<String, TensorFile>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    // A pre-release or build suffix (`-rc.1`, `+build.5`) may itself contain dots: cut it off
    // before splitting the core into its three numbers.
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.');
    let mut number = || -> Option<u64> {
        let s = it.next()?;
        // Digits only: `u64::from_str` would also take a leading `+`.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let version = (number()?, number()?, number()?);
    if it.next().is_some() {
        return None;
    }
    Some(version)
}

/// Reads every entry of the archive into memory, enforcing SPEC.md section 1 and the limits of
/// section 1.1 through [`Archive`]: safe names, no duplicates, only stored or deflated data, and
/// sizes and ratios checked both against the declared sizes (to fail before inflating
/// anything) and while inflating (because declared sizes are not to be trusted). A directory
/// entry is refused: the manifest cannot list it.
fn read_entries(bytes: &[u8], limits: &Limits) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    let mut archive = Archive::open(bytes, ArchiveLimits::from_limits(limits, u64::MAX))?;
    let entries = archive.entries().to_vec();
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in entries {
        if entry.is_dir {
            // SPEC.md 1: every entry other than the manifest is listed; a directory cannot be.
            return Err(BundleError::Unlisted { entry: entry.name });
        }
        let name = entry.name;
        // The manifest and graph documents have their own cap (SPEC.md 1.1); a tensor entry
        // is bounded by the total alone.
        let is_document = name.starts_with("manifest.") || name.starts_with("graph.");
        let data = if is_document {
            archive.read_capped(&name, "document size", limits.max_document_bytes)?
        } else {
            archive.read(&name)?
        };
        // Names are unique: `Archive::open` refused duplicates.
        contents.insert(name, data);
    }
    Ok(contents)
}

impl Bundle {
    /// Reads and verifies a bundle with the default [`Limits`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        Self::from_bytes_with(bytes, &Limits::default())
    }

    /// Reads and verifies a bundle with explicit limits.
    pub fn from_bytes_with(bytes: &[u8], limits: &Limits) -> Result<Bundle, BundleError> {
        let mut contents = read_entries(bytes, limits)?;

        let encoding = match (
            contents.contains_key("manifest.json"),
            contents.contains_key("manifest.pb"),
        ) {
            (true, false) => Encoding::Json,
            (false, true) => Encoding::Protobuf,
            (true, true) => {
                return Err(BundleError::malformed(
                    "manifest.pb",
                    "both manifest.json and manifest.pb are present",
                ));
            }
            (false, false) => {
                return Err(BundleError::MissingEntry {
                    entry: "manifest.json".into(),
                });
            }
        };
        let manifest_path = format!("manifest.{}", encoding.ext());
        let graph_path = format!("graph.{}", encoding.ext());
        let manifest_bytes = contents.remove(&manifest_path).unwrap_or_default();
        let mut manifest = decode_manifest(&manifest_bytes, encoding, &manifest_path)?;
        manifest
            .dims_from_metadata()
            .map_err(|m| BundleError::malformed(&manifest_path, m))?;
        check_manifest(&manifest, &manifest_path, limits)?;

        // Every entry listed, every listed entry present, every digest right.
        let mut listed: BTreeMap<&str, &Entry> = BTreeMap::new();
        for e in &manifest.entries {
            if listed.insert(e.path.as_str(), e).is_some() {
                return Err(BundleError::malformed(
                    &manifest_path,
                    format!("entry `{}` is listed twice", e.path),
                ));
            }
        }
        if listed.contains_key(manifest_path.as_str()) {
            return Err(BundleError::malformed(
                &manifest_path,
                "the manifest lists itself (it cannot hold its own digest)",
            ));
        }
        for name in contents.keys() {
            if !listed.contains_key(name.as_str()) {
                return Err(BundleError::Unlisted {
                    entry: name.clone(),
                });
            }
        }
        for (path, entry) in &listed {
            let data = contents
                .get(*path)
                .ok_or_else(|| BundleError::MissingEntry {
                    entry: path.to_string(),
                })?;
            if data.len() as u64 != entry.size {
                return Err(BundleError::SizeMismatch {
                    entry: path.to_string(),
                    expected: entry.size,
                    actual: data.len() as u64,
                });
            }
            let actual = sha256_hex(data);
            if actual != entry.sha256.to_ascii_lowercase() {
                return Err(BundleError::HashMismatch {
                    entry: path.to_string(),
                    expected: entry.sha256.clone(),
                    actual,
                });
            }
        }

        let graph_bytes =
            contents
                .remove(&graph_path)
                .ok_or_else(|| BundleError::MissingEntry {
                    entry: graph_path.clone(),
                })?;
        let graph = decode_graph(&graph_bytes, encoding, &graph_path)?;

        let mut tensors = BTreeMap::new();
        for (path, data) in contents {
            if path.starts_with("tensors/") && path.ends_with(".safetensors") {
                // The safetensors header is a JSON document like the manifest and falls under
                // the same size limit; the safetensors crate alone would parse up to 100 MB of
                // it into a map of every tensor.
                let header = data
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_le_bytes);
                if header > limits.max_document_bytes {
                    return Err(BundleError::Limit {
                        entry: path,
                        what: "safetensors header size",
                        actual: header,
                        limit: limits.max_document_bytes,
                    });
                }
                let file = TensorFile::parse(&path, data, limits.max_tensor_elements)?;
                tensors.insert(path, file);
            } else {
                return Err(BundleError::malformed(
                    &path,
                    "unexpected entry (only manifest, graph and tensors/*.safetensors are allowed)",
                ));
            }
        }

        let bundle = Bundle {
            manifest,
            graph,
            encoding,
            tensors,
        };
        bundle.validate(limits, &manifest_path, &graph_path)?;
        Ok(bundle)
    }

    /// Checks the structural rules of SPEC.md section 3: unique node names, the root's name,
    /// depth and node limits, single assignment of columns, reads after writes, tensor
    /// references that resolve, and outputs that exist.
    fn validate(
        &self,
        limits: &Limits,
        manifest_path: &str,
        graph_path: &str,
    ) -> Result<(), BundleError> {
        if self.graph.name != self.manifest.root {
            return Err(BundleError::Graph {
                node: self.graph.name.clone(),
                message: format!(
                    "the manifest names `{}` as the root, but the graph's root is `{}`",
                    self.manifest.root, self.graph.name
                ),
            });
        }
        let mut names = HashSet::new();
        let mut count = 0usize;
        let mut problem: Option<BundleError> = None;
        self.graph.walk(&mut |n, depth| {
            if problem.is_some() {
                return;
            }
            count += 1;
            let fail = |message: String| BundleError::Graph {
                node: n.name.clone(),
                message,
            };
            if count > limits.max_nodes {
                problem = Some(BundleError::Limit {
                    entry: graph_path.to_string(),
                    what: "node count",
                    actual: count as u64,
                    limit: limits.max_nodes as u64,
                });
            } else if depth > limits.max_depth {
                problem = Some(BundleError::Limit {
                    entry: graph_path.to_string(),
                    what: "nesting depth",
                    actual: depth as u64,
                    limit: limits.max_depth as u64,
                });
            } else if n.name.is_empty() {
                problem = Some(fail("empty node name".into()));
            } else if !names.insert(n.name.as_str()) {
                problem = Some(fail("the node name is used twice".into()));
            } else if n.op != "pipeline" && !n.children.is_empty() {
                problem = Some(fail(format!("op `{}` cannot have children", n.op)));
            } else {
                for (key, attr) in &n.attrs {
                    if attr.depth() > limits.max_depth {
                        problem = Some(fail(format!("attribute `{key}` is nested too deeply")));
                        break;
                    }
                    if let Err(e) = self.check_tensor_refs(attr) {
                        problem = Some(e);
                        break;
                    }
                }
            }
        });
        if let Some(p) = problem {
            return Err(p);
        }

        // Single assignment and read-after-write, in execution order.
        let mut written: BTreeSet<&str> = self
            .manifest
            .inputs
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        if written.len() != self.manifest.inputs.len() {
            return Err(BundleError::malformed(
                manifest_path,
                "an input column is declared twice",
            ));
        }
        check_dataflow(&self.graph, &mut written)?;
        for out in &self.manifest.outputs {
            if !written.contains(out.name.as_str()) {
                return Err(BundleError::Graph {
                    node: self.graph.name.clone(),
                    message: format!("output column `{}` is never written", out.name),
                });
            }
        }
        Ok(())
    }

    fn check_tensor_refs(&self, attr: &Attr) -> Result<(), BundleError> {
        match attr {
            Attr::Tensor(t) => self.tensor(t).map(|_| ()),
            Attr::List(items) => items.iter().try_for_each(|a| self.check_tensor_refs(a)),
            _ => Ok(()),
        }
    }

    /// Looks up a tensor reference.
    pub fn tensor(
        &self,
        r: &crate::model::TensorRef,
    ) -> Result<crate::tensor::TensorView<'_>, BundleError> {
        let file = self
            .tensors
            .get(&r.file)
            .ok_or_else(|| BundleError::Tensor {
                entry: r.file.clone(),
                key: r.key.clone(),
                message: "the tensor file is not in the bundle".into(),
            })?;
        file.get(&r.key)
    }

    /// Writes the bundle with `encoding`, recomputing the entry list. The same logical bundle
    /// always gives the same bytes (fixed entry order and timestamps, canonical documents).
    pub fn to_bytes(&self, encoding: Encoding) -> Result<Vec<u8>, BundleError> {
        let graph_path = format!("graph.{}", encoding.ext());
        let graph_bytes = encode_graph(&self.graph, encoding)?;
        let mut manifest = self.manifest.clone();
        let mut entries = vec![Entry {
            path: graph_path.clone(),
            sha256: sha256_hex(&graph_bytes),
            size: graph_bytes.len() as u64,
        }];
        for (path, file) in &self.tensors {
            entries.push(Entry {
                path: path.clone(),
                sha256: sha256_hex(file.bytes()),
                size: file.bytes().len() as u64,
            });
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        manifest.entries = entries;
        manifest.dims_to_metadata();
        let manifest_bytes = encode_manifest(&manifest, encoding)?;

        let w = |e: zip::result::ZipError| BundleError::Write(e.to_string());
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let deflate = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        let stored = deflate.compression_method(zip::CompressionMethod::Stored);
        zip.start_file(format!("manifest.{}", encoding.ext()), deflate)
            .map_err(w)?;
        zip.write_all(&manifest_bytes)
            .map_err(|e| BundleError::Write(e.to_string()))?;
        zip.start_file(graph_path, deflate).map_err(w)?;
        zip.write_all(&graph_bytes)
            .map_err(|e| BundleError::Write(e.to_string()))?;
        for (path, file) in &self.tensors {
            zip.start_file(path.as_str(), stored).map_err(w)?;
            zip.write_all(file.bytes())
                .map_err(|e| BundleError::Write(e.to_string()))?;
        }
        Ok(zip.finish().map_err(w)?.into_inner())
    }

    /// Builds a bundle in memory from parts (used by converters and tests); the entry list is
    /// computed when the bundle is written.
    pub fn new(
        manifest: Manifest,
        graph: Node,
        tensors: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Bundle, BundleError> {
        let limits = Limits::default();
        let tensors = tensors
            .into_iter()
            .map(|(p, b)| {
                check_path(&p)?;
                TensorFile::parse(&p, b, limits.max_tensor_elements).map(|f| (p, f))
            })
            .collect::<Result<_, _>>()?;
        let bundle = Bundle {
            manifest,
            graph,
            encoding: Encoding::Json,
            tensors,
        };
        for path in bundle.tensors.keys() {
            if !(path.starts_with("tensors/") && path.ends_with(".safetensors")) {
                // The reader refuses any other entry, so writing one would make a bundle
                // that cannot be read back.
                return Err(BundleError::malformed(
                    path,
                    "tensor entries must be named `tensors/*.safetensors`",
                ));
            }
        }
        check_manifest(&bundle.manifest, "manifest", &limits)?;
        bundle.validate(&limits, "manifest", "graph")?;
        Ok(bundle)
    }
}

/// Checks the format name and version (SPEC.md section 2, version rule). Called on the two
/// fields alone before the rest of the manifest is decoded, so that a bundle from a newer major
/// version is refused with a message naming both versions rather than with whatever decoding
/// error its changed layout happens to cause.
fn check_version(format: &str, format_version: &str, entry: &str) -> Result<(), BundleError> {
    if format != FORMAT_NAME {
        return Err(BundleError::malformed(
            entry,
            format!("format is `{format}`, expected `{FORMAT_NAME}`"),
        ));
    }
    let found = parse_version(format_version).ok_or_else(|| {
        BundleError::malformed(
            entry,
            format!("format_version `{format_version}` is not semver MAJOR.MINOR.PATCH"),
        )
    })?;
    let ours = parse_version(FORMAT_VERSION).unwrap_or((1, 0, 0));
    if found.0 > ours.0 {
        return Err(BundleError::UnsupportedVersion {
            found: format_version.to_string(),
            supported: FORMAT_VERSION,
        });
    }
    if found.0 < 1 {
        return Err(BundleError::malformed(
            entry,
            format!("format_version `{format_version}` predates 1.0.0"),
        ));
    }
    Ok(())
}

fn check_manifest(m: &Manifest, entry: &str, limits: &Limits) -> Result<(), BundleError> {
    check_version(&m.format, &m.format_version, entry)?;
    if m.name.is_empty() {
        return Err(BundleError::malformed(entry, "the bundle has no name"));
    }
    for f in m.inputs.iter().chain(&m.outputs) {
        if f.name.is_empty() {
            return Err(BundleError::malformed(entry, "a field has no name"));
        }
        check_shape(f, entry, limits)?;
        if f.dtype.is_variable_length() && (!f.shape.is_empty() || !f.names.is_empty()) {
            // A list (or byte string) per row is already variable-length: a fixed-width vector
            // of them (or element names for it) has no meaning a consumer could agree on.
            return Err(BundleError::malformed(
                entry,
                format!(
                    "field `{}`: a `{}` field must have shape [] and no element names",
                    f.name, f.dtype
                ),
            ));
        }
        if let [width] = f.shape.as_slice() {
            // A consumer sizes per-row buffers (and element names) from the declared width,
            // so an absurd width must not get past the reader.
            if *width > limits.max_tensor_elements {
                return Err(BundleError::Limit {
                    entry: entry.to_string(),
                    what: "vector field width",
                    actual: *width,
                    limit: limits.max_tensor_elements,
                });
            }
            if !f.names.is_empty() && f.names.len() as u64 != *width {
                return Err(BundleError::malformed(
                    entry,
                    format!(
                        "field `{}`: {} element names for a vector of width {width}",
                        f.name,
                        f.names.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a field's shape (SPEC.md section 3, fields): rank at most [`MAX_RANK`], no zero
/// dimension, an element count per row within the tensor limit (consumers size per-row buffers
/// from it), `dims` either empty or one per dimension, and the 1.1 tensor-only dtypes only in
/// tensor fields.
fn check_shape(f: &crate::model::Field, entry: &str, limits: &Limits) -> Result<(), BundleError> {
    let bad =
        |message: String| BundleError::malformed(entry, format!("field `{}`: {message}", f.name));
    if f.shape.len() > MAX_RANK {
        return Err(bad(format!(
            "shape {:?} has rank {}, above the limit of {MAX_RANK}",
            f.shape,
            f.shape.len()
        )));
    }
    if !f.dims.is_empty() && f.dims.len() != f.shape.len() {
        return Err(bad(format!(
            "{} dimension names for a shape of rank {}",
            f.dims.len(),
            f.shape.len()
        )));
    }
    // A fixed dimension may be 0 (an empty tensor per row); a symbolic one's bound is the
    // largest size it takes, at least 1.
    if let Some(i) = (0..f.dims.len()).find(|&i| !f.dims[i].is_empty() && f.shape[i] == 0) {
        return Err(bad(format!(
            "symbolic dimension `{}` has a bound of 0",
            f.dims[i]
        )));
    }
    // With a zero dimension the product says nothing about the others: bound each one too,
    // since a consumer may size a buffer from any single dimension.
    if let Some(&d) = f.shape.iter().find(|&&d| d > limits.max_tensor_elements) {
        return Err(BundleError::Limit {
            entry: entry.to_string(),
            what: "field elements per row",
            actual: d,
            limit: limits.max_tensor_elements,
        });
    }
    let elements = f
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .unwrap_or(u64::MAX);
    if elements > limits.max_tensor_elements {
        return Err(BundleError::Limit {
            entry: entry.to_string(),
            what: "field elements per row",
            actual: elements,
            limit: limits.max_tensor_elements,
        });
    }
    if f.is_tensor() && !f.dtype.is_tensor_element() {
        return Err(bad(format!("a tensor of {} is not allowed", f.dtype)));
    }
    if f.dtype.is_tensor_only() && !f.is_tensor() {
        return Err(bad(format!(
            "{} is a tensor element type; the field needs a shape",
            f.dtype
        )));
    }
    if f.is_tensor() && !f.names.is_empty() {
        return Err(bad("a tensor field has no element names".into()));
    }
    Ok(())
}

fn check_dataflow<'a>(node: &'a Node, written: &mut BTreeSet<&'a str>) -> Result<(), BundleError> {
    let fail = |message: String| BundleError::Graph {
        node: node.name.clone(),
        message,
    };
    for b in &node.inputs {
        for c in &b.columns {
            if !written.contains(c.as_str()) {
                return Err(fail(format!(
                    "port `{}` reads column `{c}` before anything writes it",
                    b.port
                )));
            }
        }
    }
    if node.op == "pipeline" {
        for child in &node.children {
            check_dataflow(child, written)?;
        }
        for b in &node.outputs {
            for c in &b.columns {
                if !written.contains(c.as_str()) {
                    return Err(fail(format!(
                        "pipeline output `{c}` is not written by any child"
                    )));
                }
            }
        }
    } else {
        for b in &node.outputs {
            for c in &b.columns {
                if !written.insert(c.as_str()) {
                    return Err(fail(format!(
                        "column `{c}` is written twice (columns are single-assignment)"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The two manifest fields that say how to read the rest (JSON form; other fields ignored).
#[derive(serde::Deserialize)]
struct JsonVersionProbe {
    #[serde(default)]
    format: String,
    #[serde(default)]
    format_version: String,
}

/// The two manifest fields that say how to read the rest (protobuf form: the tags of
/// `Manifest.format` and `Manifest.format_version`; prost skips every other field).
#[derive(Clone, PartialEq, prost::Message)]
struct PbVersionProbe {
    #[prost(string, tag = "1")]
    format: String,
    #[prost(string, tag = "2")]
    format_version: String,
}

fn decode_manifest(bytes: &[u8], enc: Encoding, entry: &str) -> Result<Manifest, BundleError> {
    let (format, version) = match enc {
        Encoding::Json => {
            let p: JsonVersionProbe = serde_json::from_slice(bytes).map_err(|e| {
                BundleError::malformed(entry, format!("invalid manifest JSON: {e}"))
            })?;
            (p.format, p.format_version)
        }
        Encoding::Protobuf => {
            let p = PbVersionProbe::decode(bytes).map_err(|e| {
                BundleError::malformed(entry, format!("invalid manifest protobuf: {e}"))
            })?;
            (p.format, p.format_version)
        }
    };
    check_version(&format, &version, entry)?;
    match enc {
        Encoding::Json => serde_json::from_slice(bytes)
            .map_err(|e| BundleError::malformed(entry, format!("invalid manifest JSON: {e}"))),
        Encoding::Protobuf => {
            let pb = crate::pb::Manifest::decode(bytes).map_err(|e| {
                BundleError::malformed(entry, format!("invalid manifest protobuf: {e}"))
            })?;
            proto::manifest_from_pb(pb, entry)
        }
    }
}

fn decode_graph(bytes: &[u8], enc: Encoding, entry: &str) -> Result<Node, BundleError> {
    match enc {
        Encoding::Json => serde_json::from_slice(bytes)
            .map_err(|e| BundleError::malformed(entry, format!("invalid graph JSON: {e}"))),
        Encoding::Protobuf => {
            let pb = crate::pb::Node::decode(bytes).map_err(|e| {
                BundleError::malformed(entry, format!("invalid graph protobuf: {e}"))
            })?;
            proto::node_from_pb(pb, entry)
        }
    }
}

fn encode_manifest(m: &Manifest, enc: Encoding) -> Result<Vec<u8>, BundleError> {
    match enc {
        Encoding::Json => serde_json::to_vec(m).map_err(|e| BundleError::Write(e.to_string())),
        Encoding::Protobuf => Ok(proto::manifest_to_pb(m).encode_to_vec()),
    }
}

fn encode_graph(n: &Node, enc: Encoding) -> Result<Vec<u8>, BundleError> {
    match enc {
        Encoding::Json => serde_json::to_vec(n).map_err(|e| BundleError::Write(e.to_string())),
        Encoding::Protobuf => Ok(proto::node_to_pb(n).encode_to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("1.2.3"), Some((1, 2, 3)));
        assert_eq!(parse_version("2.0.0-rc1"), Some((2, 0, 0)));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.0-rc.1"), Some((1, 2, 0)));
        assert_eq!(parse_version("1.2.3+build.7"), Some((1, 2, 3)));
        assert_eq!(parse_version("1.+2.3"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
    }
}
