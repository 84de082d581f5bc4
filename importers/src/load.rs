//! Reading whatever keel scores: a keel bundle, an MLeap Bundle.ML zip or an ONNX model, told
//! apart by content (never by file name, since users rename files). Every entry point (the
//! command line's `score`, `validate`, `inspect`, the REST server, Python's `keel.load`, the
//! Spark JVM engine) reads through [`read_bytes`], so they accept the same files and refuse the
//! others with the same message, which says what was found and what keel reads.

use crate::mleap::{self, ImportError};
use keel_bundle::{Bundle, BundleError, Limits};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What keel reads, for messages.
const WHAT_KEEL_READS: &str = "keel reads keel bundles (a zip with `manifest.json` or \
`manifest.pb`), MLeap Bundle.ML zips (a zip with `bundle.json`) and ONNX models; convert Spark \
ML saved models with `keel convert --from spark-ml`";

/// Which format a bundle was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A keel bundle.
    Keel,
    /// An MLeap Bundle.ML zip, converted on reading (`keel_import::mleap`).
    Mleap,
    /// An ONNX model, converted on reading (`keel_import::onnx`).
    Onnx,
}

/// A bundle read by [`read_bytes`], with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The keel bundle (for an MLeap zip, the bundle it converts to).
    pub bundle: Bundle,
    /// The format the bytes were in.
    pub origin: Origin,
}

/// Why a file could not be read as something keel scores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A keel bundle that is unreadable or breaks the format's rules (the error names the entry).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// An MLeap Bundle.ML zip that could not be converted (the error names the entry or node).
    #[error("MLeap bundle: {0}")]
    Mleap(#[from] ImportError),
    /// An ONNX model that could not be converted (the error names the node or tensor, and lists
    /// every unsupported op at once).
    #[error("ONNX model: {0}")]
    Onnx(#[from] Box<crate::onnx::Error>),
    /// Neither a keel bundle nor an MLeap zip; the message says what the bytes look like.
    #[error("{found}: {WHAT_KEEL_READS}")]
    Unrecognised {
        /// What the bytes are, as far as can be told (`a PNG image`, `a zip archive holding
        /// ...`).
        found: String,
    },
    /// The file could not be opened or read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is larger than any bundle the reader accepts, so it was not read into memory.
    #[error(
        "`{}` is larger than any bundle keel reads ({} MiB): is it a bundle?",
        path.display(),
        max >> 20
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The largest size read, in bytes.
        max: u64,
    },
}

impl LoadError {
    /// A stable code for the kind of failure (`bundle`, `mleap`, `onnx`, `unrecognised`,
    /// `read`, `too_large`), for front ends that map errors to their own classes or statuses.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Bundle(_) => "bundle",
            LoadError::Mleap(_) => "mleap",
            LoadError::Onnx(_) => "onnx",
            LoadError::Unrecognised { .. } => "unrecognised",
            LoadError::Read { .. } => "read",
            LoadError::TooLarge { .. } => "too_large",
        }
    }
}

/// Reads a keel bundle or an MLeap Bundle.ML zip from its bytes, with the default limits.
pub fn read_bytes(bytes: &[u8]) -> Result<Loaded, LoadError> {
    read_bytes_with(bytes, &Limits::default())
}

/// [`read_bytes`] with explicit resource limits (applied to every format). An ONNX model read
/// from bytes alone may not use external data (there is no folder to read it from).
pub fn read_bytes_with(bytes: &[u8], limits: &Limits) -> Result<Loaded, LoadError> {
    read_any(bytes, limits, None, "onnx")
}

fn read_any(
    bytes: &[u8],
    limits: &Limits,
    dir: Option<&Path>,
    name: &str,
) -> Result<Loaded, LoadError> {
    if !is_zip(bytes) && looks_like_onnx(bytes) {
        let bundle = crate::onnx::convert_bytes(bytes, name, dir, &crate::onnx::Limits::default())
            .map_err(Box::new)?;
        return Ok(Loaded {
            bundle,
            origin: Origin::Onnx,
        });
    }
    if !is_zip(bytes) {
        return Err(LoadError::Unrecognised {
            found: format!("not a zip archive ({})", sniff(bytes)),
        });
    }
    let names = entry_names(bytes);
    let has = |n: &str| names.as_ref().is_some_and(|v| v.iter().any(|e| e == n));
    if has("manifest.json") || has("manifest.pb") {
        return Ok(Loaded {
            bundle: Bundle::from_bytes_with(bytes, limits)?,
            origin: Origin::Keel,
        });
    }
    if has("bundle.json") {
        return Ok(Loaded {
            bundle: mleap::read_with(bytes, limits)?,
            origin: Origin::Mleap,
        });
    }
    match names {
        // A zip whose directory cannot be read at all: the bundle reader's error names what is
        // broken (truncated, bad central directory) better than a guess here.
        None => Err(Bundle::from_bytes_with(bytes, limits).err().map_or_else(
            || LoadError::Unrecognised {
                found: "an unreadable zip archive".into(),
            },
            LoadError::Bundle,
        )),
        Some(names) => Err(LoadError::Unrecognised {
            found: format!(
                "a zip archive that is neither a keel bundle nor an MLeap bundle (it holds {})",
                list_names(&names)
            ),
        }),
    }
}

/// Reads a keel bundle or an MLeap zip and plans it with `opts`: the whole load for front ends
/// that speak the runtime's errors (Python, the Spark JVM engine). A keel bundle that does not
/// read is the runtime's `bundle` error; anything else that does not read (an MLeap zip that
/// does not convert, a file that is neither) is its `load` error, with [`LoadError`]'s message.
pub fn read_model(
    bytes: &[u8],
    opts: &keel_runtime::Options,
) -> Result<keel_runtime::Model, keel_runtime::Error> {
    let loaded = read_bytes_with(bytes, &opts.limits).map_err(|e| match e {
        LoadError::Bundle(b) => keel_runtime::Error::from(b),
        other => keel_runtime::Error::Load(other.to_string()),
    })?;
    keel_runtime::Model::from_bundle(&loaded.bundle, opts)
}

/// Reads a file that should hold a bundle, refusing before reading anything larger than the
/// reader's limit on total uncompressed size (plus room for the archive's own overhead): such
/// a file cannot be a valid bundle (e.g. a data file passed where the bundle goes).
pub fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    let read_err = |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let cap = Limits::default().max_total_bytes + (64 << 20);
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > cap {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            max: cap,
        });
    }
    Ok(bytes)
}

/// Reads a bundle file of any format: [`read_file`] then [`read_bytes`]; an ONNX model's
/// external data is read from the file's folder.
pub fn read_path(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = read_file(path)?;
    let (dir, name) = crate::onnx::dir_and_name(path);
    read_any(&bytes, &Limits::default(), dir, name)
}

/// Whether the bytes start like an ONNX `ModelProto`: its first field is `ir_version` (field 1,
/// a varint, tag byte 0x08) with a plausible value, as every ONNX writer puts it first. A
/// wrong guess is harmless: decoding then fails with the ONNX reader's error.
fn looks_like_onnx(bytes: &[u8]) -> bool {
    matches!(bytes, [0x08, v, ..] if (1..=32).contains(v))
}

/// Whether the bytes start like a zip archive (a local file header, or the end record of an
/// empty archive).
fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The entry names of a zip, or `None` when its directory cannot be read. Only the central
/// directory is read (no entry is inflated), so this costs no more than the archive's size.
fn entry_names(bytes: &[u8]) -> Option<Vec<String>> {
    keel_bundle::archive::entry_names(bytes).ok()
}

/// A short list of entry names for a message: the first few, sorted, and how many more.
fn list_names(names: &[String]) -> String {
    const SHOW: usize = 5;
    if names.is_empty() {
        return "no entries".into();
    }
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut out = sorted
        .iter()
        .take(SHOW)
        .map(|n| format!("`{}`", n.chars().take(80).collect::<String>()))
        .collect::<Vec<_>>()
        .join(", ");
    if sorted.len() > SHOW {
        let _ = write!(out, " and {} more", sorted.len() - SHOW);
    }
    out
}

/// What non-zip bytes look like, from their first bytes: the formats a user is likely to pass
/// by mistake (data files, images, other model formats).
fn sniff(bytes: &[u8]) -> String {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let text = std::str::from_utf8(&bytes[..bytes.len().min(256)]).ok();
    let what = if bytes.is_empty() {
        "the file is empty"
    } else if starts(b"ARROW1") {
        "an Arrow IPC file"
    } else if starts(b"\xff\xff\xff\xff") {
        "an Arrow IPC stream"
    } else if starts(b"PAR1") {
        "a Parquet file"
    } else if starts(b"\x89PNG") {
        "a PNG image"
    } else if starts(b"\xff\xd8\xff") {
        "a JPEG image"
    } else if starts(b"\x1f\x8b") {
        "a gzip file"
    } else if starts(b"\x93NUMPY") {
        "a NumPy array file"
    } else if starts(b"\x08") {
        "a protocol buffer that is not an ONNX model"
    } else if starts(b"\x80") {
        "a Python pickle (scikit-learn's joblib files are pickles: export with keel.sklearn)"
    } else if let Some(t) = text {
        let t = t.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            "a JSON document"
        } else {
            "a text file"
        }
    } else {
        "unrecognised bytes"
    };
    what.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn non_zip_bytes_are_named_by_what_they_look_like() {
        for (bytes, found) in [
            (&b"a,b\n1,2\n"[..], "a text file"),
            (b"{\"rows\": []}", "a JSON document"),
            (b"PAR1\0\0", "a Parquet file"),
            (b"\x89PNG\r\n", "a PNG image"),
            (b"", "the file is empty"),
        ] {
            let e = read_bytes(bytes).unwrap_err();
            assert_eq!(e.code(), "unrecognised");
            let msg = e.to_string();
            assert!(msg.contains(found), "{msg}");
            assert!(msg.contains("MLeap Bundle.ML"), "{msg}");
        }
    }

    #[test]
    fn a_zip_of_something_else_lists_its_entries() {
        let names: Vec<String> = (0..7).map(|i| format!("data/{i}.csv")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let e = read_bytes(&zip_of(&entries)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("neither a keel bundle nor an MLeap bundle"),
            "{msg}"
        );
        assert!(msg.contains("`data/0.csv`"), "{msg}");
        assert!(msg.contains("and 2 more"), "{msg}");
    }

    #[test]
    fn keel_and_mleap_bundles_are_told_apart_by_content() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let keel = std::fs::read(root.join("fixtures/sklearn/iris_logreg/model.keel")).unwrap();
        assert_eq!(read_bytes(&keel).unwrap().origin, Origin::Keel);
        let mleap = std::fs::read(root.join("fixtures/mleap/iris_kmeans/bundle.zip")).unwrap();
        let loaded = read_bytes(&mleap).unwrap();
        assert_eq!(loaded.origin, Origin::Mleap);
        assert_eq!(loaded.bundle.manifest.producer.framework, "mleap");
    }

    #[test]
    fn read_model_plans_either_format_and_speaks_the_runtimes_errors() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let opts = keel_runtime::Options::default();
        let mleap = std::fs::read(root.join("fixtures/mleap/iris_kmeans/bundle.zip")).unwrap();
        let model = read_model(&mleap, &opts).unwrap();
        assert_eq!(model.manifest().producer.framework, "mleap");
        let e = read_model(b"a,b\n1,2\n", &opts).unwrap_err();
        assert_eq!(e.code(), "load", "{e:?}");
        assert!(
            e.to_string().contains("not a zip archive (a text file)"),
            "{e}"
        );
    }

    #[test]
    fn a_broken_mleap_zip_is_reported_as_mleap() {
        let e = read_bytes(&zip_of(&[("bundle.json", b"{not json")])).unwrap_err();
        assert_eq!(e.code(), "mleap");
        assert!(e.to_string().starts_with("MLeap bundle: "), "{e}");
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing.keel");
        assert_eq!(read_file(&p).unwrap_err().code(), "read");
    }
}
