//! Helpers shared by the bundle-spec integration tests: a small valid base bundle made with
//! keel's own writer, ways to take it apart and put it back together (recomputing the manifest's
//! digests, or deliberately not), and a raw zip writer that can produce what the `zip` crate's
//! writer refuses to (unsafe names, duplicate names, other compression methods, lying headers,
//! deflate bombs).
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]
// Test helpers: a panic here is a failed test, as in the tests themselves (clippy only exempts
// `#[test]` functions, not the helpers they call).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use flate2::{Compress, Compression, FlushCompress};
use keel_bundle::{
    Attr, Binding, Bundle, BundleError, DType, Encoding, FORMAT_NAME, FORMAT_VERSION, Field,
    Manifest, Node, Producer, TensorRef, TensorWriter,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

/// Path of the one tensor file of the base bundle.
pub const TENSORS: &str = "tensors/model.safetensors";

/// A graph node with no attributes, children or doc.
pub fn node(name: &str, op: &str, inputs: Vec<Binding>, outputs: Vec<Binding>) -> Node {
    Node {
        name: name.into(),
        op: op.into(),
        inputs,
        outputs,
        attrs: BTreeMap::new(),
        children: Vec::new(),
        doc: String::new(),
    }
}

/// A manifest with fixed identity fields (so that bytes are reproducible), two f64 inputs
/// `x0`, `x1` and one f64 output `y`.
pub fn base_manifest() -> Manifest {
    Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION.into(),
        name: "base".into(),
        uid: "00000000-0000-4000-8000-000000000000".into(),
        created: "2026-01-01T00:00:00Z".into(),
        producer: Producer {
            name: "keel.tests".into(),
            version: "0.0.0".into(),
            framework: "none".into(),
            framework_version: "0".into(),
        },
        root: "root".into(),
        inputs: vec![
            Field::scalar("x0", DType::F64, true),
            Field::scalar("x1", DType::F64, true),
        ],
        outputs: vec![Field::scalar("y", DType::F64, false)],
        metadata: BTreeMap::new(),
        entries: Vec::new(),
    }
}

/// The base graph: `root` (pipeline) -> `scale` (reads x0, x1) -> `model` (tensor coef).
pub fn base_graph() -> Node {
    let mut scale = node(
        "scale",
        "sklearn.standard_scaler",
        vec![Binding::new("X", ["x0", "x1"])],
        vec![Binding::new("Y", ["scale.Y"])],
    );
    scale
        .attrs
        .insert("mean".into(), Attr::F64s(vec![0.0, 0.0]));
    scale
        .attrs
        .insert("scale".into(), Attr::F64s(vec![1.0, 1.0]));
    let mut model = node(
        "model",
        "sklearn.linear",
        vec![Binding::new("X", ["scale.Y"])],
        vec![Binding::new("prediction", ["y"])],
    );
    model.attrs.insert(
        "coef".into(),
        Attr::Tensor(TensorRef {
            file: TENSORS.into(),
            key: "model/coef".into(),
        }),
    );
    model
        .attrs
        .insert("intercept".into(), Attr::F64s(vec![0.125]));
    model
        .attrs
        .insert("task".into(), Attr::Str("regression".into()));
    let mut root = node(
        "root",
        "pipeline",
        vec![Binding::new("in", ["x0", "x1"])],
        vec![Binding::new("out", ["y"])],
    );
    root.children = vec![scale, model];
    root
}

/// The base tensor file: `model/coef`, f64 `[1, 2]`.
pub fn base_tensors() -> Vec<u8> {
    let mut tw = TensorWriter::new();
    tw.f64("model/coef", &[1, 2], &[0.5, -0.25]);
    tw.finish().expect("tensor file")
}

/// The base bundle, made and validated by keel's own writer.
pub fn base_bundle() -> Bundle {
    Bundle::new(
        base_manifest(),
        base_graph(),
        [(TENSORS.to_string(), base_tensors())],
    )
    .expect("base bundle is valid")
}

/// The base bundle's bytes in `encoding`.
pub fn base_bytes(encoding: Encoding) -> Vec<u8> {
    base_bundle().to_bytes(encoding).expect("write base bundle")
}

/// The uncompressed entries of an archive, in archive order (read with the zip crate).
pub fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).expect("entry");
            let mut data = Vec::new();
            f.read_to_end(&mut data).expect("read");
            (f.name().expect("name").to_string(), data)
        })
        .collect()
}

/// A bundle taken apart: the JSON documents as values, the tensor files as bytes.
#[derive(Clone)]
pub struct Parts {
    /// `manifest.json`.
    pub manifest: Value,
    /// `graph.json`.
    pub graph: Value,
    /// `tensors/*.safetensors`, by path.
    pub tensors: Vec<(String, Vec<u8>)>,
}

/// The base bundle (JSON encoding), taken apart.
pub fn base_parts() -> Parts {
    let mut manifest = Value::Null;
    let mut graph = Value::Null;
    let mut tensors = Vec::new();
    for (name, data) in entries(&base_bytes(Encoding::Json)) {
        match name.as_str() {
            "manifest.json" => manifest = serde_json::from_slice(&data).expect("manifest"),
            "graph.json" => graph = serde_json::from_slice(&data).expect("graph"),
            _ => tensors.push((name, data)),
        }
    }
    Parts {
        manifest,
        graph,
        tensors,
    }
}

/// `{"path", "sha256", "size"}` for one entry.
pub fn entry_json(path: &str, data: &[u8]) -> Value {
    json!({"path": path, "sha256": hex::encode(Sha256::digest(data)), "size": data.len()})
}

/// Sets `manifest.entries` to the true digests of `files`, sorted by path.
pub fn set_entries(manifest: &mut Value, files: &[(String, Vec<u8>)]) {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    manifest["entries"] = Value::Array(sorted.iter().map(|(p, d)| entry_json(p, d)).collect());
}

/// Encodes a JSON value compactly.
pub fn to_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

impl Parts {
    /// The non-manifest files, graph first.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = vec![("graph.json".to_string(), to_json(&self.graph))];
        files.extend(self.tensors.iter().cloned());
        files
    }

    /// Puts the bundle back together with correct digests (so that the reader gets past the
    /// container checks to whatever the test changed).
    pub fn pack(&self) -> Vec<u8> {
        let files = self.files();
        let mut manifest = self.manifest.clone();
        set_entries(&mut manifest, &files);
        let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
        all.extend(files);
        zip_files(&all)
    }

    /// Puts the bundle back together keeping `manifest.entries` exactly as it is.
    pub fn pack_as_is(&self) -> Vec<u8> {
        let mut all = vec![("manifest.json".to_string(), to_json(&self.manifest))];
        all.extend(self.files());
        zip_files(&all)
    }
}

/// One entry of a hand-made archive. The sizes and CRC are whatever the test wants the headers
/// to say; `data` goes into the archive as it is (already compressed for method 8).
#[derive(Clone)]
pub struct RawEntry {
    /// The name in the central directory.
    pub name: Vec<u8>,
    /// The name in the local header (normally the same).
    pub local_name: Vec<u8>,
    /// Compression method id.
    pub method: u16,
    /// General-purpose flags (bit 0: encrypted, bit 11: UTF-8 name).
    pub flags: u16,
    /// The stored bytes.
    pub data: Vec<u8>,
    /// Declared CRC-32 of the uncompressed content.
    pub crc: u32,
    /// Declared compressed size.
    pub compressed_size: u32,
    /// Declared uncompressed size.
    pub size: u32,
}

impl RawEntry {
    /// A stored entry with honest headers.
    pub fn stored(name: &str, content: &[u8]) -> Self {
        RawEntry {
            name: name.as_bytes().to_vec(),
            local_name: name.as_bytes().to_vec(),
            method: 0,
            flags: 0x0800,
            data: content.to_vec(),
            crc: crc32fast::hash(content),
            compressed_size: content.len() as u32,
            size: content.len() as u32,
        }
    }

    /// A deflated entry with honest headers.
    pub fn deflated(name: &str, content: &[u8]) -> Self {
        let data = deflate(content);
        RawEntry {
            compressed_size: data.len() as u32,
            data,
            method: 8,
            ..Self::stored(name, content)
        }
    }
}

/// Raw deflate (no zlib header), as zip method 8 stores it.
pub fn deflate(content: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::best());
    e.write_all(content).expect("deflate");
    e.finish().expect("deflate")
}

/// A deflate stream that inflates to `chunks` MiB of zeros without ever holding them: one MiB
/// compressed with a full flush (which byte-aligns the output and resets the compressor, so the
/// compressed chunk is self-contained and can be repeated), repeated, then a final empty block.
/// About 1 KiB of compressed data per MiB inflated.
pub fn zero_bomb(chunks: usize) -> Vec<u8> {
    const MIB: usize = 1 << 20;
    let input = vec![0u8; MIB];
    let mut c = Compress::new(Compression::best(), false);
    let mut chunk = Vec::with_capacity(4096);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&input[consumed..], &mut chunk, FlushCompress::Full)
            .expect("compress");
        if c.total_in() as usize == MIB && chunk.len() < chunk.capacity() {
            break;
        }
        chunk.reserve(4096);
    }
    let mut out = Vec::with_capacity(chunk.len() * chunks + 2);
    for _ in 0..chunks {
        out.extend_from_slice(&chunk);
    }
    // A final fixed-Huffman block holding only end-of-block: BFINAL=1, BTYPE=01, EOB=0000000.
    out.extend_from_slice(&[0x03, 0x00]);
    out
}

/// A deflated entry whose data is a zero bomb of `chunks` MiB, with honest sizes (CRC zero: a
/// reader that stops at a limit never reaches the CRC check).
pub fn bomb_entry(name: &str, chunks: usize) -> RawEntry {
    let data = zero_bomb(chunks);
    let inflated = (chunks as u64) << 20;
    RawEntry {
        name: name.as_bytes().to_vec(),
        local_name: name.as_bytes().to_vec(),
        method: 8,
        flags: 0x0800,
        compressed_size: data.len() as u32,
        size: u32::try_from(inflated).unwrap_or(u32::MAX),
        crc: 0,
        data,
    }
}

/// Where one entry lies in an archive (offsets of its central and local headers and data).
#[derive(Debug, Clone)]
pub struct Layout {
    /// The entry name.
    pub name: String,
    /// Offset of its central directory header.
    pub central: usize,
    /// Offset of its local header.
    pub local: usize,
    /// Offset of its data.
    pub data: usize,
    /// Length of its (compressed) data.
    pub data_len: usize,
    /// Length of its name.
    pub name_len: usize,
    /// Compression method id.
    pub method: usize,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Offset of the end-of-central-directory record.
pub fn eocd(bytes: &[u8]) -> usize {
    (0..=bytes.len() - 22)
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .expect("EOCD")
}

/// The layout of every entry of a well-formed archive (no zip64).
pub fn layout(bytes: &[u8]) -> Vec<Layout> {
    let end = eocd(bytes);
    let count = u16_at(bytes, end + 10);
    let mut at = u32_at(bytes, end + 16);
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(bytes[at..at + 4], [0x50, 0x4b, 0x01, 0x02]);
        let name_len = u16_at(bytes, at + 28);
        let extra = u16_at(bytes, at + 30);
        let comment = u16_at(bytes, at + 32);
        let local = u32_at(bytes, at + 42);
        let name = String::from_utf8_lossy(&bytes[at + 46..at + 46 + name_len]).to_string();
        let local_extra = u16_at(bytes, local + 28);
        out.push(Layout {
            name,
            central: at,
            local,
            data: local + 30 + u16_at(bytes, local + 26) + local_extra,
            data_len: u32_at(bytes, at + 20),
            name_len,
            method: u16_at(bytes, at + 10),
        });
        at += 46 + name_len + extra + comment;
    }
    out
}

/// Writes a zip archive from raw entries, exactly as described (DOS date 1980-01-01).
pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    fn put16(o: &mut Vec<u8>, v: u16) {
        o.extend_from_slice(&v.to_le_bytes());
    }
    fn put32(o: &mut Vec<u8>, v: u32) {
        o.extend_from_slice(&v.to_le_bytes());
    }
    const DATE: u16 = (1 << 5) | 1;
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(out.len() as u32);
        put32(&mut out, 0x0403_4b50);
        put16(&mut out, 20);
        put16(&mut out, e.flags);
        put16(&mut out, e.method);
        put16(&mut out, 0);
        put16(&mut out, DATE);
        put32(&mut out, e.crc);
        put32(&mut out, e.compressed_size);
        put32(&mut out, e.size);
        put16(&mut out, e.local_name.len() as u16);
        put16(&mut out, 0);
        out.extend_from_slice(&e.local_name);
        out.extend_from_slice(&e.data);
    }
    let cd_start = out.len() as u32;
    for (e, off) in entries.iter().zip(&offsets) {
        put32(&mut out, 0x0201_4b50);
        put16(&mut out, 20);
        put16(&mut out, 20);
        put16(&mut out, e.flags);
        put16(&mut out, e.method);
        put16(&mut out, 0);
        put16(&mut out, DATE);
        put32(&mut out, e.crc);
        put32(&mut out, e.compressed_size);
        put32(&mut out, e.size);
        put16(&mut out, e.name.len() as u16);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put32(&mut out, 0);
        put32(&mut out, *off);
        out.extend_from_slice(&e.name);
    }
    let cd_len = out.len() as u32 - cd_start;
    put32(&mut out, 0x0605_4b50);
    put16(&mut out, 0);
    put16(&mut out, 0);
    put16(&mut out, entries.len() as u16);
    put16(&mut out, entries.len() as u16);
    put32(&mut out, cd_len);
    put32(&mut out, cd_start);
    put16(&mut out, 0);
    out
}

/// Zips `(name, content)` pairs in order: `.json` documents deflated, everything else stored.
pub fn zip_files(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let raw: Vec<RawEntry> = files
        .iter()
        .map(|(name, data)| {
            if name.ends_with(".json") {
                RawEntry::deflated(name, data)
            } else {
                RawEntry::stored(name, data)
            }
        })
        .collect();
    raw_zip(&raw)
}

/// A safetensors file from a hand-written header (padded with spaces to 8 bytes, as the format
/// allows) and raw data.
pub fn safetensors_raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

/// The variant of an error, by name (BundleError is non-exhaustive).
pub fn kind(e: &BundleError) -> &'static str {
    match e {
        BundleError::Zip(_) => "Zip",
        BundleError::UnsafePath { .. } => "UnsafePath",
        BundleError::Limit { .. } => "Limit",
        BundleError::HashMismatch { .. } => "HashMismatch",
        BundleError::SizeMismatch { .. } => "SizeMismatch",
        BundleError::Unlisted { .. } => "Unlisted",
        BundleError::MissingEntry { .. } => "MissingEntry",
        BundleError::Duplicate { .. } => "Duplicate",
        BundleError::Compression { .. } => "Compression",
        BundleError::Malformed { .. } => "Malformed",
        BundleError::UnsupportedVersion { .. } => "UnsupportedVersion",
        BundleError::Tensor { .. } => "Tensor",
        BundleError::Graph { .. } => "Graph",
        BundleError::Write(_) => "Write",
        _ => "unknown",
    }
}

/// Reads `bytes` and returns the error, failing the test if the bundle was accepted.
pub fn refuse(bytes: &[u8]) -> BundleError {
    match Bundle::from_bytes(bytes) {
        Ok(_) => panic!("a hostile bundle was accepted"),
        Err(e) => e,
    }
}

/// Reads `bytes` with `limits` and returns the error, failing the test if it was accepted.
pub fn refuse_with(bytes: &[u8], limits: &keel_bundle::Limits) -> BundleError {
    match Bundle::from_bytes_with(bytes, limits) {
        Ok(_) => panic!("a hostile bundle was accepted"),
        Err(e) => e,
    }
}

/// A bundle that exercises every attribute kind (with the awkward values: NaN, infinities,
/// negative zero, subnormals, extreme integers, escapes and non-ASCII text, empty lists, nested
/// lists holding every kind), every field option (all dtypes, scalar and vector shapes,
/// nullable both ways, element names, docs), metadata, node docs, nested pipelines and two
/// tensor files holding every tensor dtype. Its identity fields are fixed, so its bytes are
/// reproducible.
pub fn full_bundle() -> Bundle {
    use keel_bundle::TensorDType;
    let tref = |file: &str, key: &str| {
        Attr::Tensor(TensorRef {
            file: file.into(),
            key: key.into(),
        })
    };
    let awkward_floats = vec![
        0.5,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        -f64::MAX,
        0.1,
        1e21,
        1e-7,
        123_456_789.0,
        1.0,
    ];
    let mut attrs = BTreeMap::new();
    attrs.insert("bool_false".to_string(), Attr::Bool(false));
    attrs.insert("bool_true".to_string(), Attr::Bool(true));
    attrs.insert("i64_max".to_string(), Attr::I64(i64::MAX));
    attrs.insert("i64_min".to_string(), Attr::I64(i64::MIN));
    attrs.insert("i64_zero".to_string(), Attr::I64(0));
    attrs.insert("f64_half".to_string(), Attr::F64(0.5));
    attrs.insert("f64_nan".to_string(), Attr::F64(f64::NAN));
    attrs.insert("f64_inf".to_string(), Attr::F64(f64::INFINITY));
    attrs.insert("f64_neg_inf".to_string(), Attr::F64(f64::NEG_INFINITY));
    attrs.insert("f64_neg_zero".to_string(), Attr::F64(-0.0));
    attrs.insert("f64_subnormal".to_string(), Attr::F64(5e-324));
    attrs.insert("str_empty".to_string(), Attr::Str(String::new()));
    attrs.insert(
        "str_awkward".to_string(),
        Attr::Str("h\u{e9}llo \u{2713} \"quoted\" \\ \n\t\u{1} \u{1F600} </script>".into()),
    );
    attrs.insert("i64s_empty".to_string(), Attr::I64s(vec![]));
    attrs.insert(
        "i64s".to_string(),
        Attr::I64s(vec![i64::MIN, -1, 0, 1, i64::MAX]),
    );
    attrs.insert("f64s_empty".to_string(), Attr::F64s(vec![]));
    attrs.insert("f64s".to_string(), Attr::F64s(awkward_floats.clone()));
    attrs.insert("strs_empty".to_string(), Attr::Strs(vec![]));
    attrs.insert(
        "strs".to_string(),
        Attr::Strs(vec!["a".into(), String::new(), "\u{fc}ber".into()]),
    );
    attrs.insert("list_empty".to_string(), Attr::List(vec![]));
    attrs.insert(
        "list".to_string(),
        Attr::List(vec![
            Attr::Strs(vec!["a".into(), "b".into()]),
            Attr::F64s(vec![1.0, f64::NAN]),
            Attr::List(vec![Attr::I64s(vec![1, 2]), Attr::List(vec![])]),
            Attr::Bool(true),
            Attr::I64(-7),
            Attr::F64(f64::NEG_INFINITY),
            Attr::Str("x".into()),
            tref("tensors/a.safetensors", "f32"),
        ]),
    );
    attrs.insert("tensor".to_string(), tref("tensors/a.safetensors", "f64"));

    let mut stage = node(
        "every_attr",
        "test.every_attr",
        vec![
            Binding::new("X", ["f64_in", "i64_in"]),
            Binding::new("T", ["utf8_in"]),
        ],
        vec![
            Binding::new("Y", ["every_attr.Y"]),
            Binding::new("Z", ["every_attr.Z", "every_attr.W"]),
        ],
    );
    stage.attrs = attrs;
    stage.doc = "a stage with one attribute of every kind".into();
    let mut other = node(
        "other",
        "test.other",
        vec![Binding::new("X", ["every_attr.Y", "vec_in"])],
        vec![Binding::new("Y", ["out_vec"])],
    );
    other.attrs.insert(
        "weights".into(),
        tref("tensors/b.safetensors", "weights/i64"),
    );
    let mut inner = node(
        "inner",
        "pipeline",
        vec![Binding::new("in", ["f64_in", "i64_in", "utf8_in"])],
        vec![Binding::new("out", ["every_attr.Y", "every_attr.Z"])],
    );
    inner.children = vec![stage];
    inner.doc = "Pipeline.inner (Pipeline)".into();
    let mut root = node(
        "root",
        "pipeline",
        vec![Binding::new(
            "in",
            ["f64_in", "i64_in", "utf8_in", "vec_in"],
        )],
        vec![Binding::new("out", ["every_attr.Z", "out_vec"])],
    );
    root.children = vec![inner, other];
    root.doc = "the root".into();

    let mut inputs = vec![
        Field::scalar("f64_in", DType::F64, true),
        Field::scalar("f32_in", DType::F32, false),
        Field::scalar("i64_in", DType::I64, false),
        Field::scalar("i32_in", DType::I32, true),
        Field::scalar("bool_in", DType::Bool, false),
        Field::scalar("utf8_in", DType::Utf8, true),
        Field::vector("vec_in", DType::F64, 3),
    ];
    inputs[0].doc = "a documented input".into();
    inputs[6].names = vec!["first".into(), "second".into(), "third \u{2713}".into()];
    inputs[6].doc = "a named vector".into();
    let mut out_vec = Field::vector("out_vec", DType::F64, 2);
    out_vec.names = vec!["p0".into(), "p1".into()];
    out_vec.nullable = true;
    let outputs = vec![Field::scalar("every_attr.Z", DType::Utf8, false), out_vec];

    let mut manifest = base_manifest();
    manifest.name = "full".into();
    manifest.inputs = inputs;
    manifest.outputs = outputs;
    manifest
        .metadata
        .insert("author".into(), "keel tests".into());
    manifest
        .metadata
        .insert("note \u{2713}".into(), "line one\nline \"two\"".into());

    let mut a = TensorWriter::new();
    a.f64("f64", &[2, 2], &[1.0, -0.0, f64::NAN, f64::INFINITY]);
    a.raw(
        "f32",
        TensorDType::F32,
        &[3],
        [1.5f32, -2.0, f32::MIN_POSITIVE]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
    );
    a.raw("empty", TensorDType::F64, &[0, 4], Vec::new());
    let mut b = TensorWriter::new();
    b.i64("weights/i64", &[2], &[i64::MIN, i64::MAX]);
    b.raw(
        "i32",
        TensorDType::I32,
        &[2],
        [-1i32, 7].iter().flat_map(|x| x.to_le_bytes()).collect(),
    );
    b.raw("u8", TensorDType::U8, &[3], vec![0, 127, 255]);
    b.raw("bool", TensorDType::Bool, &[2], vec![0, 1]);
    Bundle::new(
        manifest,
        root,
        [
            ("tensors/a.safetensors".to_string(), a.finish().expect("a")),
            ("tensors/b.safetensors".to_string(), b.finish().expect("b")),
        ],
    )
    .expect("the full bundle is valid")
}
