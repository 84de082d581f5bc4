//! ONNX's backend node tests as keel's conformance suite for the `nn.*` ops and the ONNX
//! importer. Each case is a folder holding `model.onnx` and `test_data_set_0/{input,output}_*.pb`
//! (the outputs computed by ONNX's reference implementation, never by keel). The data ships in
//! the `onnx` wheel: `KEEL_ONNX_NODE_TESTS` names its `onnx/backend/test/data/node` folder
//! (scripts/test exports it); without it the test prints why and passes.
//!
//! Every case is converted and scored as one row. A case whose model uses an op type,
//! attribute or element type keel does not support (at import, or refused by an op at plan
//! time) is skipped and counted; every other case must match ONNX's outputs (rtol 1e-3,
//! atol 1e-5, as ONNX's backend tests; NaN equals NaN; integers and bools exactly), except the
//! cases listed in `onnx_known_failures.txt`, which must still fail so the list cannot go
//! stale. The sibling suites `simple`, `pytorch-converted` and `pytorch-operator` (same
//! layout) run too.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow_schema::DataType;
use keel_bundle::{DType, Field};
use keel_import::onnx::{self, Limits};
use keel_runtime::{Model, Options, Tensor, TensorData};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-5;
const SUITES: &[&str] = &["node", "simple", "pytorch-converted", "pytorch-operator"];

enum Outcome {
    Pass,
    /// Skipped: the reasons (op types, or a category).
    Skip(Vec<String>),
    Fail(String),
}

fn read_tensor(path: &Path) -> Result<Tensor, onnx::Error> {
    let bytes = std::fs::read(path).map_err(|source| onnx::Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    onnx::decode_tensor(&bytes, &Limits::default())
}

fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for i in 0.. {
        let p = dir.join(format!("{prefix}_{i}.pb"));
        if !p.exists() {
            break;
        }
        out.push(p);
    }
    out
}

/// One row's Arrow column for a scalar field (a tensor of shape `[1]`).
fn primitive(t: &Tensor) -> ArrayRef {
    match &t.data {
        TensorData::F32(v) => Arc::new(arrow_array::Float32Array::from(v.to_vec())),
        TensorData::F64(v) => Arc::new(arrow_array::Float64Array::from(v.to_vec())),
        TensorData::I64(v) => Arc::new(arrow_array::Int64Array::from(v.to_vec())),
        TensorData::I32(v) => Arc::new(arrow_array::Int32Array::from(v.to_vec())),
        TensorData::Bool(v) => Arc::new(BooleanArray::from(v.to_vec())),
        TensorData::F16(v) => Arc::new(arrow_array::Float16Array::from(v.to_vec())),
        TensorData::Bf16(v) => Arc::new(arrow_array::Float32Array::from(
            v.iter().map(|x| x.to_f32()).collect::<Vec<_>>(),
        )),
        TensorData::I8(v) => Arc::new(arrow_array::Int8Array::from(v.to_vec())),
        TensorData::U8(v) => Arc::new(arrow_array::UInt8Array::from(v.to_vec())),
    }
}

/// Every leaf value of a column in order, as f64 (NaN for a null).
fn leaves(a: &dyn Array, out: &mut Vec<f64>) -> Result<(), String> {
    macro_rules! prim {
        ($t:ty) => {
            for i in 0..a.len() {
                out.push(if a.is_null(i) {
                    f64::NAN
                } else {
                    a.as_primitive::<$t>().value(i) as f64
                });
            }
        };
    }
    match a.data_type() {
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let (start, end) = (l.value_offsets()[0], l.value_offsets()[l.len()]);
            let v = l.values().slice(start as usize, (end - start) as usize);
            leaves(v.as_ref(), out)?;
        }
        DataType::FixedSizeList(_, w) => {
            let l = a.as_fixed_size_list();
            let w = *w as usize;
            let v = l.values().slice(l.offset() * w, l.len() * w);
            leaves(v.as_ref(), out)?;
        }
        DataType::Float16 => {
            for i in 0..a.len() {
                out.push(a.as_primitive::<Float16Type>().value(i).to_f64());
            }
        }
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Boolean => {
            for i in 0..a.len() {
                out.push(f64::from(u8::from(a.as_boolean().value(i))));
            }
        }
        other => return Err(format!("unexpected output type {other}")),
    }
    Ok(())
}

fn is_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F64 | DType::F16 | DType::Bf16)
}

fn close(got: f64, want: f64, float: bool) -> bool {
    if !float {
        return got == want;
    }
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= ATOL + RTOL * want.abs()
}

fn skip_reasons(e: &onnx::Error) -> Option<Vec<String>> {
    Some(match e {
        onnx::Error::Unsupported(items) => {
            let set: BTreeSet<String> = items
                .iter()
                .map(|u| match &u.detail {
                    None => u.op_type.clone(),
                    Some(d) if d.starts_with("(keel has no") => u.op_type.clone(),
                    Some(d) => format!("{} {}", u.op_type, d.split(':').next().unwrap_or(d)),
                })
                .collect();
            set.into_iter().collect()
        }
        onnx::Error::UnsupportedType { data_type, .. } => vec![format!("(type {data_type})")],
        onnx::Error::Interface { message, .. } => vec![format!("(interface: {message})")],
        onnx::Error::Feature(m) => vec![format!("({m})")],
        _ => return None,
    })
}

fn run_case(dir: &Path) -> Outcome {
    let bundle = match onnx::convert_file(&dir.join("model.onnx"), &Limits::default()) {
        Ok(b) => b,
        Err(e) => {
            return match skip_reasons(&e) {
                Some(r) => Outcome::Skip(r),
                None => Outcome::Fail(format!("import: {e}")),
            };
        }
    };
    let model = match Model::from_bundle(&bundle, &Options::default()) {
        Ok(m) => m,
        Err(keel_runtime::Error::Plan { op, message, .. }) => {
            // `KEEL_ONNX_SHOW_REFUSALS=1` prints why, to tell a limitation from a refusal.
            if std::env::var_os("KEEL_ONNX_SHOW_REFUSALS").is_some() {
                println!("REFUSED {}: {op}: {message}", dir.display());
            }
            return Outcome::Skip(vec![format!("(refused at plan: {op})")]);
        }
        Err(e) => return Outcome::Fail(format!("load: {e}")),
    };
    let data = dir.join("test_data_set_0");
    let mut inputs = Vec::new();
    for p in numbered(&data, "input") {
        match read_tensor(&p) {
            Ok(t) => inputs.push(t),
            Err(e @ onnx::Error::UnsupportedType { .. }) => {
                return Outcome::Skip(skip_reasons(&e).unwrap_or_default());
            }
            Err(e) => return Outcome::Fail(format!("input `{}`: {e}", p.display())),
        }
    }
    let fields: Vec<Field> = model.manifest().inputs.clone();
    if fields.len() != inputs.len() {
        return Outcome::Fail(format!(
            "{} input files for {} inputs",
            inputs.len(),
            fields.len()
        ));
    }
    let batched = model
        .manifest()
        .metadata
        .get(onnx::INTERFACE_KEY)
        .is_some_and(|v| v == "batch");
    let mut columns = Vec::new();
    for (f, t) in fields.iter().zip(inputs) {
        let t = if batched {
            t
        } else {
            // One row; a rank-0 ONNX value is a field of shape [1].
            let mut shape = vec![1];
            shape.extend(&t.shape);
            if t.shape.is_empty() {
                shape.push(1);
            }
            match Tensor::from_data(shape, t.data.clone()) {
                Ok(t) => t,
                Err(e) => return Outcome::Fail(e.to_string()),
            }
        };
        let col = if f.shape.is_empty() {
            Ok(primitive(&t))
        } else {
            keel_runtime::tensor_arrow::to_arrow(t, f)
        };
        match col {
            Ok(c) => columns.push(c),
            Err(e) => return Outcome::Fail(format!("input `{}`: {e}", f.name)),
        }
    }
    let schema = model.input_schema();
    let batch = if columns.is_empty() {
        RecordBatch::try_new_with_options(
            schema,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
    } else {
        RecordBatch::try_new(schema, columns)
    };
    let batch = match batch {
        Ok(b) => b,
        Err(e) => return Outcome::Fail(format!("input batch: {e}")),
    };
    let out = match model.score(&batch) {
        Ok(o) => o,
        Err(e) => return Outcome::Fail(format!("score: {e}")),
    };
    let outputs = numbered(&data, "output");
    for (i, (p, f)) in outputs.iter().zip(&model.manifest().outputs).enumerate() {
        let want = match read_tensor(p) {
            Ok(t) => t,
            Err(e @ onnx::Error::UnsupportedType { .. }) => {
                return Outcome::Skip(skip_reasons(&e).unwrap_or_default());
            }
            Err(e) => return Outcome::Fail(format!("output file `{}`: {e}", p.display())),
        };
        if want.dtype() != f.dtype {
            return Outcome::Fail(format!(
                "output `{}` is declared {} but ONNX gives {}",
                f.name,
                f.dtype,
                want.dtype()
            ));
        }
        if !batched && f.dims.is_empty() && !f.shape.is_empty() {
            let declared: Vec<usize> = f.shape.iter().map(|&n| n as usize).collect();
            if declared != want.shape && !(want.shape.is_empty() && declared == [1]) {
                return Outcome::Fail(format!(
                    "output `{}` shape {declared:?}, ONNX gives {:?}",
                    f.name, want.shape
                ));
            }
        }
        let mut got = Vec::new();
        if let Err(e) = leaves(out.column(i).as_ref(), &mut got) {
            return Outcome::Fail(format!("output `{}`: {e}", f.name));
        }
        let want_v = want.data.to_f64_vec();
        if got.len() != want_v.len() {
            return Outcome::Fail(format!(
                "output `{}`: {} elements, ONNX gives {} (shape {:?})",
                f.name,
                got.len(),
                want_v.len(),
                want.shape
            ));
        }
        let float = is_float(f.dtype);
        if let Some(k) = (0..got.len()).find(|&k| !close(got[k], want_v[k], float)) {
            return Outcome::Fail(format!(
                "output `{}` element {k}: keel {} ONNX {}",
                f.name, got[k], want_v[k]
            ));
        }
    }
    if outputs.len() != model.manifest().outputs.len() {
        return Outcome::Fail(format!(
            "{} output files for {} outputs",
            outputs.len(),
            model.manifest().outputs.len()
        ));
    }
    Outcome::Pass
}

fn known_failures() -> BTreeMap<String, String> {
    let text = include_str!("onnx_known_failures.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((c, r)) => (c.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn onnx_node_tests() {
    let Some(node_dir) = std::env::var_os("KEEL_ONNX_NODE_TESTS").map(PathBuf::from) else {
        println!(
            "SKIPPED: set KEEL_ONNX_NODE_TESTS to the onnx wheel's onnx/backend/test/data/node \
             folder to run ONNX's node tests (scripts/test does)"
        );
        return;
    };
    assert!(
        node_dir.is_dir(),
        "KEEL_ONNX_NODE_TESTS=`{}` is not a folder",
        node_dir.display()
    );
    let root = node_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let known = known_failures();
    let mut failed_unexpected = Vec::new();
    let mut failing = BTreeSet::new();
    for suite in SUITES {
        let dir = if *suite == "node" {
            node_dir.clone()
        } else {
            root.join(suite)
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            println!("{suite}: no folder at `{}`", dir.display());
            continue;
        };
        let mut cases: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("model.onnx").is_file())
            .collect();
        cases.sort();
        let (mut pass, mut fail, mut skip) = (0, 0, 0);
        let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
        let mut failures = Vec::new();
        for case in &cases {
            let id = format!(
                "{suite}/{}",
                case.file_name().and_then(|s| s.to_str()).unwrap_or("")
            );
            match run_case(case) {
                Outcome::Pass => pass += 1,
                Outcome::Skip(reasons) => {
                    skip += 1;
                    for r in reasons {
                        *skipped.entry(r).or_default() += 1;
                    }
                }
                Outcome::Fail(m) => {
                    fail += 1;
                    failing.insert(id.clone());
                    if !known.contains_key(&id) {
                        failed_unexpected.push(format!("{id}: {m}"));
                    }
                    failures.push(format!("{id}: {m}"));
                }
            }
        }
        println!(
            "== ONNX {suite} tests: {pass} passed, {fail} failed, {skip} skipped of {}",
            cases.len()
        );
        let mut by_count: Vec<(&String, &usize)> = skipped.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!("skipped for (cases per reason):");
        for (r, n) in by_count {
            println!("  {n:5}  {r}");
        }
        for f in &failures {
            println!("FAIL {f}");
        }
    }
    let stale: Vec<&String> = known.keys().filter(|k| !failing.contains(*k)).collect();
    assert!(
        failed_unexpected.is_empty(),
        "{} supported cases failed (add them to onnx_known_failures.txt only with a reason):\n{}",
        failed_unexpected.len(),
        failed_unexpected.join("\n")
    );
    assert!(
        stale.is_empty(),
        "known failures that no longer fail (remove them from onnx_known_failures.txt): {stale:?}"
    );
}
