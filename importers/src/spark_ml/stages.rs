//! The stages: loading the pipeline's folder tree, planning on column names (which stages the
//! outputs need), and converting each kept stage to its `spark.*` op with the attributes the
//! Python exporter (exporters/keel/spark/_feature.py, _models.py) gives it.

use super::Error;
use super::read::{self, Row, V};
use super::schema::SchemaField;
use keel_bundle::{
    Attr, Binding, Bundle, DType, FORMAT_NAME, FORMAT_VERSION, Field, Manifest, Node, Producer,
    TensorRef, TensorWriter,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

// The stages added after the first set, in their own file to keep this one navigable.
#[path = "stages_more.rs"]
mod more;
// The predictors of exporters/keel/spark/_models2.py.
#[path = "stages_models2.rs"]
mod models2;
// The text stages of exporters/keel/spark/_text.py and VectorIndexerModel.
#[path = "stages_text.rs"]
mod text;

/// The stage classes this importer converts (Spark's fully qualified names).
pub const SUPPORTED: &[&str] = &[
    "org.apache.spark.ml.feature.VectorAssembler",
    "org.apache.spark.ml.feature.StringIndexerModel",
    "org.apache.spark.ml.feature.OneHotEncoderModel",
    "org.apache.spark.ml.feature.StandardScalerModel",
    "org.apache.spark.ml.feature.MinMaxScalerModel",
    "org.apache.spark.ml.feature.ImputerModel",
    "org.apache.spark.ml.feature.Bucketizer",
    "org.apache.spark.ml.feature.RobustScalerModel",
    "org.apache.spark.ml.feature.ElementwiseProduct",
    "org.apache.spark.ml.feature.ChiSqSelectorModel",
    "org.apache.spark.ml.feature.UnivariateFeatureSelectorModel",
    "org.apache.spark.ml.feature.VarianceThresholdSelectorModel",
    "org.apache.spark.ml.classification.LogisticRegressionModel",
    "org.apache.spark.ml.regression.LinearRegressionModel",
    "org.apache.spark.ml.classification.DecisionTreeClassificationModel",
    "org.apache.spark.ml.regression.DecisionTreeRegressionModel",
    "org.apache.spark.ml.classification.RandomForestClassificationModel",
    "org.apache.spark.ml.regression.RandomForestRegressionModel",
    "org.apache.spark.ml.classification.GBTClassificationModel",
    "org.apache.spark.ml.regression.GBTRegressionModel",
    "org.apache.spark.ml.feature.MaxAbsScalerModel",
    "org.apache.spark.ml.feature.Binarizer",
    "org.apache.spark.ml.feature.Normalizer",
    "org.apache.spark.ml.feature.PolynomialExpansion",
    "org.apache.spark.ml.feature.IndexToString",
    "org.apache.spark.ml.feature.VectorSlicer",
    "org.apache.spark.ml.feature.PCAModel",
    "org.apache.spark.ml.classification.LinearSVCModel",
    "org.apache.spark.ml.classification.NaiveBayesModel",
    "org.apache.spark.ml.clustering.KMeansModel",
    "org.apache.spark.ml.regression.GeneralizedLinearRegressionModel",
    "org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel",
    "org.apache.spark.ml.classification.FMClassificationModel",
    "org.apache.spark.ml.regression.FMRegressionModel",
    "org.apache.spark.ml.regression.IsotonicRegressionModel",
    "org.apache.spark.ml.feature.Tokenizer",
    "org.apache.spark.ml.feature.RegexTokenizer",
    "org.apache.spark.ml.feature.StopWordsRemover",
    "org.apache.spark.ml.feature.NGram",
    "org.apache.spark.ml.feature.HashingTF",
    "org.apache.spark.ml.feature.CountVectorizerModel",
    "org.apache.spark.ml.feature.IDFModel",
    "org.apache.spark.ml.feature.FeatureHasher",
    "org.apache.spark.ml.feature.Word2VecModel",
    "org.apache.spark.ml.feature.VectorIndexerModel",
];

/// The stages whose runtime op reads a sparse block as it is (exporters/keel/spark/_text.py,
/// `SPARSE_READERS`); any other stage reading a sparse vector wider than [`DENSIFY_LIMIT`] is
/// refused, as the runtime would refuse it.
const SPARSE_READERS: &[&str] = &[
    "IDFModel",
    "LogisticRegressionModel",
    "LinearRegressionModel",
    "LinearSVCModel",
    "NaiveBayesModel",
    "VectorAssembler",
];
/// The widest sparse block the runtime densifies (runtime/src/value.rs `DENSIFY_LIMIT`).
const DENSIFY_LIMIT: u64 = 1 << 16;
/// The stages that read token (`array<string>`) columns.
const TOKEN_READERS: &[&str] = &[
    "StopWordsRemover",
    "NGram",
    "HashingTF",
    "CountVectorizerModel",
    "Word2VecModel",
];

const PIPELINE: &str = "org.apache.spark.ml.PipelineModel";
/// PySpark's own pipeline writer (used when a stage is Python-only, e.g. OneVsRestModel) writes
/// the same layout under its Python class name; its stages are checked one by one.
const PY_PIPELINES: &[&str] = &[
    "pyspark.ml.pipeline.PipelineModel",
    "pyspark.ml.PipelineModel",
];
const TENSOR_FILE: &str = "tensors/model.safetensors";
/// Numeric lists longer than this go into a tensor (SPEC.md section 4, as the exporters do).
const INLINE_LIMIT: usize = 64;
/// Largest vector or matrix a stage may declare (a hostile `size` must not allocate at will).
const MAX_ELEMENTS: usize = 1 << 26;

/// One stage of the (flattened) pipeline.
pub struct Stage {
    /// Its folder.
    pub dir: PathBuf,
    /// Its metadata document.
    pub meta: Value,
    /// Fully qualified class.
    pub class: String,
    /// Where it sits, e.g. `PipelineModel.stages[2]`.
    pub path: String,
}

/// A loaded saved model: its stages in order and what identifies it.
pub struct Loaded {
    uid: String,
    spark_version: String,
    timestamp: i64,
    stages: Vec<Stage>,
}

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
pub fn load(dir: &Path) -> Result<Loaded, Error> {
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
        if !SUPPORTED.contains(&s.class.as_str()) {
            return Err(Error::Unsupported {
                path: s.dir.clone(),
                message: format!(
                    "{}: stage {} is not supported (supported: {})",
                    s.path,
                    s.class,
                    SUPPORTED
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

fn short(class: &str) -> &str {
    class.rsplit('.').next().unwrap_or(class)
}

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

// -- parameters ---------------------------------------------------------------------------------

impl Stage {
    fn short(&self) -> &str {
        short(&self.class)
    }

    /// A parameter's value: set explicitly, else its default (Spark's `getOrDefault`).
    fn param(&self, name: &str) -> Option<&Value> {
        self.meta
            .get("paramMap")
            .and_then(|m| m.get(name))
            .or_else(|| self.meta.get("defaultParamMap").and_then(|m| m.get(name)))
    }

    fn is_set(&self, name: &str) -> bool {
        self.meta
            .get("paramMap")
            .and_then(|m| m.get(name))
            .is_some()
    }

    fn unsupported(&self, message: impl Into<String>) -> Error {
        Error::Unsupported {
            path: self.dir.clone(),
            message: format!("{} ({}): {}", self.path, self.short(), message.into()),
        }
    }

    fn malformed(&self, message: impl Into<String>) -> Error {
        Error::Malformed {
            path: self.dir.clone(),
            message: format!("{} ({}): {}", self.path, self.short(), message.into()),
        }
    }

    fn str_param(&self, name: &str) -> Result<Option<String>, Error> {
        match self.param(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.malformed(format!("param `{name}` is {v}, not a string"))),
        }
    }

    /// A column-name param, `None` when absent or empty (Spark's "do not write it").
    fn col_param(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(self.str_param(name)?.filter(|s| !s.is_empty()))
    }

    fn need_str(&self, name: &str) -> Result<String, Error> {
        self.str_param(name)?
            .ok_or_else(|| self.malformed(format!("param `{name}` is missing")))
    }

    fn strs_param(&self, name: &str) -> Result<Option<Vec<String>>, Error> {
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

    fn f64_param(&self, name: &str) -> Result<Option<f64>, Error> {
        match self.param(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => json_f64(v)
                .map(Some)
                .ok_or_else(|| self.malformed(format!("param `{name}` is {v}, not a number"))),
        }
    }

    fn f64s_param(&self, name: &str) -> Result<Option<Vec<f64>>, Error> {
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

    fn bool_param(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.param(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.malformed(format!("param `{name}` is {v}, not a boolean"))),
        }
    }

    /// `handleInvalid`, refusing `skip` (it drops rows; a scorer answers every row).
    fn handle_invalid(&self) -> Result<String, Error> {
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
    fn in_out(&self) -> Result<(Vec<String>, Vec<String>), Error> {
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

    fn predictor_outs(&self) -> Result<Vec<String>, Error> {
        let mut outs = Vec::new();
        for n in ["rawPredictionCol", "probabilityCol", "predictionCol"] {
            if let Some(c) = self.col_param(n)? {
                outs.push(c);
            }
        }
        Ok(outs)
    }

    fn is_predictor(&self) -> bool {
        self.class.contains(".classification.")
            || self.class.contains(".regression.")
            || self.class.contains(".clustering.")
    }

    fn data(&self) -> Result<Vec<Row>, Error> {
        let (_, rows) = read::table(&self.dir, "data")?;
        Ok(rows)
    }

    fn one_row(&self) -> Result<Row, Error> {
        let rows = self.data()?;
        let n = rows.len();
        rows.into_iter()
            .next()
            .filter(|_| n == 1)
            .ok_or_else(|| self.malformed(format!("data holds {n} rows, expected 1")))
    }
}

/// Spark writes non-finite doubles in param JSON as strings.
fn json_f64(v: &Value) -> Option<f64> {
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

// -- data values --------------------------------------------------------------------------------

fn field<'a>(r: &'a BTreeMap<String, V>, name: &str, st: &Stage) -> Result<&'a V, Error> {
    r.get(name)
        .ok_or_else(|| st.malformed(format!("data has no `{name}` field")))
}

fn as_f64(v: &V, what: &str, st: &Stage) -> Result<f64, Error> {
    match v {
        V::F(x) => Ok(*x),
        V::I(i) => Ok(*i as f64),
        _ => Err(st.malformed(format!("`{what}` is {v:?}, not a number"))),
    }
}

fn as_i64(v: &V, what: &str, st: &Stage) -> Result<i64, Error> {
    match v {
        V::I(i) => Ok(*i),
        _ => Err(st.malformed(format!("`{what}` is {v:?}, not an integer"))),
    }
}

fn as_list<'a>(v: &'a V, what: &str, st: &Stage) -> Result<&'a [V], Error> {
    match v {
        V::L(l) => Ok(l),
        _ => Err(st.malformed(format!("`{what}` is not a list"))),
    }
}

fn as_struct<'a>(v: &'a V, what: &str, st: &Stage) -> Result<&'a BTreeMap<String, V>, Error> {
    match v {
        V::R(r) => Ok(r),
        _ => Err(st.malformed(format!("`{what}` is not a struct"))),
    }
}

fn f64_list(v: &V, what: &str, st: &Stage) -> Result<Vec<f64>, Error> {
    as_list(v, what, st)?
        .iter()
        .map(|x| as_f64(x, what, st))
        .collect()
}

fn usize_of(i: i64, what: &str, st: &Stage) -> Result<usize, Error> {
    usize::try_from(i)
        .ok()
        .filter(|n| *n <= MAX_ELEMENTS)
        .ok_or_else(|| st.malformed(format!("`{what}` = {i} is out of range")))
}

/// A Spark ML vector (`VectorUDT` struct: type 0 sparse with size/indices/values, 1 dense),
/// as dense values, and whether it was stored sparse.
fn vector(v: &V, what: &str, st: &Stage) -> Result<(Vec<f64>, bool), Error> {
    let r = as_struct(v, what, st)?;
    let kind = as_i64(field(r, "type", st)?, what, st)?;
    let values = f64_list(field(r, "values", st)?, what, st)?;
    match kind {
        1 => Ok((values, false)),
        0 => {
            let size = usize_of(as_i64(field(r, "size", st)?, what, st)?, what, st)?;
            let mut out = vec![0.0; size];
            let idx = as_list(field(r, "indices", st)?, what, st)?;
            if idx.len() != values.len() {
                return Err(st.malformed(format!("`{what}`: indices and values differ in length")));
            }
            for (i, x) in idx.iter().zip(&values) {
                let i = usize_of(as_i64(i, what, st)?, what, st)?;
                *out.get_mut(i)
                    .ok_or_else(|| st.malformed(format!("`{what}`: index {i} out of range")))? = *x;
            }
            if values.contains(&0.0) {
                return Err(
                    st.unsupported(format!("`{what}`: sparse storage holds an explicit zero"))
                );
            }
            Ok((out, true))
        }
        k => Err(st.malformed(format!("`{what}`: vector type {k}"))),
    }
}

/// A Spark ML matrix (`MatrixUDT` struct) as (rows, cols, row-major values, stored sparse).
fn matrix(v: &V, what: &str, st: &Stage) -> Result<(usize, usize, Vec<f64>, bool), Error> {
    let r = as_struct(v, what, st)?;
    let kind = as_i64(field(r, "type", st)?, what, st)?;
    let rows = usize_of(as_i64(field(r, "numRows", st)?, what, st)?, what, st)?;
    let cols = usize_of(as_i64(field(r, "numCols", st)?, what, st)?, what, st)?;
    let n = rows
        .checked_mul(cols)
        .filter(|n| *n <= MAX_ELEMENTS)
        .ok_or_else(|| st.malformed(format!("`{what}`: {rows}x{cols} is too large")))?;
    let transposed = matches!(field(r, "isTransposed", st)?, V::B(true));
    let values = f64_list(field(r, "values", st)?, what, st)?;
    let mut out = vec![0.0; n];
    match kind {
        1 => {
            if values.len() != n {
                return Err(st.malformed(format!(
                    "`{what}`: {} values for {rows}x{cols}",
                    values.len()
                )));
            }
            for i in 0..rows {
                for j in 0..cols {
                    // Dense matrices are column-major unless transposed (then row-major).
                    out[i * cols + j] = if transposed {
                        values[i * cols + j]
                    } else {
                        values[j * rows + i]
                    };
                }
            }
            Ok((rows, cols, out, false))
        }
        0 => {
            // CSC (colPtrs over columns, rowIndices); transposed: CSR over rows.
            let ptrs: Vec<i64> = as_list(field(r, "colPtrs", st)?, what, st)?
                .iter()
                .map(|x| as_i64(x, what, st))
                .collect::<Result<_, _>>()?;
            let idx: Vec<i64> = as_list(field(r, "rowIndices", st)?, what, st)?
                .iter()
                .map(|x| as_i64(x, what, st))
                .collect::<Result<_, _>>()?;
            let (major, minor) = if transposed {
                (rows, cols)
            } else {
                (cols, rows)
            };
            let bad = || st.malformed(format!("`{what}`: inconsistent sparse matrix"));
            if ptrs.len() != major + 1 || idx.len() != values.len() {
                return Err(bad());
            }
            for m in 0..major {
                let (a, b) = (
                    usize_of(ptrs[m], what, st)?,
                    usize_of(ptrs[m + 1], what, st)?,
                );
                if a > b || b > values.len() {
                    return Err(bad());
                }
                for k in a..b {
                    let o = usize_of(idx[k], what, st)?;
                    if o >= minor {
                        return Err(bad());
                    }
                    let (i, j) = if transposed { (m, o) } else { (o, m) };
                    out[i * cols + j] = values[k];
                }
            }
            if values.contains(&0.0) {
                return Err(
                    st.unsupported(format!("`{what}`: sparse storage holds an explicit zero"))
                );
            }
            Ok((rows, cols, out, true))
        }
        k => Err(st.malformed(format!("`{what}`: matrix type {k}"))),
    }
}

// -- the graph being built ----------------------------------------------------------------------

#[derive(Clone)]
struct Col {
    name: String,
    dtype: DType,
    width: Option<u64>,
    /// One name per feature; empty for a sparse block wider than [`DENSIFY_LIMIT`] (it can be
    /// neither an output nor densified, and 2^18 names per hashed column would be waste).
    names: Vec<String>,
    /// A sparse block (HashingTF, CountVectorizerModel, FeatureHasher and what IDFModel or
    /// VectorAssembler make of one): the runtime keeps it sparse.
    sparse: bool,
    /// A list of strings per row (the tokenizers' output; `dtype` is then `Utf8`).
    tokens: bool,
}

impl Col {
    fn scalar(name: &str, dtype: DType) -> Col {
        Col {
            name: name.into(),
            dtype,
            width: None,
            names: vec![name.into()],
            sparse: false,
            tokens: false,
        }
    }
    /// A sparse block of `width` features named `name[j]` (as the exporter names them).
    fn sparse(name: &str, width: u64) -> Col {
        Col {
            name: name.into(),
            dtype: DType::F64,
            width: Some(width),
            names: if width <= DENSIFY_LIMIT {
                (0..width).map(|j| format!("{name}[{j}]")).collect()
            } else {
                Vec::new()
            },
            sparse: true,
            tokens: false,
        }
    }
    /// A token column.
    fn tokens(name: &str) -> Col {
        Col {
            tokens: true,
            ..Col::scalar(name, DType::Utf8)
        }
    }
    fn vector(name: &str, names: Vec<String>) -> Col {
        Col {
            name: name.into(),
            dtype: DType::F64,
            width: Some(names.len() as u64),
            names,
            sparse: false,
            tokens: false,
        }
    }
    fn is_numeric(&self) -> bool {
        self.width.is_some() || (self.dtype != DType::Utf8 && !self.tokens)
    }
}

/// What a stage expects of a column, used to type a pipeline input when no schema is given.
#[derive(Clone, Copy)]
enum Want {
    /// A scalar of this type.
    Scalar(DType),
    /// A vector of this many doubles.
    Vector(usize),
}

struct Ctx<'a> {
    schema: Option<&'a [SchemaField]>,
    /// Pipeline inputs (not produced by any stage).
    pipeline_inputs: HashSet<String>,
    cols: HashMap<String, Col>,
    nullable: HashSet<String>,
    inputs: Vec<Field>,
    tensors: TensorWriter,
    has_tensors: bool,
    names: HashSet<String>,
    children: Vec<Node>,
    reads: Vec<String>,
    writes: BTreeSet<String>,
    /// Vectors a VectorAssembler built from scalar columns only: Spark names their features
    /// after those columns, which is what `Col::names` holds (VectorSlicer's `names` need it).
    scalar_assembled: HashSet<String>,
}

impl Ctx<'_> {
    /// The column `name`: produced earlier, declared by the schema, or (no schema) a pipeline
    /// input typed by what the reading stage wants.
    fn get(&mut self, name: &str, want: Want, st: &Stage) -> Result<Col, Error> {
        if let Some(c) = self.cols.get(name) {
            return Ok(c.clone());
        }
        if !self.pipeline_inputs.contains(name) {
            return Err(st.unsupported(format!("column `{name}` is not available")));
        }
        let (col, nullable) = match self.schema {
            Some(fields) => {
                let f = fields.iter().find(|f| f.name == name).ok_or_else(|| {
                    st.unsupported(format!(
                        "reads column `{name}`, which neither the sample schema nor an earlier stage provides"
                    ))
                })?;
                match want {
                    Want::Vector(_) => {
                        return Err(st.unsupported(format!(
                            "reads `{name}` as a vector; a sample schema cannot declare vector inputs (leave --sample-schema out to infer it)"
                        )));
                    }
                    Want::Scalar(_) => (Col::scalar(name, f.dtype), f.nullable),
                }
            }
            None => match want {
                Want::Scalar(d) => (Col::scalar(name, d), true),
                Want::Vector(w) => (
                    Col::vector(name, (0..w).map(|i| format!("{name}[{i}]")).collect()),
                    false,
                ),
            },
        };
        let mut field = Field::scalar(name, col.dtype, nullable);
        if let Some(w) = col.width {
            field.shape = vec![w];
            field.names = col.names.clone();
        }
        self.inputs.push(field);
        self.cols.insert(name.into(), col.clone());
        Ok(col)
    }

    /// The token column `name`: one an earlier stage made, or an `array<string>` pipeline
    /// input, which the bundle declares as `list<utf8>` (a sample schema must agree).
    pub(super) fn tokens(&mut self, name: &str, st: &Stage) -> Result<Col, Error> {
        if let Some(c) = self.cols.get(name) {
            return Ok(c.clone());
        }
        if !self.pipeline_inputs.contains(name) {
            return Err(st.unsupported(format!("column `{name}` is not available")));
        }
        let nullable = match self.schema {
            Some(fields) => {
                let f = fields.iter().find(|f| f.name == name).ok_or_else(|| {
                    st.unsupported(format!(
                        "reads column `{name}`, which neither the sample schema nor an earlier stage provides"
                    ))
                })?;
                if f.dtype != DType::ListUtf8 {
                    return Err(st.unsupported(format!(
                        "reads `{name}` as an array<string>; the sample schema declares it {}",
                        f.dtype
                    )));
                }
                f.nullable
            }
            None => true,
        };
        let col = Col::tokens(name);
        self.inputs
            .push(Field::scalar(name, DType::ListUtf8, nullable));
        self.cols.insert(name.into(), col.clone());
        Ok(col)
    }

    fn put(&mut self, col: Col, nullable: bool) {
        if nullable {
            self.nullable.insert(col.name.clone());
        }
        self.cols.insert(col.name.clone(), col);
    }

    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 1;
        while self.names.contains(&name) {
            i += 1;
            name = format!("{base}_{i}");
        }
        self.names.insert(name.clone());
        name
    }

    fn f64s(&mut self, key: &str, v: Vec<f64>) -> Attr {
        if v.len() <= INLINE_LIMIT {
            Attr::F64s(v)
        } else {
            self.tensor_f64(key, &[v.len()], &v)
        }
    }

    fn i64s(&mut self, key: &str, v: Vec<i64>) -> Attr {
        if v.len() <= INLINE_LIMIT {
            Attr::I64s(v)
        } else {
            self.tensors.i64(key, &[v.len()], &v);
            self.has_tensors = true;
            tref(key)
        }
    }

    fn tensor_f64(&mut self, key: &str, shape: &[usize], v: &[f64]) -> Attr {
        self.tensors.f64(key, shape, v);
        self.has_tensors = true;
        tref(key)
    }

    #[allow(clippy::too_many_arguments)]
    fn stage(
        &mut self,
        op: &str,
        name: String,
        x: &[Col],
        outputs: Vec<(&str, Vec<String>)>,
        attrs: BTreeMap<String, Attr>,
        st: &Stage,
    ) {
        for c in x {
            if !self.writes.contains(&c.name) && !self.reads.contains(&c.name) {
                self.reads.push(c.name.clone());
            }
        }
        for (_, cols) in &outputs {
            self.writes.extend(cols.iter().cloned());
        }
        self.children.push(Node {
            name,
            op: op.into(),
            inputs: vec![Binding::new("X", x.iter().map(|c| c.name.clone()))],
            outputs: outputs
                .into_iter()
                .map(|(p, cols)| Binding::new(p, cols))
                .collect(),
            attrs,
            children: Vec::new(),
            doc: format!(
                "{} ({} {})",
                st.path,
                st.short(),
                st.meta.get("uid").and_then(Value::as_str).unwrap_or("")
            ),
        });
    }

    /// Stages an op reading the one vector `x` into `out`, a vector of the same shape (the
    /// scalers and element-wise maps).
    fn same_shape_stage(
        &mut self,
        op: &str,
        node: String,
        x: Col,
        out: &str,
        attrs: BTreeMap<String, Attr>,
        st: &Stage,
    ) {
        let y = Col {
            name: out.to_string(),
            ..x.clone()
        };
        self.unary_stage(op, node, &x, y, false, attrs, st);
    }

    /// Stages `op` reading column `x` on port `X` and writing `y` (named by `y.name`) on port
    /// `Y`, and records `y` (`nullable`: it may hold NULLs).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn unary_stage(
        &mut self,
        op: &str,
        node: String,
        x: &Col,
        y: Col,
        nullable: bool,
        attrs: BTreeMap<String, Attr>,
        st: &Stage,
    ) {
        self.stage(
            op,
            node,
            std::slice::from_ref(x),
            vec![("Y", vec![y.name.clone()])],
            attrs,
            st,
        );
        self.put(y, nullable);
    }
}

fn tref(key: &str) -> Attr {
    Attr::Tensor(TensorRef {
        file: TENSOR_FILE.into(),
        key: key.into(),
    })
}

// -- planning -----------------------------------------------------------------------------------

/// A stage's (reads, writes), on column names.
type Io = (Vec<String>, Vec<String>);

/// What a stage reads and writes, on names (`None`: Spark would skip it).
fn io(
    st: &Stage,
    available: &HashSet<String>,
    inferring: bool,
    later_reads: &HashSet<String>,
) -> Result<Option<Io>, Error> {
    Ok(Some(match st.short() {
        "VectorAssembler" => (
            st.strs_param("inputCols")?.unwrap_or_default(),
            vec![st.need_str("outputCol")?],
        ),
        "StringIndexerModel" => {
            let (ins, outs) = st.in_out()?;
            // Spark skips an indexer column whose input is absent (the label indexer at
            // prediction time). Without a schema, an indexer column no later stage reads is
            // taken to be such a label indexer.
            let pairs: Vec<(String, String)> = ins
                .into_iter()
                .zip(outs)
                .filter(|(i, o)| {
                    if inferring {
                        available.contains(i) || later_reads.contains(o)
                    } else {
                        available.contains(i)
                    }
                })
                .collect();
            if pairs.is_empty() {
                return Ok(None);
            }
            pairs.into_iter().unzip()
        }
        "OneHotEncoderModel" | "ImputerModel" | "Bucketizer" | "Binarizer" => st.in_out()?,
        "StandardScalerModel"
        | "MinMaxScalerModel"
        | "RobustScalerModel"
        | "ElementwiseProduct"
        | "MaxAbsScalerModel"
        | "Normalizer"
        | "PolynomialExpansion"
        | "VectorSlicer"
        | "PCAModel"
        | "IndexToString" => (
            vec![st.need_str("inputCol")?],
            vec![st.need_str("outputCol")?],
        ),
        "ChiSqSelectorModel"
        | "UnivariateFeatureSelectorModel"
        | "VarianceThresholdSelectorModel" => (
            vec![st.need_str("featuresCol")?],
            vec![st.need_str("outputCol")?],
        ),
        "Tokenizer"
        | "RegexTokenizer"
        | "NGram"
        | "HashingTF"
        | "CountVectorizerModel"
        | "IDFModel"
        | "Word2VecModel"
        | "VectorIndexerModel" => (
            vec![st.need_str("inputCol")?],
            vec![st.need_str("outputCol")?],
        ),
        "StopWordsRemover" => st.in_out()?,
        "FeatureHasher" => (
            st.strs_param("inputCols")?.unwrap_or_default(),
            vec![st.need_str("outputCol")?],
        ),
        "GeneralizedLinearRegressionModel" => {
            let mut reads = vec![st.need_str("featuresCol")?];
            reads.extend(st.col_param("offsetCol")?);
            let mut writes: Vec<String> = st.col_param("linkPredictionCol")?.into_iter().collect();
            writes.extend(st.col_param("predictionCol")?);
            (reads, writes)
        }
        _ => (vec![st.need_str("featuresCol")?], st.predictor_outs()?),
    }))
}

/// Builds the bundle: plans on names, converts the stages the outputs need.
pub fn build(
    loaded: &Loaded,
    schema: Option<&[SchemaField]>,
    name: Option<&str>,
) -> Result<Bundle, Error> {
    let inferring = schema.is_none();
    let mut available: HashSet<String> = schema
        .map(|s| s.iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default();
    let stage_reads: Vec<(Vec<String>, Vec<String>)> = loaded
        .stages
        .iter()
        .map(|s| io(s, &HashSet::new(), true, &HashSet::new()).map(Option::unwrap_or_default))
        .collect::<Result<_, _>>()?;
    let mut plan: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new();
    let mut produced: HashSet<String> = HashSet::new();
    let mut pipeline_inputs: HashSet<String> = HashSet::new();
    for (k, st) in loaded.stages.iter().enumerate() {
        let later: HashSet<String> = stage_reads[k + 1..]
            .iter()
            .flat_map(|(r, _)| r.iter().cloned())
            .collect();
        let Some((reads, writes)) = io(st, &available, inferring, &later)? else {
            continue;
        };
        for c in &reads {
            if !available.contains(c) {
                if inferring && !produced.contains(c) {
                    available.insert(c.clone());
                } else {
                    return Err(st.unsupported(format!(
                        "reads column `{c}`, which neither the sample schema nor an earlier stage provides"
                    )));
                }
            }
            if !produced.contains(c) {
                pipeline_inputs.insert(c.clone());
            }
        }
        for c in &writes {
            if !available.insert(c.clone()) {
                return Err(st.unsupported(format!("writes column `{c}`, which already exists")));
            }
            produced.insert(c.clone());
        }
        plan.push((k, reads, writes));
    }
    // Default outputs (as keel.spark.export): columns no later stage reads, plus every
    // predictor's prediction columns.
    let mut wanted: Vec<String> = Vec::new();
    for (p, (k, _, writes)) in plan.iter().enumerate() {
        let later: HashSet<&String> = plan[p + 1..].iter().flat_map(|(_, r, _)| r).collect();
        let st = &loaded.stages[*k];
        let always: HashSet<String> = if st.is_predictor() {
            st.predictor_outs()?.into_iter().collect()
        } else {
            HashSet::new()
        };
        wanted.extend(
            writes
                .iter()
                .filter(|c| !later.contains(c) || always.contains(*c))
                .cloned(),
        );
    }
    if wanted.is_empty() {
        return Err(Error::Unsupported {
            path: loaded
                .stages
                .first()
                .map(|s| s.dir.clone())
                .unwrap_or_default(),
            message: "the pipeline produces no output column".into(),
        });
    }
    let mut needed: HashSet<String> = wanted.iter().cloned().collect();
    let mut keep = vec![false; plan.len()];
    for p in (0..plan.len()).rev() {
        let (_, reads, writes) = &plan[p];
        if writes.iter().any(|w| needed.contains(w)) {
            keep[p] = true;
            needed.extend(reads.iter().cloned());
        }
    }

    let mut ctx = Ctx {
        schema,
        pipeline_inputs,
        cols: HashMap::new(),
        nullable: HashSet::new(),
        inputs: Vec::new(),
        tensors: TensorWriter::new(),
        has_tensors: false,
        names: HashSet::new(),
        children: Vec::new(),
        reads: Vec::new(),
        writes: BTreeSet::new(),
        scalar_assembled: HashSet::new(),
    };
    let root_name = ctx.unique("pipeline");
    for (p, (k, reads, writes)) in plan.iter().enumerate() {
        if keep[p] {
            let st = &loaded.stages[*k];
            check_reads(&ctx, st, reads)?;
            convert_stage(&mut ctx, st, reads, writes)?;
            for c in writes {
                if !ctx.cols.contains_key(c) {
                    return Err(st.malformed(format!("the stage did not produce `{c}`")));
                }
            }
        }
    }
    // Inputs in schema order when a schema was given (else in order of first use).
    if let Some(s) = schema {
        ctx.inputs.sort_by_key(|f| {
            s.iter()
                .position(|x| x.name == f.name)
                .unwrap_or(usize::MAX)
        });
    }
    let mut outputs = Vec::new();
    for c in &wanted {
        let col = ctx.cols.get(c).ok_or_else(|| Error::Malformed {
            path: PathBuf::new(),
            message: format!("output `{c}` was not produced"),
        })?;
        let at = |m: String| Error::Unsupported {
            path: loaded
                .stages
                .first()
                .map(|s| s.dir.clone())
                .unwrap_or_default(),
            message: m,
        };
        if col.sparse && col.width.is_some_and(|w| w > DENSIFY_LIMIT) {
            return Err(at(format!(
                "output `{c}` is a sparse vector of {} features; bundle outputs are dense, at most {DENSIFY_LIMIT} wide",
                col.width.unwrap_or(0)
            )));
        }
        // A token list is declared `list<utf8>` (its `Col::dtype` is the element's, utf8).
        let dtype = if col.tokens {
            DType::ListUtf8
        } else {
            col.dtype
        };
        let mut f = Field::scalar(c, dtype, ctx.nullable.contains(c));
        if let Some(w) = col.width {
            f.shape = vec![w];
            f.names = col.names.clone();
        }
        outputs.push(f);
    }
    let root_doc = loaded
        .stages
        .first()
        .map(|s| s.path.split('.').next().unwrap_or("").to_string())
        .unwrap_or_default();
    let graph = Node {
        name: root_name.clone(),
        op: "pipeline".into(),
        inputs: vec![Binding::new("in", ctx.reads.clone())],
        outputs: vec![Binding::new("out", ctx.writes.iter().cloned())],
        attrs: BTreeMap::new(),
        children: std::mem::take(&mut ctx.children),
        doc: root_doc,
    };
    let tensors = if ctx.has_tensors {
        vec![(TENSOR_FILE.to_string(), ctx.tensors.finish()?)]
    } else {
        Vec::new()
    };
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION.into(),
        name: name.unwrap_or(&loaded.uid).to_string(),
        uid: uid_from(&loaded.uid, loaded.timestamp),
        created: rfc3339(loaded.timestamp),
        producer: Producer {
            name: "keel-import.spark_ml".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            framework: "spark".into(),
            framework_version: loaded.spark_version.clone(),
        },
        root: root_name,
        inputs: ctx.inputs,
        outputs,
        metadata: BTreeMap::from([("spark_uid".to_string(), loaded.uid.clone())]),
        entries: Vec::new(),
    };
    Ok(Bundle::new(manifest, graph, tensors)?)
}

/// A UUID-shaped id derived from the model's uid and save time, so converting the same saved
/// model twice gives the same bundle.
fn uid_from(uid: &str, ts: i64) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(format!("{uid}@{ts}").as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The save time (milliseconds since the epoch) as RFC 3339 UTC.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// -- converters ---------------------------------------------------------------------------------

/// Refuses what a stage cannot read, as the exporter does before converting: a token column
/// read by a stage that takes no tokens, and a sparse block too wide to densify read by a
/// stage whose op needs dense features.
fn check_reads(ctx: &Ctx<'_>, st: &Stage, reads: &[String]) -> Result<(), Error> {
    for c in reads {
        let Some(col) = ctx.cols.get(c) else { continue };
        if col.tokens && !TOKEN_READERS.contains(&st.short()) {
            return Err(st.unsupported(format!(
                "reads `{c}`, an array<string> column; this stage does not take tokens"
            )));
        }
        if col.sparse
            && col.width.is_some_and(|w| w > DENSIFY_LIMIT)
            && !SPARSE_READERS.contains(&st.short())
        {
            return Err(st.unsupported(format!(
                "reads `{c}`, a sparse vector of {} features; this stage reads dense features and keel densifies at most {DENSIFY_LIMIT} (lower numFeatures/vocabSize, or feed the vector to IDF, LogisticRegression, LinearRegression, LinearSVC or NaiveBayes)",
                col.width.unwrap_or(0)
            )));
        }
    }
    Ok(())
}

fn convert_stage(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    reads: &[String],
    writes: &[String],
) -> Result<(), Error> {
    let node = ctx.unique(&st.short().to_ascii_lowercase());
    let mut attrs = BTreeMap::new();
    match st.short() {
        "VectorAssembler" => {
            let mode = st.handle_invalid()?;
            let mut x = Vec::new();
            let mut names = Vec::new();
            for c in reads {
                let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
                if !col.is_numeric() {
                    return Err(st.unsupported(format!(
                        "column `{c}` holds strings; VectorAssembler takes numbers"
                    )));
                }
                names.extend(col.names.iter().cloned());
                x.push(col);
            }
            attrs.insert("handle_invalid".into(), Attr::Str(mode));
            let out = &writes[0];
            // A sparse block in makes the op write a sparse block (keel.spark._text).
            let sparse = x
                .iter()
                .any(|c| c.sparse)
                .then(|| x.iter().map(|c| c.width.unwrap_or(1)).sum::<u64>());
            if x.iter().all(|c| c.width.is_none()) {
                ctx.scalar_assembled.insert(out.clone());
            }
            ctx.stage(
                "spark.vector_assembler",
                node,
                &x,
                vec![("Y", vec![out.clone()])],
                attrs,
                st,
            );
            match sparse {
                Some(w) => ctx.put(Col::sparse(out, w), false),
                None => ctx.put(Col::vector(out, names), false),
            }
        }
        "StringIndexerModel" => {
            let mode = st.handle_invalid()?;
            let row = st.one_row()?;
            let all: Vec<Vec<String>> = match row.get("labelsArray").or_else(|| row.get("labels")) {
                Some(V::L(items)) if row.contains_key("labelsArray") => items
                    .iter()
                    .map(|l| strings(l, st))
                    .collect::<Result<_, _>>()?,
                Some(l @ V::L(_)) => vec![strings(l, st)?],
                _ => return Err(st.malformed("data has no `labelsArray`")),
            };
            let (ins, _) = st.in_out()?;
            let mut x = Vec::new();
            let mut labels = Vec::new();
            for c in reads {
                let k = ins
                    .iter()
                    .position(|i| i == c)
                    .ok_or_else(|| st.malformed("column mismatch"))?;
                let l = all.get(k).ok_or_else(|| {
                    st.malformed(format!(
                        "{} label lists for {} columns",
                        all.len(),
                        ins.len()
                    ))
                })?;
                let col = ctx.get(c, Want::Scalar(DType::Utf8), st)?;
                if col.width.is_some() || !matches!(col.dtype, DType::Utf8 | DType::I64) {
                    return Err(st.unsupported(format!(
                        "column `{c}` is {}; keel indexes string and integer columns (Spark casts other types to text with its own number formatting)",
                        col.dtype
                    )));
                }
                labels.push(Attr::Strs(l.clone()));
                x.push(col);
            }
            attrs.insert("labels".into(), Attr::List(labels));
            attrs.insert("handle_invalid".into(), Attr::Str(mode));
            ctx.stage(
                "spark.string_indexer",
                node,
                &x,
                vec![("Y", writes.to_vec())],
                attrs,
                st,
            );
            for o in writes {
                ctx.put(Col::scalar(o, DType::F64), false);
            }
        }
        "OneHotEncoderModel" => {
            let mode = st.handle_invalid()?;
            let drop_last = st.bool_param("dropLast")?.unwrap_or(true);
            let row = st.one_row()?;
            let sizes: Vec<i64> = as_list(field(&row, "categorySizes", st)?, "categorySizes", st)?
                .iter()
                .map(|v| as_i64(v, "categorySizes", st))
                .collect::<Result<_, _>>()?;
            if sizes.len() != reads.len() {
                return Err(st.malformed(format!(
                    "{} category sizes for {} columns",
                    sizes.len(),
                    reads.len()
                )));
            }
            let mut x = Vec::new();
            for c in reads {
                let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
                if col.width.is_some() || !col.is_numeric() {
                    return Err(st.unsupported(format!(
                        "column `{c}` must hold numbers (category indices)"
                    )));
                }
                x.push(col);
            }
            let keep = mode == "keep";
            attrs.insert(
                "sizes".into(),
                ctx.i64s(&format!("{node}/sizes"), sizes.clone()),
            );
            attrs.insert("drop_last".into(), Attr::Bool(drop_last));
            attrs.insert("handle_invalid".into(), Attr::Str(mode));
            ctx.stage(
                "spark.one_hot_encoder",
                node,
                &x,
                vec![("Y", writes.to_vec())],
                attrs,
                st,
            );
            for ((i, o), size) in reads.iter().zip(writes).zip(sizes) {
                let size = usize_of(size, "categorySizes", st)?;
                let width = if drop_last && !keep {
                    size.saturating_sub(1)
                } else if keep && !drop_last {
                    size + 1
                } else {
                    size
                };
                ctx.put(
                    Col::vector(o, (0..width).map(|k| format!("{o}[{i}={k}]")).collect()),
                    false,
                );
            }
        }
        "StandardScalerModel" | "MinMaxScalerModel" => {
            let row = st.one_row()?;
            let standard = st.short() == "StandardScalerModel";
            let (a, b) = if standard {
                ("mean", "std")
            } else {
                ("originalMin", "originalMax")
            };
            let (va, _) = vector(field(&row, a, st)?, a, st)?;
            let (vb, _) = vector(field(&row, b, st)?, b, st)?;
            if va.len() != vb.len() {
                return Err(st.malformed(format!("`{a}` and `{b}` differ in length")));
            }
            let x = vector_input(ctx, st, &reads[0], vb.len())?;
            let op = if standard {
                if st.bool_param("withMean")?.unwrap_or(false) {
                    attrs.insert("mean".into(), ctx.f64s(&format!("{node}/mean"), va));
                }
                if st.bool_param("withStd")?.unwrap_or(true) {
                    attrs.insert("std".into(), ctx.f64s(&format!("{node}/std"), vb));
                }
                "spark.standard_scaler"
            } else {
                attrs.insert(
                    "original_min".into(),
                    ctx.f64s(&format!("{node}/original_min"), va),
                );
                attrs.insert(
                    "original_max".into(),
                    ctx.f64s(&format!("{node}/original_max"), vb),
                );
                attrs.insert("min".into(), Attr::F64(st.f64_param("min")?.unwrap_or(0.0)));
                attrs.insert("max".into(), Attr::F64(st.f64_param("max")?.unwrap_or(1.0)));
                "spark.min_max_scaler"
            };
            ctx.same_shape_stage(op, node, x, &writes[0], attrs, st);
        }
        "ImputerModel" => {
            let row = st.one_row()?;
            let mut x = Vec::new();
            let mut surrogates = Vec::new();
            for c in reads {
                let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
                if col.width.is_some() || !matches!(col.dtype, DType::F64 | DType::I64) {
                    return Err(st.unsupported(format!(
                        "column `{c}` is {}; keel imputes double and integer columns",
                        col.dtype
                    )));
                }
                let s = match row.get(c) {
                    Some(v @ (V::F(_) | V::I(_))) => as_f64(v, c, st)?,
                    _ => f64::NAN,
                };
                if s.is_nan() {
                    return Err(st.unsupported(format!(
                        "column `{c}` has no surrogate (all missing at fit)"
                    )));
                }
                surrogates.push(s);
                x.push(col);
            }
            attrs.insert(
                "surrogates".into(),
                ctx.f64s(&format!("{node}/surrogates"), surrogates),
            );
            attrs.insert(
                "missing_value".into(),
                Attr::F64(st.f64_param("missingValue")?.unwrap_or(f64::NAN)),
            );
            ctx.stage(
                "spark.imputer",
                node,
                &x,
                vec![("Y", writes.to_vec())],
                attrs,
                st,
            );
            for (c, o) in x.iter().zip(writes) {
                ctx.put(Col::scalar(o, c.dtype), false);
            }
        }
        "Bucketizer" => {
            let mode = st.handle_invalid()?;
            let splits: Vec<Vec<f64>> = match st.f64s_param("splits")? {
                Some(s) if reads.len() == 1 && !st.is_set("splitsArray") => vec![s],
                _ => match st.param("splitsArray") {
                    Some(Value::Array(rows)) => rows
                        .iter()
                        .map(|r| {
                            r.as_array()
                                .ok_or_else(|| st.malformed("splitsArray holds a non-list"))?
                                .iter()
                                .map(|v| {
                                    json_f64(v).ok_or_else(|| {
                                        st.malformed(format!("splitsArray holds {v}"))
                                    })
                                })
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(st.malformed("no `splits` or `splitsArray`")),
                },
            };
            if splits.len() != reads.len() {
                return Err(st.unsupported("splits do not match the input columns"));
            }
            let mut x = Vec::new();
            for c in reads {
                let col = ctx.get(c, Want::Scalar(DType::F64), st)?;
                if col.width.is_some() || !col.is_numeric() || col.dtype == DType::Bool {
                    return Err(st.unsupported(format!("column `{c}` must hold numbers")));
                }
                x.push(col);
            }
            attrs.insert(
                "splits".into(),
                Attr::List(splits.into_iter().map(Attr::F64s).collect()),
            );
            attrs.insert("handle_invalid".into(), Attr::Str(mode));
            ctx.stage(
                "spark.bucketizer",
                node,
                &x,
                vec![("Y", writes.to_vec())],
                attrs,
                st,
            );
            for o in writes {
                // A NULL input gives a NULL bucket.
                ctx.put(Col::scalar(o, DType::F64), true);
            }
        }
        "RobustScalerModel" | "ElementwiseProduct" => {
            feature2::scale(ctx, st, node, attrs, &reads[0], &writes[0])?;
        }
        "ChiSqSelectorModel"
        | "UnivariateFeatureSelectorModel"
        | "VarianceThresholdSelectorModel" => {
            feature2::select(ctx, st, node, attrs, &reads[0], &writes[0])?;
        }
        "LogisticRegressionModel" | "LinearRegressionModel" => linear(ctx, st, node, reads)?,
        "MaxAbsScalerModel"
        | "Normalizer"
        | "PolynomialExpansion"
        | "VectorSlicer"
        | "PCAModel" => {
            more::vector_stage(ctx, st, node, &reads[0], &writes[0])?;
        }
        "Binarizer" => more::binarizer(ctx, st, node, reads, writes)?,
        "IndexToString" => more::index_to_string(ctx, st, node, &reads[0], &writes[0])?,
        "LinearSVCModel" => more::svc(ctx, st, node, &reads[0])?,
        "NaiveBayesModel" => more::naive_bayes(ctx, st, node, &reads[0])?,
        "KMeansModel" => more::kmeans(ctx, st, node, &reads[0])?,
        "GeneralizedLinearRegressionModel" => models2::glm(ctx, st, node, &reads[0])?,
        "MultilayerPerceptronClassificationModel" => models2::mlp(ctx, st, node, &reads[0])?,
        "FMClassificationModel" | "FMRegressionModel" => models2::fm(ctx, st, node, &reads[0])?,
        "IsotonicRegressionModel" => models2::isotonic(ctx, st, node, &reads[0])?,
        "Tokenizer"
        | "RegexTokenizer"
        | "StopWordsRemover"
        | "NGram"
        | "HashingTF"
        | "CountVectorizerModel"
        | "IDFModel"
        | "FeatureHasher"
        | "Word2VecModel" => {
            text::text_stage(ctx, st, node, reads, writes)?;
        }
        "VectorIndexerModel" => text::vector_indexer(ctx, st, node, &reads[0], &writes[0])?,
        _ => trees(ctx, st, node, reads)?,
    }
    Ok(())
}

fn strings(v: &V, st: &Stage) -> Result<Vec<String>, Error> {
    as_list(v, "labels", st)?
        .iter()
        .map(|s| match s {
            V::S(s) => Ok(s.clone()),
            _ => Err(st.malformed("a label is not a string")),
        })
        .collect()
}

/// Thresholds (`thresholds` param) for a `k`-class predictor, when defined.
fn thresholds(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: &str,
    attrs: &mut BTreeMap<String, Attr>,
) -> Result<(), Error> {
    if let Some(t) = st.f64s_param("thresholds")? {
        attrs.insert(
            "thresholds".into(),
            ctx.f64s(&format!("{node}/thresholds"), t),
        );
    }
    Ok(())
}

/// Binds the predictor's non-empty output columns to the op's ports and declares them.
fn predictor_outputs(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    n_classes: Option<usize>,
    probability: bool,
) -> Result<Vec<(&'static str, Vec<String>)>, Error> {
    let mut ports = Vec::new();
    if let Some(k) = n_classes {
        let names: Vec<String> = (0..k).map(|i| i.to_string()).collect();
        let raw = st.col_param("rawPredictionCol")?.ok_or_else(|| {
            st.unsupported(
                "rawPredictionCol='' is not supported (keep Spark's default rawPredictionCol)",
            )
        })?;
        ports.push(("raw_prediction", vec![raw.clone()]));
        ctx.put(Col::vector(&raw, names.clone()), false);
        if let Some(prob) = st.col_param("probabilityCol")?.filter(|_| probability) {
            ports.push(("probability", vec![prob.clone()]));
            ctx.put(Col::vector(&prob, names), false);
        }
    }
    if let Some(pred) = st.col_param("predictionCol")? {
        ports.push(("prediction", vec![pred.clone()]));
        ctx.put(Col::scalar(&pred, DType::F64), false);
    }
    if ports.is_empty() {
        return Err(st.unsupported("the model writes no column"));
    }
    Ok(ports)
}

fn features(ctx: &mut Ctx<'_>, st: &Stage, reads: &[String], n: usize) -> Result<Col, Error> {
    let name = reads
        .first()
        .ok_or_else(|| st.malformed("no featuresCol"))?;
    vector_input(ctx, st, name, n)
}

/// The vector column `name` of exactly `n` features, or an unsupported error.
fn vector_input(ctx: &mut Ctx<'_>, st: &Stage, name: &str, n: usize) -> Result<Col, Error> {
    let x = ctx.get(name, Want::Vector(n), st)?;
    if x.width != Some(n as u64) {
        return Err(st.unsupported(format!(
            "the model was fitted on {n} features, column `{name}` has {:?}",
            x.width
        )));
    }
    Ok(x)
}

fn linear(ctx: &mut Ctx<'_>, st: &Stage, node: String, reads: &[String]) -> Result<(), Error> {
    let row = st.one_row()?;
    let mut attrs = BTreeMap::new();
    let (rows, cols, coef, sparse, intercept, n_classes, probability) = if st.short()
        == "LogisticRegressionModel"
    {
        let (rows, cols, coef, sparse) = matrix(
            field(&row, "coefficientMatrix", st)?,
            "coefficientMatrix",
            st,
        )?;
        let (intercept, _) = vector(field(&row, "interceptVector", st)?, "interceptVector", st)?;
        let k = usize_of(
            as_i64(field(&row, "numClasses", st)?, "numClasses", st)?,
            "numClasses",
            st,
        )?;
        // A binomial model keeps one row of coefficients; a multinomial one a row per class.
        let binomial = rows == 1;
        if !binomial && rows != k {
            return Err(st.malformed(format!("{rows} coefficient rows for {k} classes")));
        }
        if binomial {
            attrs.insert("model".into(), Attr::Str("binomial".into()));
            // Spark's getThreshold: derived from `thresholds` when set, else `threshold`.
            let t = match st
                .f64s_param("thresholds")?
                .filter(|_| st.is_set("thresholds"))
            {
                Some(ts) => match ts.as_slice() {
                    [t0, t1] => 1.0 / (1.0 + t0 / t1),
                    _ => return Err(st.malformed("a binomial model's thresholds need 2 values")),
                },
                None => st.f64_param("threshold")?.unwrap_or(0.5),
            };
            attrs.insert("threshold".into(), Attr::F64(t));
        } else {
            attrs.insert("model".into(), Attr::Str("multinomial".into()));
            thresholds(ctx, st, &node, &mut attrs)?;
        }
        (
            rows,
            cols,
            coef,
            sparse,
            intercept,
            Some(if binomial { 2 } else { k }),
            true,
        )
    } else {
        let (coef, sparse) = vector(field(&row, "coefficients", st)?, "coefficients", st)?;
        let intercept = as_f64(field(&row, "intercept", st)?, "intercept", st)?;
        attrs.insert("model".into(), Attr::Str("regression".into()));
        (1, coef.len(), coef, sparse, vec![intercept], None, false)
    };
    if intercept.len() != rows {
        return Err(st.malformed(format!(
            "{} intercepts for {rows} coefficient rows",
            intercept.len()
        )));
    }
    let x = features(ctx, st, reads, cols)?;
    if sparse {
        attrs.insert("sparse".into(), Attr::Bool(true));
    }
    let coef = ctx.tensor_f64(&format!("{node}/coef"), &[rows, cols], &coef);
    attrs.insert("coef".into(), coef);
    let intercept = ctx.f64s(&format!("{node}/intercept"), intercept);
    attrs.insert("intercept".into(), intercept);
    let ports = predictor_outputs(ctx, st, n_classes, probability)?;
    ctx.stage("spark.linear", node, &[x], ports, attrs, st);
    Ok(())
}

/// The flattened node arrays of an ensemble (see `spark.tree_ensemble` in runtime/docs/ops.md).
#[derive(Default)]
struct Nodes {
    tree_nodes: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<f64>,
    left: Vec<i64>,
    right: Vec<i64>,
    num_categories: Vec<i64>,
    category_offsets: Vec<i64>,
    categories: Vec<f64>,
    leaf_values: Vec<f64>,
}

impl Nodes {
    /// Appends one tree (its saved `NodeData` rows by id), numbering nodes in preorder from 0.
    fn add_tree(
        &mut self,
        by_id: &HashMap<i64, &BTreeMap<String, V>>,
        stats: bool,
        width: usize,
        st: &Stage,
    ) -> Result<(), Error> {
        let start = self.feature.len();
        let mut seen = HashSet::new();
        let mut stack: Vec<(i64, Option<(usize, bool)>)> = vec![(0, None)];
        while let Some((id, parent)) = stack.pop() {
            if !seen.insert(id) {
                return Err(st.malformed(format!("tree node {id} is reached twice")));
            }
            let n = by_id
                .get(&id)
                .ok_or_else(|| st.malformed(format!("tree node {id} is missing")))?;
            let me = self.feature.len() - start;
            if let Some((p, is_right)) = parent {
                let slot = if is_right {
                    &mut self.right
                } else {
                    &mut self.left
                };
                slot[start + p] = me as i64;
            }
            self.left.push(-1);
            self.right.push(-1);
            let lc = as_i64(field(n, "leftChild", st)?, "leftChild", st)?;
            let rc = as_i64(field(n, "rightChild", st)?, "rightChild", st)?;
            if lc < 0 {
                self.feature.push(-1);
                self.threshold.push(0.0);
                self.num_categories.push(-1);
                if stats {
                    let v = f64_list(field(n, "impurityStats", st)?, "impurityStats", st)?;
                    if v.len() != width {
                        return Err(st.malformed(format!(
                            "a leaf holds {} class statistics for {width} classes",
                            v.len()
                        )));
                    }
                    self.leaf_values.extend(v);
                } else {
                    self.leaf_values
                        .push(as_f64(field(n, "prediction", st)?, "prediction", st)?);
                }
            } else {
                let split = as_struct(field(n, "split", st)?, "split", st)?;
                self.feature.push(as_i64(
                    field(split, "featureIndex", st)?,
                    "featureIndex",
                    st,
                )?);
                let vals = f64_list(field(split, "leftCategoriesOrThreshold", st)?, "split", st)?;
                let nc = as_i64(field(split, "numCategories", st)?, "numCategories", st)?;
                if nc < 0 {
                    let [t] = vals.as_slice() else {
                        return Err(st.malformed("a continuous split needs one threshold"));
                    };
                    self.threshold.push(*t);
                    self.num_categories.push(-1);
                } else {
                    self.threshold.push(0.0);
                    self.num_categories.push(nc);
                    self.categories.extend(vals);
                }
                self.leaf_values.extend(std::iter::repeat_n(0.0, width));
                // Right pushed first so the left subtree is numbered next (preorder).
                stack.push((rc, Some((me, true))));
                stack.push((lc, Some((me, false))));
            }
            self.category_offsets.push(self.categories.len() as i64);
        }
        self.tree_nodes.push((self.feature.len() - start) as i64);
        Ok(())
    }
}

fn trees(ctx: &mut Ctx<'_>, st: &Stage, node: String, reads: &[String]) -> Result<(), Error> {
    if let Some(leaf) = st.col_param("leafCol")? {
        return Err(st.unsupported(format!("leafCol='{leaf}' is not supported")));
    }
    let short = st.short();
    let classification = short.ends_with("ClassificationModel");
    let ensemble = if short.starts_with("DecisionTree") {
        "tree"
    } else if short.starts_with("RandomForest") {
        "forest"
    } else {
        "gbt"
    };
    let meta_int = |k: &str| st.meta.get(k).and_then(Value::as_i64);
    let n_features = usize_of(
        meta_int("numFeatures").ok_or_else(|| st.malformed("metadata has no `numFeatures`"))?,
        "numFeatures",
        st,
    )?;
    let n_classes = if classification {
        Some(usize_of(
            meta_int("numClasses").unwrap_or(2),
            "numClasses",
            st,
        )?)
    } else {
        None
    };
    // Classification trees and forests vote with their leaves' class statistics; regression
    // trees and every GBT tree predict one number.
    let stats = classification && ensemble != "gbt";
    let width = if stats { n_classes.unwrap_or(2) } else { 1 };
    let rows = st.data()?;
    // A single tree saves NodeData rows; an ensemble saves (treeID, nodeData) rows.
    let mut by_tree: BTreeMap<i64, HashMap<i64, &BTreeMap<String, V>>> = BTreeMap::new();
    for r in &rows {
        let (tree, n) = if ensemble == "tree" {
            (0, r)
        } else {
            (
                as_i64(field(r, "treeID", st)?, "treeID", st)?,
                as_struct(field(r, "nodeData", st)?, "nodeData", st)?,
            )
        };
        let id = as_i64(field(n, "id", st)?, "id", st)?;
        if by_tree.entry(tree).or_default().insert(id, n).is_some() {
            return Err(st.malformed(format!("tree {tree} repeats node id {id}")));
        }
    }
    let mut weights = Vec::new();
    if ensemble != "tree" {
        let (tpath, meta_rows) = read::table(&st.dir, "treesMetadata")?;
        let mut w: Vec<(i64, f64)> = meta_rows
            .iter()
            .map(|r| {
                Ok((
                    as_i64(field(r, "_1", st)?, "treeID", st)?,
                    as_f64(field(r, "_3", st)?, "weight", st)?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        w.sort_by_key(|p| p.0);
        let ids: Vec<i64> = w.iter().map(|p| p.0).collect();
        let trees: Vec<i64> = by_tree.keys().copied().collect();
        if ids != trees {
            return Err(Error::Malformed {
                path: tpath,
                message: format!("tree ids {ids:?} do not match the node data's {trees:?}"),
            });
        }
        weights = w.into_iter().map(|p| p.1).collect();
    }
    if by_tree.is_empty() {
        return Err(st.malformed("the model holds no tree"));
    }
    let mut nodes = Nodes {
        category_offsets: vec![0],
        ..Nodes::default()
    };
    for t in by_tree.values() {
        nodes.add_tree(t, stats, width, st)?;
    }
    let x = features(ctx, st, reads, n_features)?;
    let mut attrs = BTreeMap::new();
    let Nodes {
        tree_nodes,
        feature,
        threshold,
        left,
        right,
        num_categories,
        category_offsets,
        categories,
        leaf_values,
    } = nodes;
    attrs.insert(
        "tree_nodes".into(),
        ctx.i64s(&format!("{node}/tree_nodes"), tree_nodes),
    );
    attrs.insert(
        "feature".into(),
        ctx.i64s(&format!("{node}/feature"), feature),
    );
    attrs.insert(
        "threshold".into(),
        ctx.f64s(&format!("{node}/threshold"), threshold),
    );
    attrs.insert("left".into(), ctx.i64s(&format!("{node}/left"), left));
    attrs.insert("right".into(), ctx.i64s(&format!("{node}/right"), right));
    attrs.insert(
        "num_categories".into(),
        ctx.i64s(&format!("{node}/num_categories"), num_categories),
    );
    attrs.insert(
        "category_offsets".into(),
        ctx.i64s(&format!("{node}/category_offsets"), category_offsets),
    );
    attrs.insert(
        "categories".into(),
        ctx.f64s(&format!("{node}/categories"), categories),
    );
    attrs.insert(
        "leaf_values".into(),
        ctx.f64s(&format!("{node}/leaf_values"), leaf_values),
    );
    attrs.insert("n_features".into(), Attr::I64(n_features as i64));
    attrs.insert("ensemble".into(), Attr::Str(ensemble.into()));
    attrs.insert(
        "task".into(),
        Attr::Str(
            if classification {
                "classification"
            } else {
                "regression"
            }
            .into(),
        ),
    );
    if let Some(k) = n_classes {
        attrs.insert("num_classes".into(), Attr::I64(k as i64));
        thresholds(ctx, st, &node, &mut attrs)?;
    }
    if ensemble == "gbt" {
        attrs.insert(
            "tree_weights".into(),
            ctx.f64s(&format!("{node}/tree_weights"), weights),
        );
    }
    let ports = predictor_outputs(ctx, st, n_classes, classification)?;
    ctx.stage("spark.tree_ensemble", node, &[x], ports, attrs, st);
    Ok(())
}

/// RobustScalerModel, ElementwiseProduct and the selectors, with the attributes
/// exporters/keel/spark/_feature2.py gives them.
mod feature2 {
    use super::{Attr, Col, Ctx, Error, Stage, V, Value, Want, as_i64, as_list, field, vector};
    use std::collections::BTreeMap;

    /// RobustScalerModel (`(x - median) * (1/range)`: `spark.standard_scaler` with `mean` =
    /// median, `std` = range) and ElementwiseProduct (`spark.elementwise_product`).
    pub(super) fn scale(
        ctx: &mut Ctx<'_>,
        st: &Stage,
        node: String,
        mut attrs: BTreeMap<String, Attr>,
        read: &str,
        out: &str,
    ) -> Result<(), Error> {
        let (op, width) = if st.short() == "RobustScalerModel" {
            let row = st.one_row()?;
            let (median, _) = vector(field(&row, "median", st)?, "median", st)?;
            let (range, _) = vector(field(&row, "range", st)?, "range", st)?;
            if median.len() != range.len() {
                return Err(st.malformed("`median` and `range` differ in length"));
            }
            let width = median.len();
            if st.bool_param("withCentering")?.unwrap_or(false) {
                if median.iter().any(|v| !v.is_finite()) {
                    return Err(st.unsupported("a fitted median is not finite"));
                }
                attrs.insert(
                    "mean".into(),
                    ctx.f64s(&format!("{node}/median"), median.clone()),
                );
            }
            if st.bool_param("withScaling")?.unwrap_or(true) {
                // 1/range overflowing would make Spark's answer depend on vector storage.
                if range
                    .iter()
                    .any(|&v| !v.is_finite() || (v != 0.0 && !(1.0 / v).is_finite()))
                {
                    return Err(st.unsupported("a fitted range is not finite or 1/range overflows"));
                }
                attrs.insert("std".into(), ctx.f64s(&format!("{node}/range"), range));
            }
            ("spark.standard_scaler", width)
        } else {
            let w = match st.param("scalingVec") {
                Some(v @ Value::Object(_)) => json_vector(v)
                    .ok_or_else(|| st.malformed(format!("param `scalingVec` is {v}")))?,
                _ => return Err(st.unsupported("scalingVec is not set")),
            };
            if w.iter().any(|v| !v.is_finite()) {
                return Err(st.unsupported(
                    "scalingVec holds a non-finite value (the result would depend on vector storage)",
                ));
            }
            let width = w.len();
            attrs.insert("scaling".into(), ctx.f64s(&format!("{node}/scaling"), w));
            ("spark.elementwise_product", width)
        };
        let x = super::vector_input(ctx, st, read, width)?;
        ctx.same_shape_stage(op, node, x, out, attrs, st);
        Ok(())
    }

    /// A vector param as Spark writes it in metadata JSON: `{"type": 1, "values": [...]}`
    /// (dense) or `{"type": 0, "size": n, "indices": [...], "values": [...]}` (sparse).
    fn json_vector(v: &Value) -> Option<Vec<f64>> {
        let values: Vec<f64> = v
            .get("values")?
            .as_array()?
            .iter()
            .map(super::json_f64)
            .collect::<Option<_>>()?;
        match v.get("type")?.as_i64()? {
            1 => Some(values),
            0 => {
                let size = usize::try_from(v.get("size")?.as_i64()?).ok()?;
                if size > super::MAX_ELEMENTS {
                    return None;
                }
                let mut out = vec![0.0; size];
                let idx = v.get("indices")?.as_array()?;
                if idx.len() != values.len() {
                    return None;
                }
                for (i, x) in idx.iter().zip(values) {
                    *out.get_mut(usize::try_from(i.as_i64()?).ok()?)? = x;
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// A fitted selector: `selectedFeatures` (strictly increasing, as Spark requires) of the
    /// features vector, through the generic `select` op.
    pub(super) fn select(
        ctx: &mut Ctx<'_>,
        st: &Stage,
        node: String,
        mut attrs: BTreeMap<String, Attr>,
        read: &str,
        out: &str,
    ) -> Result<(), Error> {
        let row = st.one_row()?;
        let sel: Vec<i64> = as_list(field(&row, "selectedFeatures", st)?, "selectedFeatures", st)?
            .iter()
            .map(|v: &V| as_i64(v, "selectedFeatures", st))
            .collect::<Result<_, _>>()?;
        if sel.is_empty() {
            return Err(
                st.unsupported("the selector selected no feature (keel has no empty vectors)")
            );
        }
        if sel.windows(2).any(|w| w[0] >= w[1]) || sel[0] < 0 {
            return Err(st.malformed("selectedFeatures are not strictly increasing"));
        }
        let x = ctx.get(read, Want::Vector(0), st)?;
        let width = x.width.unwrap_or(0);
        if sel.iter().any(|&i| i as u64 >= width) {
            return Err(st.unsupported(format!(
                "selectedFeatures {sel:?} fall outside the {width} features of `{read}`"
            )));
        }
        let names = sel
            .iter()
            .map(|&i| x.names.get(i as usize).cloned().unwrap_or_default())
            .collect();
        attrs.insert("indices".into(), ctx.i64s(&format!("{node}/indices"), sel));
        ctx.unary_stage(
            "select",
            node,
            &x,
            Col::vector(out, names),
            false,
            attrs,
            st,
        );
        Ok(())
    }
}
