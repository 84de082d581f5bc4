//! Reads the zip into memory under [`Limits`]: bounded entry count, per-entry and total
//! uncompressed sizes (counted while decompressing, not trusted from the headers), compression
//! ratio, and safe entry names.

use super::ImportError;
use keel_bundle::Limits;
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

/// The files of the archive by path (directories dropped).
#[derive(Debug)]
pub(crate) struct Files {
    files: BTreeMap<String, Vec<u8>>,
}

fn check_path(name: &str) -> Result<(), ImportError> {
    let bad = |reason| {
        Err(ImportError::UnsafePath {
            entry: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty name");
    }
    if name.contains('\0') {
        return bad("contains a NUL byte");
    }
    if name.contains('\\') {
        return bad("contains a backslash");
    }
    if name.starts_with('/') {
        return bad("absolute path");
    }
    if name.len() >= 2 && name.as_bytes().get(1) == Some(&b':') {
        return bad("drive letter");
    }
    if name.split('/').any(|part| part == ".." || part == ".") {
        return bad("`.` or `..` component");
    }
    Ok(())
}

impl Files {
    /// Reads every file entry of the zip `bytes`.
    pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<Files, ImportError> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| ImportError::Zip(e.to_string()))?;
        if zip.len() > limits.max_entries {
            return Err(ImportError::Limit {
                entry: "(archive)".into(),
                message: format!(
                    "{} entries, more than the limit of {}",
                    zip.len(),
                    limits.max_entries
                ),
            });
        }
        let mut files = BTreeMap::new();
        let mut total: u64 = 0;
        for i in 0..zip.len() {
            let mut entry = zip
                .by_index(i)
                .map_err(|e| ImportError::Zip(e.to_string()))?;
            let name = entry
                .name()
                .map_err(|e| ImportError::Zip(format!("entry {i}: {e}")))?
                .to_string();
            check_path(&name)?;
            if entry.is_dir() {
                continue;
            }
            let limit = limits
                .max_document_bytes
                .min(limits.max_total_bytes.saturating_sub(total));
            let mut data = Vec::new();
            // Read one byte past the bound so an oversized entry is detected whatever its
            // header claims.
            (&mut entry)
                .take(limit.saturating_add(1))
                .read_to_end(&mut data)
                .map_err(|e| ImportError::Zip(format!("entry `{name}`: {e}")))?;
            let size = data.len() as u64;
            if size > limit {
                return Err(ImportError::Limit {
                    entry: name,
                    message: format!(
                        "larger than the limit of {} bytes (per entry {}, in all {})",
                        limit, limits.max_document_bytes, limits.max_total_bytes
                    ),
                });
            }
            let compressed = entry.compressed_size().max(1);
            if size >= limits.ratio_exempt_below && size / compressed > limits.max_compression_ratio
            {
                return Err(ImportError::Limit {
                    entry: name,
                    message: format!(
                        "compression ratio {} exceeds the limit of {}",
                        size / compressed,
                        limits.max_compression_ratio
                    ),
                });
            }
            total += size;
            if files.insert(name.clone(), data).is_some() {
                return Err(ImportError::malformed(name, "the entry appears twice"));
            }
        }
        Ok(Files { files })
    }

    /// The bytes of `path`, or [`ImportError::Missing`].
    pub(crate) fn get(&self, path: &str) -> Result<&[u8], ImportError> {
        self.files
            .get(path)
            .map(Vec::as_slice)
            .ok_or_else(|| ImportError::Missing {
                entry: path.to_string(),
            })
    }

    /// Parses `path` as JSON.
    pub(crate) fn json(&self, path: &str) -> Result<serde_json::Value, ImportError> {
        serde_json::from_slice(self.get(path)?).map_err(|e| ImportError::Json {
            entry: path.to_string(),
            message: e.to_string(),
        })
    }
}
