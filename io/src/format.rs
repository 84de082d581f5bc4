//! Data formats `keel score` reads and writes, and how a format is chosen: an explicit flag
//! wins, then the file's extension, then (for the output only) the input's format. Standard
//! input has no extension, so reading it needs `--format`.

use crate::error::Error;
use std::fmt;
use std::path::Path;

/// A tabular data format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row; an empty field is a null. Vector outputs are
    /// flattened into one column per element, named `column[element]`; a list of strings is
    /// one field holding a JSON array (`["a","b"]`).
    Csv,
    /// JSON lines: one object per line, one key per column (`.jsonl`, `.ndjson`, `.json`); a
    /// list of strings is a JSON array of strings.
    Jsonl,
    /// Arrow IPC file (`.arrow`, `.feather`, `.ipc`).
    Arrow,
    /// Arrow IPC stream (`.arrows`): batches in, batches out, as they come.
    Arrows,
}

impl Format {
    /// The format a file extension stands for (case-insensitive), if any.
    pub fn from_extension(ext: &str) -> Option<Format> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "csv" => Format::Csv,
            "jsonl" | "ndjson" | "json" => Format::Jsonl,
            "arrow" | "feather" | "ipc" => Format::Arrow,
            "arrows" => Format::Arrows,
            _ => return None,
        })
    }

    /// The format a name stands for (case-insensitive): the canonical names `csv`, `jsonl`,
    /// `arrow` and `arrows`, and the aliases `json`, `ndjson`, `ipc`, `feather` and
    /// `arrow-stream`.
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "arrow-stream" => Some(Format::Arrows),
            other => Format::from_extension(other),
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Arrow => "arrow",
            Format::Arrows => "arrows",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::from_name(s).ok_or_else(|| {
            format!(
                "unknown format `{s}` (possible values: csv, jsonl, arrow, arrows; also json, \
                 ndjson, ipc, feather, arrow-stream)"
            )
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const CHOICES: &str = "csv, jsonl, arrow or arrows";

fn extension(path: &Path) -> Option<&str> {
    path.extension().and_then(|e| e.to_str())
}

/// The input's format: `flag`, else the extension of `path` (`None` = standard input).
pub fn input_format(flag: Option<Format>, path: Option<&Path>) -> Result<Format, Error> {
    if let Some(f) = flag {
        return Ok(f);
    }
    let Some(path) = path else {
        return Err(Error::Usage(format!(
            "reading standard input needs --format ({CHOICES}): there is no file extension to go by"
        )));
    };
    match extension(path) {
        Some(ext) => Format::from_extension(ext).ok_or_else(|| {
            Error::Usage(format!(
                "cannot tell the format of `{}` from its extension `.{ext}`; pass --format ({CHOICES})",
                path.display()
            ))
        }),
        None => Err(Error::Usage(format!(
            "`{}` has no extension to tell its format by; pass --format ({CHOICES})",
            path.display()
        ))),
    }
}

/// The output's format: `flag`, else the extension of `path` (`None` = standard output), else
/// the input's format. An extension that names no format is an error rather than a silent
/// fallback, so `-o preds.txt` does not quietly produce something the user did not expect.
pub fn output_format(
    flag: Option<Format>,
    path: Option<&Path>,
    input: Format,
) -> Result<Format, Error> {
    if let Some(f) = flag {
        return Ok(f);
    }
    match path.and_then(|p| extension(p).map(|e| (p, e))) {
        Some((p, ext)) => Format::from_extension(ext).ok_or_else(|| {
            Error::Usage(format!(
                "cannot tell the format of `{}` from its extension `.{ext}`; pass --output-format ({CHOICES})",
                p.display()
            ))
        }),
        None => Ok(input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_map_to_formats() {
        assert_eq!(Format::from_extension("CSV"), Some(Format::Csv));
        assert_eq!(Format::from_extension("ndjson"), Some(Format::Jsonl));
        assert_eq!(Format::from_extension("feather"), Some(Format::Arrow));
        assert_eq!(Format::from_extension("arrows"), Some(Format::Arrows));
        assert_eq!(Format::from_extension("txt"), None);
    }

    #[test]
    fn flags_win_then_extensions_then_the_input() {
        let p = Path::new("x.csv");
        assert_eq!(
            input_format(Some(Format::Arrow), Some(p)).ok(),
            Some(Format::Arrow)
        );
        assert_eq!(input_format(None, Some(p)).ok(), Some(Format::Csv));
        assert!(input_format(None, None).is_err());
        assert!(input_format(None, Some(Path::new("x.txt"))).is_err());
        assert!(input_format(None, Some(Path::new("noext"))).is_err());
        assert_eq!(
            output_format(None, None, Format::Jsonl).ok(),
            Some(Format::Jsonl)
        );
        assert_eq!(
            output_format(None, Some(Path::new("o.arrows")), Format::Csv).ok(),
            Some(Format::Arrows)
        );
        assert_eq!(
            output_format(None, Some(Path::new("o")), Format::Csv).ok(),
            Some(Format::Csv)
        );
        assert!(output_format(None, Some(Path::new("o.txt")), Format::Csv).is_err());
    }
}
