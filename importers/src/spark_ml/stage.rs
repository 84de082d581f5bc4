//! The stages of a saved model: loading the pipeline's folder tree (metadata only, nested
//! pipelines flattened into one list, every class checked against the stage table before any
//! data is read) and reading each stage's parameters and data as Spark's `getOrDefault` and
//! its model readers would.

use super::Error;
use super::read::{self, Row};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The class of a saved pipeline, whose stages are flattened into the one list.
const PIPELINE: &str = "org.apache.spark.ml.PipelineModel";
/// PySpark's own pipeline writer (used when a stage is Python-only, e.g. OneVsRestModel) writes
/// the same layout under its Python class name; its stages are checked one by one.
const PY_PIPELINES: &[&str] = &[
    "pyspark.ml.pipeline.PipelineModel",
    "pyspark.ml.PipelineModel",
];

/// One stage of the (flattened) pipeline.
pub(super) struct Stage {
    /// Its folder.
    pub(super) dir: PathBuf,
    /// Its metadata document.
    pub(super) meta: Value,
    /// Fully qualified class.
    pub(super) class: String,
    /// Where it sits, e.g. `PipelineModel.stages[2]`.
    pub(super) path: String,
}

/// A loaded saved model: its stages in order and what identifies it.
pub(super) struct Loaded {
    pub(super) uid: String,
    pub(super) spark_version: String,
    pub(super) timestamp: i64,
    pub(super) stages: Vec<Stage>,
}

/// The string `key` of a metadata document.
fn meta_str<'a>(doc: &'a Value, key: &str, path: &Path) -> Result<&'a str, Error> {
    doc.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Malformed {
            path: path.to_path_buf(),
            message: format!("metadata has no string `{key}`"),
        })
}

/// Reads the folder tree (metadata only) and refuses unsupported classes before any data is
/// read or anything is written.
pub(super) fn load(dir: &Path) -> Result<Loaded, Error> {
    // The folder the user names may itself be reached through a link (their choice); links
    // inside it are refused.
    let dir = &dir.canonicalize().map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    read::folder(dir)?;
    let (mpath, meta) = read::metadata(dir)?;
    let uid = meta_str(&meta, "uid", &mpath)?.to_string();
    let spark_version = meta_str(&meta, "sparkVersion", &mpath)?.to_string();
    let timestamp = meta.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
    let mut stages = Vec::new();
    let root = short(meta_str(&meta, "class", &mpath)?).to_string();
    flatten(dir, meta, &mpath, &root, &mut stages)?;
    for s in &stages {
        if super::stages::lookup(&s.class).is_none() {
            return Err(Error::Unsupported {
                path: s.dir.clone(),
                message: format!(
                    "{}: stage {} is not supported (supported: {})",
                    s.path,
                    s.class,
                    super::stages::SUPPORTED
                        .iter()
                        .map(|c| short(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(Loaded {
        uid,
        spark_version,
        timestamp,
        stages,
    })
}

/// The class name without its package, e.g. `VectorAssembler`.
pub(super) fn short(class: &str) -> &str {
    class.rsplit('.').next().unwrap_or(class)
}

/// Appends the stage in `dir` to `out`, or, for a pipeline, its stages in order (recursively).
fn flatten(
    dir: &Path,
    meta: Value,
    mpath: &Path,
    path: &str,
    out: &mut Vec<Stage>,
) -> Result<(), Error> {
    let class = meta_str(&meta, "class", mpath)?.to_string();
    if class != PIPELINE && !PY_PIPELINES.contains(&class.as_str()) {
        out.push(Stage {
            dir: dir.to_path_buf(),
            meta,
            class,
            path: path.to_string(),
        });
        return Ok(());
    }
    let uids = meta
        .get("paramMap")
        .and_then(|p| p.get("stageUids"))
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Malformed {
            path: mpath.to_path_buf(),
            message: "a PipelineModel's metadata has no `paramMap.stageUids` list".into(),
        })?;
    let sdir = dir.join("stages");
    // Spark pads the index to the digits of the stage count (`getStagePath`): `07_uid` when
    // there are 10 to 99 stages.
    let digits = uids.len().to_string().len();
    for (i, u) in uids.iter().enumerate() {
        let u = u.as_str().ok_or_else(|| Error::Malformed {
            path: mpath.to_path_buf(),
            message: format!("stageUids[{i}] is not a string"),
        })?;
        let name = format!("{i:0digits$}_{u}");
        // The folder name comes from the metadata: it must name a child of `stages/`.
        read::check_name(&name, &sdir)?;
        let child = sdir.join(&name);
        read::folder(&sdir)?;
        read::folder(&child)?;
        let (cpath, cmeta) = read::metadata(&child)?;
        let cuid = meta_str(&cmeta, "uid", &cpath)?;
        if cuid != u {
            return Err(Error::Malformed {
                path: cpath,
                message: format!("uid is `{cuid}`, the pipeline lists `{u}`"),
            });
        }
        flatten(&child, cmeta, &cpath, &format!("{path}.stages[{i}]"), out)?;
    }
    Ok(())
}

impl Stage {
    /// The class name without its package.
    pub(super) fn short(&self) -> &str {
        short(&self.class)
    }

    /// A parameter's value: set explicitly, else its default (Spark's `getOrDefault`).
    pub(super) fn param(&self, name: &str) -> Option<&Value> {
        self.meta
            .get("paramMap")
            .and_then(|m| m.get(name))
            .or_else(|| self.meta.get("defaultParamMap").and_then(|m| m.get(name)))
    }

    /// Whether the param is set explicitly (not only by its default).
    pub(super) fn is_set(&self, name: &str) -> bool {
        self.meta
            .get("paramMap")
            .and_then(|m| m.get(name))
            .is_some()
    }

    /// [`Error::Unsupported`] naming this stage's folder, place and class.
    pub(super) fn unsupported(&self, message: impl Into<String>) -> Error {
        Error::Unsupported {
            path: self.dir.clone(),
            message: format!("{} ({}): {}", self.path, self.short(), message.into()),
        }
    }

    /// [`Error::Malformed`] naming this stage's folder, place and class.
    pub(super) fn malformed(&self, message: impl Into<String>) -> Error {
        Error::Malformed {
            path: self.dir.clone(),
            message: format!("{} ({}): {}", self.path, self.short(), message.into()),
        }
    }

    /// A string param, `None` when absent or null.
    pub(super) fn str_param(&self, name: &str) -> Result<Option<String>, Error> {
        match self.param(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.malformed(format!("param `{name}` is {v}, not a string"))),
        }
    }

    /// A column-name param, `None` when absent or empty (Spark's "do not write it").
    pub(super) fn col_param(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(self.str_param(name)?.filter(|s| !s.is_empty()))
    }

    /// A string param that must be present.
    pub(super) fn need_str(&self, name: &str) -> Result<String, Error> {
        self.str_param(name)?
            .ok_or_else(|| self.malformed(format!("param `{name}` is missing")))
    }

    /// A list-of-strings param, `None` when absent or null.
    pub(super) fn strs_param(&self, name: &str) -> Result<Option<Vec<String>>, Error> {
        match self.param(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.malformed(format!("param `{name}` holds a non-string")))
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(v) => Err(self.malformed(format!("param `{name}` is {v}, not a list"))),
        }
    }

    /// A double param (non-finite values as Spark writes them), `None` when absent or null.
    pub(super) fn f64_param(&self, name: &str) -> Result<Option<f64>, Error> {
        match self.param(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => json_f64(v)
                .map(Some)
                .ok_or_else(|| self.malformed(format!("param `{name}` is {v}, not a number"))),
        }
    }

    /// A list-of-doubles param, `None` when absent or null.
    pub(super) fn f64s_param(&self, name: &str) -> Result<Option<Vec<f64>>, Error> {
        match self.param(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    json_f64(v).ok_or_else(|| self.malformed(format!("param `{name}` holds {v}")))
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(v) => Err(self.malformed(format!("param `{name}` is {v}, not a list"))),
        }
    }

    /// A boolean param, `None` when absent or null.
    pub(super) fn bool_param(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.param(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.malformed(format!("param `{name}` is {v}, not a boolean"))),
        }
    }

    /// `handleInvalid`, refusing `skip` (it drops rows; a scorer answers every row).
    pub(super) fn handle_invalid(&self) -> Result<String, Error> {
        let v = self
            .str_param("handleInvalid")?
            .unwrap_or_else(|| "error".into());
        if v == "error" || v == "keep" {
            Ok(v)
        } else {
            Err(self.unsupported(format!(
                "handleInvalid='{v}' is not supported ('skip' drops rows; keel returns one result per input row)"
            )))
        }
    }

    /// A single- or multi-column transformer's input and output columns.
    pub(super) fn in_out(&self) -> Result<(Vec<String>, Vec<String>), Error> {
        if self.is_set("inputCols") {
            let ins = self.strs_param("inputCols")?.unwrap_or_default();
            let outs = self.strs_param("outputCols")?.unwrap_or_default();
            if ins.len() != outs.len() {
                return Err(self.malformed(format!(
                    "{} inputCols for {} outputCols",
                    ins.len(),
                    outs.len()
                )));
            }
            Ok((ins, outs))
        } else {
            Ok((
                vec![self.need_str("inputCol")?],
                vec![self.need_str("outputCol")?],
            ))
        }
    }

    /// A predictor's output columns that are set (raw prediction, probability, prediction).
    pub(super) fn predictor_outs(&self) -> Result<Vec<String>, Error> {
        let mut outs = Vec::new();
        for n in ["rawPredictionCol", "probabilityCol", "predictionCol"] {
            if let Some(c) = self.col_param(n)? {
                outs.push(c);
            }
        }
        Ok(outs)
    }

    /// The rows of the stage's `data/` parquet files.
    pub(super) fn data(&self) -> Result<Vec<Row>, Error> {
        let (_, rows) = read::table(&self.dir, "data")?;
        Ok(rows)
    }

    /// The one row of a model that saves a single row of data.
    pub(super) fn one_row(&self) -> Result<Row, Error> {
        let rows = self.data()?;
        let n = rows.len();
        rows.into_iter()
            .next()
            .filter(|_| n == 1)
            .ok_or_else(|| self.malformed(format!("data holds {n} rows, expected 1")))
    }
}

/// Spark writes non-finite doubles in param JSON as strings.
pub(super) fn json_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Inf" | "Infinity" => Some(f64::INFINITY),
            "-Inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}
