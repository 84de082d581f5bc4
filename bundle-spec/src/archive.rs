//! The hardened zip reader every keel component uses for archives it did not write: the bundle
//! container (SPEC.md section 1) and the importers' foreign zips (MLeap's Bundle.ML).
//!
//! Everything the archive says about itself is checked before it is believed. [`Archive::open`]
//! reads only the central directory and refuses, naming the entry: an unreadable archive, two
//! entries of one name, more entries than the limit, an unsafe name (`..`, absolute, drive
//! letter, backslash, NUL, empty components), and any compression method other than stored or
//! deflate. [`Archive::read`] then inflates one entry through a reader that stops one byte past
//! the entry's budget (the smallest of the per-entry cap, what is left of the total and what
//! the compression ratio allows its compressed length), so a bomb costs at most its budget in
//! memory whatever its headers declare; the local header must agree with the central directory
//! (zip "cloaking" is refused) and the CRC must match.
//!
//! Policy stays with the caller: whether a directory entry is allowed, which entries are
//! documents with a tighter cap ([`Archive::read_capped`]), what a missing entry means.

use crate::limits::Limits;
use std::collections::HashSet;
use std::io::{Cursor, Read};

/// Bounds on an archive and its entries. Every size is of uncompressed bytes, counted while
/// inflating: the sizes in zip headers are used only to refuse early, never trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most entries in the archive (directories included).
    pub max_entries: usize,
    /// Most uncompressed bytes over all entries read.
    pub max_total_bytes: u64,
    /// Most uncompressed bytes of one entry (`u64::MAX`: only the total bounds it).
    pub max_entry_bytes: u64,
    /// Highest uncompressed/compressed ratio of one entry.
    pub max_compression_ratio: u64,
    /// Entries smaller than this are exempt from the ratio check (tiny documents compress well).
    pub ratio_exempt_below: u64,
}

impl ArchiveLimits {
    /// The archive bounds of a bundle's [`Limits`], with `max_entry_bytes` as the per-entry cap.
    pub fn from_limits(limits: &Limits, max_entry_bytes: u64) -> Self {
        Self {
            max_entries: limits.max_entries,
            max_total_bytes: limits.max_total_bytes,
            max_entry_bytes,
            max_compression_ratio: limits.max_compression_ratio,
            ratio_exempt_below: limits.ratio_exempt_below,
        }
    }
}

impl Default for ArchiveLimits {
    /// The defaults of [`Limits`], each entry capped at the document size (64 MiB).
    fn default() -> Self {
        let limits = Limits::default();
        Self::from_limits(&limits, limits.max_document_bytes)
    }
}

/// Why an archive, or one of its entries, was refused. Every variant about an entry names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The bytes are not a zip archive the reader can open (truncated, corrupted, not a zip).
    #[error("not a readable zip archive: {0}")]
    Zip(String),
    /// An entry's headers cannot be read or disagree with each other (local header versus
    /// central directory, encryption, a malformed extra field).
    #[error("entry `{entry}`: {message}")]
    Entry {
        /// The entry (as the central directory names it).
        entry: String,
        /// The zip library's message.
        message: String,
    },
    /// An entry name that could escape an extraction folder or is ambiguous.
    #[error("entry `{entry}`: unsafe path: {reason}")]
    UnsafePath {
        /// The entry name as stored in the archive.
        entry: String,
        /// What makes it unsafe.
        reason: &'static str,
    },
    /// Two entries share one name (readers disagree on which one counts).
    #[error("entry `{entry}` appears more than once")]
    Duplicate {
        /// The entry.
        entry: String,
    },
    /// A compression method other than stored or deflate.
    #[error("entry `{entry}`: unsupported compression method {method}")]
    Compression {
        /// The entry.
        entry: String,
        /// The method as the zip library names it.
        method: String,
    },
    /// A bound of [`ArchiveLimits`] (or a caller's cap) was exceeded.
    #[error("entry `{entry}`: {what} is {actual}, over the limit of {limit}")]
    Limit {
        /// The entry being read (`<archive>` for whole-archive limits).
        entry: String,
        /// Which limit.
        what: &'static str,
        /// The value found (at least: reading stops at the limit).
        actual: u64,
        /// The limit.
        limit: u64,
    },
    /// The entry's data does not inflate (a corrupt stream, a CRC mismatch, more data than its
    /// header declares).
    #[error("entry `{entry}`: cannot inflate: {message}")]
    Inflate {
        /// The entry.
        entry: String,
        /// The decoder's message.
        message: String,
    },
    /// [`Archive::read`] was asked for a name the archive does not hold.
    #[error("entry `{entry}` is not in the archive")]
    Missing {
        /// The name asked for.
        entry: String,
    },
}

/// What the central directory says about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// The entry's name, checked safe.
    pub name: String,
    /// Whether it is a directory entry (a name ending in `/`).
    pub is_dir: bool,
    index: usize,
    declared_size: u64,
    declared_compressed: u64,
}

/// A zip archive opened for bounded reading; see the module documentation.
pub struct Archive<'a> {
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    entries: Vec<ArchiveEntry>,
    limits: ArchiveLimits,
    /// The archive's own length: no entry's compressed data can be longer.
    len: u64,
    /// Uncompressed bytes read so far, against `max_total_bytes`.
    total: u64,
}

impl std::fmt::Debug for Archive<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("entries", &self.entries)
            .field("limits", &self.limits)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// Refuses a name that could escape an extraction folder or means different things to
/// different tools. A trailing `/` (a directory entry) is the one empty component allowed.
pub(crate) fn check_path(name: &str) -> Result<(), ArchiveError> {
    let bad = |reason| {
        Err(ArchiveError::UnsafePath {
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
    if name.len() >= 2 && name.as_bytes()[1] == b':' {
        return bad("drive letter");
    }
    if name.split('/').any(|c| c == "..") {
        return bad("`..` component");
    }
    if name.split('/').any(|c| c == "." || c.is_empty()) && !name.ends_with('/') {
        return bad("empty or `.` component");
    }
    Ok(())
}

/// Finds the first name that the central directory holds twice. `ZipArchive` keys entries by
/// name and so silently keeps one of two same-named entries; only a raw pass over the central
/// directory can say which name it was.
fn first_duplicate_name(bytes: &[u8]) -> Option<String> {
    let mut iterable =
        zip::unstable::read::ZipIterable::try_new(Cursor::new(bytes), zip::read::Config::default())
            .ok()?;
    let mut seen = HashSet::new();
    for entry in iterable.files().ok()? {
        let entry = entry.ok()?;
        let name = entry.name().ok()?.into_owned();
        if !seen.insert(name.clone()) {
            return Some(name);
        }
    }
    None
}

/// The names in the central directory, unchecked and without reading any data: for sniffing
/// what kind of archive `bytes` is. Use [`Archive`] to read it.
pub fn entry_names(bytes: &[u8]) -> Result<Vec<String>, ArchiveError> {
    let zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| ArchiveError::Zip(e.to_string()))?;
    zip.file_names()
        .map(|n| {
            n.map(std::borrow::Cow::into_owned)
                .map_err(|e| ArchiveError::Zip(format!("unreadable name: {e}")))
        })
        .collect()
}

impl<'a> Archive<'a> {
    /// Opens `bytes`, checking the central directory (see the module documentation). No entry
    /// data is read.
    pub fn open(bytes: &'a [u8], limits: ArchiveLimits) -> Result<Self, ArchiveError> {
        let zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| ArchiveError::Zip(e.to_string()))?;
        if zip.has_duplicate_names() {
            return Err(ArchiveError::Duplicate {
                entry: first_duplicate_name(bytes).unwrap_or_else(|| "<archive>".into()),
            });
        }
        if zip.len() > limits.max_entries {
            return Err(ArchiveError::Limit {
                entry: "<archive>".into(),
                what: "entry count",
                actual: zip.len() as u64,
                limit: limits.max_entries as u64,
            });
        }
        let mut entries = Vec::with_capacity(zip.len());
        for index in 0..zip.len() {
            let e = zip
                .by_index_data(index)
                .map_err(|e| ArchiveError::Zip(format!("entry #{index}: {e}")))?;
            let name = e
                .name()
                .map_err(|e| ArchiveError::Zip(format!("entry #{index}: unreadable name: {e}")))?
                .into_owned();
            // The name is checked before anything else about the entry is believed.
            check_path(&name)?;
            match e.compression() {
                zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated => {}
                other => {
                    return Err(ArchiveError::Compression {
                        entry: name,
                        method: format!("{other:?}"),
                    });
                }
            }
            entries.push(ArchiveEntry {
                name,
                is_dir: e.is_dir(),
                index,
                declared_size: e.size(),
                declared_compressed: e.compressed_size(),
            });
        }
        Ok(Self {
            zip,
            entries,
            limits,
            len: bytes.len() as u64,
            total: 0,
        })
    }

    /// The entries, in central-directory order.
    pub fn entries(&self) -> &[ArchiveEntry] {
        &self.entries
    }

    /// Whether the archive holds an entry named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.zip.index_for_name(name).is_some()
    }

    /// Uncompressed bytes read so far (what counts against `max_total_bytes`).
    pub fn total_read(&self) -> u64 {
        self.total
    }

    /// Inflates entry `name` under the archive's limits.
    pub fn read(&mut self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        self.read_capped(name, "entry size", u64::MAX)
    }

    /// Inflates entry `name` with a tighter cap of `cap` bytes, reported as `what` when it is
    /// the limit exceeded (e.g. `"document size"` for a bundle's manifest).
    pub fn read_capped(
        &mut self,
        name: &str,
        what: &'static str,
        cap: u64,
    ) -> Result<Vec<u8>, ArchiveError> {
        let entry = self
            .zip
            .index_for_name(name)
            .and_then(|i| self.entries.get(i))
            .cloned()
            .ok_or_else(|| ArchiveError::Missing {
                entry: name.to_string(),
            })?;
        let limits = &self.limits;
        let (own, own_what) = if cap <= limits.max_entry_bytes {
            (cap, what)
        } else {
            (limits.max_entry_bytes, "entry size")
        };
        let budget = limits.max_total_bytes.saturating_sub(self.total);
        let size_cap = budget.min(own);
        // The compressed data cannot be longer than the archive: clamping the declared length
        // stops a header that overstates it from buying a bomb a larger ratio allowance.
        let compressed = entry.declared_compressed.min(self.len);
        let ratio_max = compressed
            .saturating_mul(limits.max_compression_ratio)
            .max(limits.ratio_exempt_below.saturating_sub(1));
        let read_limit = size_cap.min(ratio_max);
        let too_big = |size: u64| {
            if size > size_cap {
                // The size limits are reported first: they are the ones a user can act on by
                // raising a number. The entry's own cap names itself when it is the tighter.
                if own <= budget && size > own {
                    return ArchiveError::Limit {
                        entry: name.to_string(),
                        what: own_what,
                        actual: size,
                        limit: own,
                    };
                }
                return ArchiveError::Limit {
                    entry: name.to_string(),
                    what: "total uncompressed size",
                    actual: self.total.saturating_add(size),
                    limit: limits.max_total_bytes,
                };
            }
            ArchiveError::Limit {
                entry: name.to_string(),
                what: "compression ratio",
                // Rounded up: a ratio of 200.5 is over a limit of 200 and must not read as "200".
                actual: size.div_ceil(compressed.max(1)),
                limit: limits.max_compression_ratio,
            }
        };
        // A header that admits to more than the limits is refused before inflating anything.
        if entry.declared_size > read_limit {
            return Err(too_big(entry.declared_size));
        }

        let options = zip::ZipReadOptions::new().enforce_header_consistency(true);
        let mut file = self
            .zip
            .by_index_with_options(entry.index, options)
            .map_err(|e| ArchiveError::Entry {
                entry: name.to_string(),
                message: e.to_string(),
            })?;
        // Never reserve more than the archive's own length up front, whatever the header says
        // (it is only a hint); the vector grows if the entry really is larger.
        let mut data =
            Vec::with_capacity(entry.declared_size.min(self.len).min(read_limit) as usize);
        // Read at most one byte past the limit: that proves the limit was exceeded without
        // ever holding more than the limit in memory, whatever the header claims.
        (&mut file)
            .take(read_limit.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| ArchiveError::Inflate {
                entry: name.to_string(),
                message: e.to_string(),
            })?;
        let size = data.len() as u64;
        if size > read_limit {
            return Err(too_big(size));
        }
        data.shrink_to_fit();
        self.total += size;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_escape_are_refused() {
        for p in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "C:/x",
            "a\\b",
            "a//b",
            "./a",
        ] {
            assert!(check_path(p).is_err(), "{p} should be refused");
        }
        for p in ["manifest.json", "tensors/a.safetensors", "root/"] {
            assert!(check_path(p).is_ok(), "{p} should be allowed");
        }
    }
}
