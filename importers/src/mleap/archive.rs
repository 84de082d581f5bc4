//! The Bundle.ML zip read into memory through keel's one hardened zip reader
//! ([`keel_bundle::archive`]): names checked, only stored or deflated entries, local headers
//! that agree with the central directory, and every entry inflated under the limits (entry
//! count, per-entry and total uncompressed size, compression ratio), counted while inflating.
//! Directory entries are skipped: MLeap's writer may add them and nothing reads them.

use super::ImportError;
use keel_bundle::Limits;
use keel_bundle::archive::{Archive, ArchiveLimits};
use std::collections::BTreeMap;

/// The files of the archive by path (directories dropped).
#[derive(Debug)]
pub(crate) struct Files {
    files: BTreeMap<String, Vec<u8>>,
}

impl Files {
    /// Reads every file entry of the zip `bytes`, each bounded by the document size of
    /// `limits` (Bundle.ML keeps everything, tensors included, in its JSON or protobuf
    /// documents).
    pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<Files, ImportError> {
        let mut archive = Archive::open(
            bytes,
            ArchiveLimits::from_limits(limits, limits.max_document_bytes),
        )?;
        let mut files = BTreeMap::new();
        for entry in archive.entries().to_vec() {
            if entry.is_dir {
                continue;
            }
            let data = archive.read(&entry.name)?;
            files.insert(entry.name, data);
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
