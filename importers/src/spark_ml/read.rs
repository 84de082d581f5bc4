//! Reading a Spark ML saved-model folder defensively: every path is built from the folder and
//! checked to stay inside it (no `..`, no separators in names taken from metadata, no symbolic
//! links), files are size-bounded, and each stage's parquet data is decoded into a small value
//! tree ([`V`]: numbers, strings, lists, structs, maps) whose floats are the stored IEEE doubles, bit for bit.

use super::Error;
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A metadata document bigger than this is refused (they are a few kilobytes).
const MAX_METADATA_BYTES: u64 = 16 << 20;
/// A stage's parquet file bigger than this is refused (large forests are tens of megabytes).
const MAX_PARQUET_BYTES: u64 = 1 << 30;
/// Decoded values per stage, so a hostile file cannot exhaust memory through nesting.
const MAX_VALUES: usize = 50_000_000;

/// A decoded parquet value.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    /// SQL NULL.
    Null,
    /// A float (any float width, widened exactly).
    F(f64),
    /// An integer (any integer width).
    I(i64),
    /// A boolean.
    B(bool),
    /// A string.
    S(String),
    /// A list.
    L(Vec<V>),
    /// A struct, by field name.
    R(BTreeMap<String, V>),
    /// A map, as its (key, value) entries in stored order (VectorIndexerModel's
    /// `categoryMaps` is a `map<int, map<double, int>>`).
    M(Vec<(V, V)>),
}

/// One row of a stage's data table.
pub type Row = BTreeMap<String, V>;

/// Refuses a name (from metadata or a listing) that could leave its folder.
pub fn check_name(name: &str, path: &Path) -> Result<(), Error> {
    let reason = if name.is_empty() {
        Some("empty name")
    } else if name == "." || name == ".." || name.contains("..") {
        Some("contains `..`")
    } else if name.contains('/') || name.contains('\\') {
        Some("contains a path separator")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::UnsafePath {
            path: path.join(name),
            reason: reason.to_string(),
        }),
        None => Ok(()),
    }
}

/// `path`'s metadata, refusing a symbolic link (it could point anywhere).
fn plain(path: &Path) -> Result<fs::Metadata, Error> {
    let meta = fs::symlink_metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(Error::UnsafePath {
            path: path.to_path_buf(),
            reason: "is a symbolic link".into(),
        });
    }
    Ok(meta)
}

/// Checks that `path` is a real folder (not a link).
pub fn folder(path: &Path) -> Result<(), Error> {
    if plain(path)?.is_dir() {
        Ok(())
    } else {
        Err(Error::Malformed {
            path: path.to_path_buf(),
            message: "is not a folder".into(),
        })
    }
}

/// The data files of a Spark output folder: names starting `part-` that end with `suffix`
/// (Spark's `_SUCCESS` marker and `.crc` side files are ignored), sorted.
fn parts(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>, Error> {
    folder(dir)?;
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("part-") && name.ends_with(suffix) {
            check_name(name, dir)?;
            let p = dir.join(name);
            if !plain(&p)?.is_file() {
                return Err(Error::Malformed {
                    path: p,
                    message: "is not a regular file".into(),
                });
            }
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let meta = plain(path)?;
    if meta.len() > limit {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            message: format!("{} bytes, over the limit of {limit}", meta.len()),
        });
    }
    fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the one-line JSON document in `dir/metadata/part-*` (Spark's `DefaultParamsWriter`).
pub fn metadata(dir: &Path) -> Result<(PathBuf, Value), Error> {
    let mdir = dir.join("metadata");
    let files: Vec<PathBuf> = parts(&mdir, "")?
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".crc"))
        .collect();
    let [file] = files.as_slice() else {
        return Err(Error::Malformed {
            path: mdir,
            message: format!("expected one `part-*` file, found {}", files.len()),
        });
    };
    let bytes = read_bounded(file, MAX_METADATA_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Malformed {
        path: file.clone(),
        message: "is not UTF-8".into(),
    })?;
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let doc: Value = serde_json::from_str(line).map_err(|e| Error::Malformed {
        path: file.clone(),
        message: format!("invalid JSON: {e}"),
    })?;
    if !doc.is_object() {
        return Err(Error::Malformed {
            path: file.clone(),
            message: "is not a JSON object".into(),
        });
    }
    Ok((file.clone(), doc))
}

/// Reads every row of the parquet files in `dir/sub` (e.g. `data`, `treesMetadata`).
pub fn table(dir: &Path, sub: &str) -> Result<(PathBuf, Vec<Row>), Error> {
    let tdir = dir.join(sub);
    let files = parts(&tdir, ".parquet")?;
    if files.is_empty() {
        return Err(Error::Malformed {
            path: tdir,
            message: "holds no `part-*.parquet` file".into(),
        });
    }
    let mut rows = Vec::new();
    let mut budget = MAX_VALUES;
    for file in &files {
        let bad = |e: &dyn std::fmt::Display| Error::Parquet {
            path: file.clone(),
            message: e.to_string(),
        };
        let bytes = read_bounded(file, MAX_PARQUET_BYTES)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .and_then(|b| b.build())
            .map_err(|e| bad(&e))?;
        for batch in reader {
            let batch = batch.map_err(|e| bad(&e))?;
            batch_rows(&batch, &mut rows, &mut budget).map_err(|m| bad(&m))?;
        }
    }
    Ok((tdir, rows))
}

fn batch_rows(batch: &RecordBatch, rows: &mut Vec<Row>, budget: &mut usize) -> Result<(), String> {
    let schema = batch.schema();
    let start = rows.len();
    rows.extend((0..batch.num_rows()).map(|_| Row::new()));
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        for r in 0..batch.num_rows() {
            let v = value(col.as_ref(), r, budget)?;
            rows[start + r].insert(f.name().clone(), v);
        }
    }
    Ok(())
}

fn value(a: &dyn Array, i: usize, budget: &mut usize) -> Result<V, String> {
    if *budget == 0 {
        return Err(format!("more than {MAX_VALUES} values"));
    }
    *budget -= 1;
    if a.is_null(i) {
        return Ok(V::Null);
    }
    use arrow_array::types::*;
    Ok(match a.data_type() {
        DataType::Float64 => V::F(a.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => V::F(f64::from(a.as_primitive::<Float32Type>().value(i))),
        DataType::Int8 => V::I(i64::from(a.as_primitive::<Int8Type>().value(i))),
        DataType::Int16 => V::I(i64::from(a.as_primitive::<Int16Type>().value(i))),
        DataType::Int32 => V::I(i64::from(a.as_primitive::<Int32Type>().value(i))),
        DataType::Int64 => V::I(a.as_primitive::<Int64Type>().value(i)),
        DataType::Boolean => V::B(a.as_boolean().value(i)),
        DataType::Utf8 => V::S(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => V::S(a.as_string::<i64>().value(i).to_string()),
        DataType::List(_) => {
            let items = a.as_list::<i32>().value(i);
            (0..items.len())
                .map(|k| value(items.as_ref(), k, budget))
                .collect::<Result<_, _>>()
                .map(V::L)?
        }
        DataType::LargeList(_) => {
            let items = a.as_list::<i64>().value(i);
            (0..items.len())
                .map(|k| value(items.as_ref(), k, budget))
                .collect::<Result<_, _>>()
                .map(V::L)?
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut out = BTreeMap::new();
            for (f, c) in fields.iter().zip(s.columns()) {
                out.insert(f.name().clone(), value(c.as_ref(), i, budget)?);
            }
            V::R(out)
        }
        DataType::Map(_, _) => {
            let entries = a.as_map().value(i);
            let [keys, vals] = entries.columns() else {
                return Err("a map's entries are not (key, value) pairs".into());
            };
            (0..entries.len())
                .map(|k| {
                    Ok((
                        value(keys.as_ref(), k, budget)?,
                        value(vals.as_ref(), k, budget)?,
                    ))
                })
                .collect::<Result<_, String>>()
                .map(V::M)?
        }
        other => return Err(format!("unexpected parquet column type {other}")),
    })
}
