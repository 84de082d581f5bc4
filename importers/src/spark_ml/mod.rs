//! Spark ML saved models (`PipelineModel.write().save(dir)`) to keel bundles, without a JVM.
//!
//! A saved pipeline is a folder: `metadata/part-*` holds one line of JSON (`class`, `uid`,
//! `paramMap`, `defaultParamMap`, `sparkVersion`, and for a pipeline `paramMap.stageUids`), and
//! each stage lives in `stages/{index}_{uid}/` with its own `metadata/` and, for fitted models,
//! a `data/` folder of parquet files (tree ensembles add `treesMetadata/`). This module reads
//! those with `read` and maps each stage to the same `spark.*` runtime op, with the same
//! attributes, as the Python exporter `keel.spark.export` does from a live model
//! (exporters/keel/spark/), so both routes give the same bundle semantics.
//!
//! Code map: `stage.rs` loads the folder tree and reads a stage's params, `data.rs` its fitted
//! data, `plan.rs` plans on column names and assembles the bundle, `columns.rs` tracks the
//! columns and emits the stages, and `stages/` holds the stage table ([`SUPPORTED`] is its
//! list of classes) and the converters by stage family.
//!
//! Every stage class is checked against the table before anything is converted: an
//! unsupported one is refused naming its class and folder. The saved model carries no input schema: it comes from
//! `sample_schema` (Spark's JSON `StructType` or a DDL string such as `a DOUBLE, b STRING`) or
//! is inferred (see the `schema` module).

mod columns;
mod data;
mod plan;
mod read;
mod schema;
mod stage;
mod stages;

use keel_bundle::{Bundle, BundleError};
use std::path::{Path, PathBuf};

pub use stages::SUPPORTED;

/// What went wrong reading or converting a saved model; every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read.
    #[error("`{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A path that would leave the model folder (a symbolic link, `..`, a separator in a name
    /// taken from metadata).
    #[error("`{path}`: unsafe path: {reason}")]
    UnsafePath {
        /// The path.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A metadata document or folder does not have the expected shape.
    #[error("`{path}`: {message}")]
    Malformed {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A parquet file could not be decoded.
    #[error("`{path}`: bad parquet data: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// A stage class, parameter value or column type keel cannot reproduce exactly.
    #[error("`{path}`: {message}")]
    Unsupported {
        /// The stage folder.
        path: PathBuf,
        /// What is not supported (names the stage class).
        message: String,
    },
    /// The `--sample-schema` text could not be parsed.
    #[error("sample schema: {0}")]
    Schema(String),
    /// The bundle could not be assembled.
    #[error("building the bundle: {0}")]
    Bundle(#[from] BundleError),
}

/// Conversion options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The input schema, as Spark's JSON `StructType` or a DDL string; inferred when absent.
    pub sample_schema: Option<String>,
    /// The bundle's name (default: the pipeline's uid).
    pub name: Option<String>,
}

/// Reads the saved model in `dir` and builds the bundle (in memory; nothing is written).
pub fn convert(dir: &Path, options: &Options) -> Result<Bundle, Error> {
    let schema = options
        .sample_schema
        .as_deref()
        .map(schema::parse)
        .transpose()?;
    let loaded = stage::load(dir)?;
    plan::build(&loaded, schema.as_deref(), options.name.as_deref())
}
