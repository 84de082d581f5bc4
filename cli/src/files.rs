//! Output files written so that each appears whole or not at all (a temporary file beside it, renamed into place on success and
//! removed on failure). The rename is what makes `keel convert m.keel m.keel` safe, and what
//! keeps a failed `keel score` from leaving a truncated file that looks like a result.

use crate::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Whether `a` and `b` name the same existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// An output file being written: a temporary file beside `dest`, or `dest` itself when it
/// exists and is not a regular file (`/dev/null`, a named pipe), which must not be replaced.
#[derive(Debug)]
pub struct OutputFile {
    dest: PathBuf,
    tmp: Option<PathBuf>,
}

impl OutputFile {
    /// Creates the file to write; returns it with a buffered writer.
    pub fn create(dest: &Path) -> Result<(OutputFile, BufWriter<File>), Error> {
        let write_err = |source| Error::WriteFile {
            path: dest.to_path_buf(),
            source,
        };
        let special = std::fs::metadata(dest).is_ok_and(|m| !m.is_file());
        if special {
            let f = File::create(dest).map_err(write_err)?;
            let out = OutputFile {
                dest: dest.to_path_buf(),
                tmp: None,
            };
            return Ok((out, BufWriter::with_capacity(1 << 16, f)));
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let tmp = dest.with_file_name(format!(".{name}.keel-{}.tmp", std::process::id()));
        let f = File::create(&tmp).map_err(write_err)?;
        let out = OutputFile {
            dest: dest.to_path_buf(),
            tmp: Some(tmp),
        };
        Ok((out, BufWriter::with_capacity(1 << 16, f)))
    }

    /// Moves the finished file into place. `writer` must be the one [`Self::create`] returned,
    /// already flushed by its user; it is synced here so the rename never exposes a file whose
    /// content is not yet on disk.
    pub fn commit(mut self, writer: BufWriter<File>) -> Result<(), Error> {
        let write_err = |source| Error::WriteFile {
            path: self.dest.clone(),
            source,
        };
        let file = writer.into_inner().map_err(|e| write_err(e.into_error()))?;
        if let Some(tmp) = self.tmp.take() {
            file.sync_all().map_err(write_err)?;
            drop(file);
            if let Err(e) = std::fs::rename(&tmp, &self.dest) {
                let _ = std::fs::remove_file(&tmp);
                return Err(write_err(e));
            }
        }
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        // Not committed: the temporary file holds a partial result; remove it.
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Writes `bytes` to `dest` whole or not at all.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let (out, mut w) = OutputFile::create(dest)?;
    w.write_all(bytes)
        .and_then(|()| w.flush())
        .map_err(|source| Error::WriteFile {
            path: dest.to_path_buf(),
            source,
        })?;
    out.commit(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_outputs_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        {
            let (_out, mut w) = OutputFile::create(&dest).unwrap();
            w.write_all(b"partial").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&dest, b"whole").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        write_atomic(&dest, b"again").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"again");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(same_file(&dest, &dir.path().join(".").join("out.csv")));
    }
}
