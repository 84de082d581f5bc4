//! The structure-aware target: bundles the reader accepts, with random graphs and
//! attributes, planned and then scored on random batches. It starts from a fixture model
//! (every keel bundle, MLeap zip and ONNX model under `fixtures/`, read once) and applies a
//! few mutations drawn from the input: an attribute's value changed within its kind or
//! replaced by another kind, added or removed; a node's op swapped for another registered
//! op; an input binding rewired to another column; an input field's type, width or
//! nullability changed; a node dropped or duplicated. The result is written and read back
//! (so the planner only sees what the reader accepts, as in production), planned, and scored
//! on a rows document of up to five rows parsed by the server's parser. The planner must
//! refuse or the kernels must answer: a panic, or memory past the RSS cap, is a finding.

#![no_main]

use arbitrary::{Result, Unstructured};
use keel_bundle::{Attr, Bundle, DType, Encoding, Field, Node};
use keel_io::input::Extra;
use keel_io::json_doc;
use keel_runtime::{Model, Options};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

/// Every fixture model keel reads, in path order (so a seed names the same one each run).
fn bundles() -> &'static [Bundle] {
    static BUNDLES: OnceLock<Vec<Bundle>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("keel" | "zip" | "onnx")
                ) {
                    out.push(p);
                }
            }
        }
        let mut paths = Vec::new();
        walk(&keel_fuzz::fixtures(), &mut paths);
        paths.sort();
        let bundles: Vec<Bundle> = paths
            .iter()
            .filter_map(|p| keel_import::load::read_path(p).ok())
            .map(|l| l.bundle)
            .collect();
        assert!(
            !bundles.is_empty(),
            "no fixture bundles under {:?}",
            keel_fuzz::fixtures()
        );
        bundles
    })
}

/// Every op name and attribute key the fixtures and the registry know: mutations draw from
/// them, since a random string almost never names an op or an attribute a builder reads.
fn vocabulary() -> &'static (Vec<&'static str>, Vec<String>) {
    static VOCAB: OnceLock<(Vec<&'static str>, Vec<String>)> = OnceLock::new();
    VOCAB.get_or_init(|| {
        let mut keys = BTreeSet::new();
        for b in bundles() {
            b.graph
                .walk(&mut |n, _| keys.extend(n.attrs.keys().cloned()));
        }
        (keel_runtime::registry::names(), keys.into_iter().collect())
    })
}

fn count(n: &Node) -> usize {
    1 + n.children.iter().map(count).sum::<usize>()
}

/// The `k`th node in pre-order.
fn nth_mut<'a>(node: &'a mut Node, k: &mut usize) -> Option<&'a mut Node> {
    if *k == 0 {
        return Some(node);
    }
    *k -= 1;
    for c in node.children.iter_mut() {
        if let Some(n) = nth_mut(c, k) {
            return Some(n);
        }
    }
    None
}

fn pick_node<'a>(u: &mut Unstructured<'_>, root: &'a mut Node) -> Result<&'a mut Node> {
    let mut k = u.int_in_range(0..=count(root) - 1)?;
    // `k` is below the count, so the walk always finds a node; the root is the fallback.
    Ok(nth_mut(root, &mut k).unwrap_or_else(|| unreachable!("node index below the count")))
}

/// Integers that sit on the edges builders check (zero, one, negatives, widths past any
/// limit, the extremes), or any small one.
fn int(u: &mut Unstructured<'_>) -> Result<i64> {
    const EDGES: [i64; 12] = [
        0,
        1,
        2,
        3,
        -1,
        -2,
        255,
        1 << 16,
        1 << 31,
        1 << 40,
        i64::MAX,
        i64::MIN,
    ];
    if u.arbitrary()? {
        Ok(*u.choose(&EDGES)?)
    } else {
        Ok(i64::from(u.arbitrary::<i8>()?))
    }
}

fn float(u: &mut Unstructured<'_>) -> Result<f64> {
    const EDGES: [f64; 10] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1e-300,
        1e300,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    if u.arbitrary()? {
        Ok(*u.choose(&EDGES)?)
    } else {
        u.arbitrary()
    }
}

fn string(u: &mut Unstructured<'_>, pool: &[String]) -> Result<String> {
    if !pool.is_empty() && u.arbitrary()? {
        Ok(u.choose(pool)?.clone())
    } else {
        let s: &str = u.arbitrary()?;
        Ok(s.chars().take(16).collect())
    }
}

/// Up to 8 elements, or one past the original length: lists keep close to the sizes the
/// builders check (one per class, per feature).
fn list<T>(
    u: &mut Unstructured<'_>,
    old: &[T],
    mut f: impl FnMut(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>>
where
    T: Clone,
{
    let len = match u.int_in_range(0..=3u8)? {
        0 => old.len(),
        1 => old.len().saturating_sub(1),
        2 => old.len() + 1,
        _ => u.int_in_range(0..=8usize)?,
    };
    let mut out: Vec<T> = old.iter().take(len).cloned().collect();
    while out.len() < len {
        out.push(f(u)?);
    }
    // Change one element in place, so most of a long list (tree nodes, weights) survives.
    if !out.is_empty() && u.arbitrary()? {
        let i = u.choose_index(out.len())?;
        out[i] = f(u)?;
    }
    Ok(out)
}

/// A new value for an attribute: the same kind with changed contents, or (`any`) any kind.
fn attr(u: &mut Unstructured<'_>, old: Option<&Attr>, any: bool, pool: &[String]) -> Result<Attr> {
    // A new kind starts from an empty value of that kind.
    let fresh;
    let old = match old {
        Some(a) if !any => a,
        _ => {
            const KINDS: [Attr; 8] = [
                Attr::Bool(false),
                Attr::I64(0),
                Attr::F64(0.0),
                Attr::Str(String::new()),
                Attr::I64s(Vec::new()),
                Attr::F64s(Vec::new()),
                Attr::Strs(Vec::new()),
                Attr::List(Vec::new()),
            ];
            fresh = u.choose(&KINDS)?.clone();
            &fresh
        }
    };
    Ok(match old {
        Attr::Bool(_) => Attr::Bool(u.arbitrary()?),
        Attr::I64(_) => Attr::I64(int(u)?),
        Attr::F64(_) => Attr::F64(float(u)?),
        Attr::Str(_) => Attr::Str(string(u, pool)?),
        Attr::I64s(v) => Attr::I64s(list(u, v, int)?),
        Attr::F64s(v) => Attr::F64s(list(u, v, float)?),
        Attr::Strs(v) => Attr::Strs(list(u, v, |u| string(u, pool))?),
        Attr::List(v) => Attr::List(list(u, v, |u| {
            let inner = if v.is_empty() {
                None
            } else {
                Some(u.choose(v)?.clone())
            };
            // Nested lists keep their inner kind; the recursion ends because an inner
            // list's elements are only ever drawn as new scalars or lists of scalars.
            match inner {
                Some(Attr::List(_)) | None => attr(u, Some(&Attr::I64s(Vec::new())), false, pool),
                Some(a) => attr(u, Some(&a), false, pool),
            }
        })?),
        // A tensor reference may only name an entry of the bundle; point it elsewhere.
        Attr::Tensor(t) => {
            let mut t = t.clone();
            t.key = string(u, pool)?;
            Attr::Tensor(t)
        }
    })
}

/// Every column name the graph mentions (inputs, outputs, bindings): rewiring draws from it.
fn columns(b: &Bundle) -> Vec<String> {
    let mut names: BTreeSet<String> = b.manifest.inputs.iter().map(|f| f.name.clone()).collect();
    b.graph.walk(&mut |n, _| {
        for binding in n.inputs.iter().chain(&n.outputs) {
            names.extend(binding.columns.iter().cloned());
        }
    });
    names.into_iter().collect()
}

/// The strings of the bundle's attributes (labels, categories, vocabularies): a scored
/// string drawn from them reaches the lookups, a random one only their misses.
fn strings(b: &Bundle) -> Vec<String> {
    fn collect(a: &Attr, out: &mut BTreeSet<String>) {
        match a {
            Attr::Str(s) => {
                out.insert(s.clone());
            }
            Attr::Strs(v) => out.extend(v.iter().cloned()),
            Attr::List(v) => v.iter().for_each(|a| collect(a, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    b.graph
        .walk(&mut |n, _| n.attrs.values().for_each(|a| collect(a, &mut out)));
    out.into_iter().take(256).collect()
}

fn mutate(u: &mut Unstructured<'_>, b: &mut Bundle) -> Result<()> {
    let (ops, keys) = vocabulary();
    let cols = columns(b);
    let pool = strings(b);
    match u.int_in_range(0..=9u8)? {
        kind @ 0..=2 => {
            let node = pick_node(u, &mut b.graph)?;
            if node.attrs.is_empty() {
                return Ok(());
            }
            let key = u.choose_iter(node.attrs.keys())?.clone();
            if kind == 2 {
                node.attrs.remove(&key);
            } else {
                let new = attr(u, node.attrs.get(&key), kind == 1, &pool)?;
                node.attrs.insert(key, new);
            }
        }
        3 => {
            let node = pick_node(u, &mut b.graph)?;
            if let Ok(key) = u.choose(keys) {
                let new = attr(u, None, true, &pool)?;
                node.attrs.insert(key.clone(), new);
            }
        }
        4 => {
            let node = pick_node(u, &mut b.graph)?;
            if node.children.is_empty() {
                node.op = (*u.choose(ops)?).to_string();
            }
        }
        5 => {
            let node = pick_node(u, &mut b.graph)?;
            let ports = node.inputs.len() + node.outputs.len();
            if ports == 0 || cols.is_empty() {
                return Ok(());
            }
            let i = u.choose_index(ports)?;
            let binding = if i < node.inputs.len() {
                &mut node.inputs[i]
            } else {
                &mut node.outputs[i - node.inputs.len()]
            };
            match u.int_in_range(0..=2u8)? {
                0 if !binding.columns.is_empty() => {
                    let j = u.choose_index(binding.columns.len())?;
                    binding.columns[j] = u.choose(&cols)?.clone();
                }
                1 => binding.columns.push(u.choose(&cols)?.clone()),
                _ => {
                    binding.columns.pop();
                }
            }
        }
        6 => {
            if b.manifest.inputs.is_empty() {
                return Ok(());
            }
            let i = u.choose_index(b.manifest.inputs.len())?;
            let f = &mut b.manifest.inputs[i];
            match u.int_in_range(0..=2u8)? {
                0 => {
                    const TYPES: [DType; 7] = [
                        DType::F64,
                        DType::F32,
                        DType::I64,
                        DType::I32,
                        DType::Bool,
                        DType::Utf8,
                        DType::ListUtf8,
                    ];
                    f.dtype = *u.choose(&TYPES)?;
                }
                1 => {
                    f.shape = match u.int_in_range(0..=2u8)? {
                        0 => Vec::new(),
                        1 => vec![u.int_in_range(0..=9u64)?],
                        _ => f.shape.iter().map(|d| d + 1).collect(),
                    };
                    f.names.clear();
                }
                _ => f.nullable = !f.nullable,
            }
        }
        7 => {
            let node = pick_node(u, &mut b.graph)?;
            if !node.children.is_empty() {
                let i = u.choose_index(node.children.len())?;
                node.children.remove(i);
            }
        }
        8 => {
            let node = pick_node(u, &mut b.graph)?;
            if !node.children.is_empty() {
                let i = u.choose_index(node.children.len())?;
                let mut copy = node.children[i].clone();
                copy.name.push_str("_copy");
                node.children.push(copy);
            }
        }
        _ => {
            // An output the graph may not write, or one it writes under another type.
            if let Some(f) = b.manifest.outputs.first_mut() {
                f.nullable = !f.nullable;
            }
        }
    }
    Ok(())
}

/// One row's value for `field`: mostly of its declared kind (so rows get past the parser),
/// sometimes null.
fn value(u: &mut Unstructured<'_>, f: &Field, pool: &[String]) -> Result<Json> {
    if u.ratio(1, 8)? {
        return Ok(Json::Null);
    }
    let scalar = |u: &mut Unstructured<'_>| -> Result<Json> {
        Ok(match f.dtype {
            DType::Bool => json!(u.arbitrary::<bool>()?),
            DType::Utf8 => json!(string(u, pool)?),
            DType::ListUtf8 => Json::Array(list(u, &[], |u| Ok(json!(string(u, pool)?)))?),
            DType::Binary => json!(""),
            DType::I64 | DType::I32 | DType::I8 | DType::U8 => json!(int(u)?),
            _ => {
                let x = float(u)?;
                // JSON has no NaN or infinities; keel reads them as strings.
                if x.is_finite() {
                    json!(x)
                } else {
                    json!(x.to_string())
                }
            }
        })
    };
    match f.shape.as_slice() {
        [] => scalar(u),
        dims => {
            // Nested arrays, outermost dimension first; a huge declared shape is not filled.
            let total: u64 = dims.iter().product();
            if total > 4096 {
                return Ok(Json::Null);
            }
            fn nest(
                u: &mut Unstructured<'_>,
                dims: &[u64],
                leaf: &mut dyn FnMut(&mut Unstructured<'_>) -> Result<Json>,
            ) -> Result<Json> {
                match dims.split_first() {
                    None => leaf(u),
                    Some((&n, rest)) => Ok(Json::Array(
                        (0..n).map(|_| nest(u, rest, leaf)).collect::<Result<_>>()?,
                    )),
                }
            }
            let mut leaf = scalar;
            nest(u, dims, &mut leaf)
        }
    }
}

fn run(data: &[u8]) -> Result<()> {
    let [a, b, rest @ ..] = data else {
        return Ok(());
    };
    let all = bundles();
    let mut bundle = all[usize::from(u16::from_le_bytes([*a, *b])) % all.len()].clone();
    let mut u = Unstructured::new(rest);
    for _ in 0..u.int_in_range(0..=4u8)? {
        mutate(&mut u, &mut bundle)?;
    }
    let encoding = if u.arbitrary()? {
        Encoding::Json
    } else {
        Encoding::Protobuf
    };
    let Ok(bytes) = bundle.to_bytes(encoding) else {
        return Ok(());
    };
    let Ok(model) = Model::from_bytes_with(&bytes, &Options::default()) else {
        return Ok(());
    };
    let pool = strings(&bundle);
    let rows = u.int_in_range(0..=5u8)?;
    let mut doc = Vec::new();
    for _ in 0..rows {
        let mut row = serde_json::Map::new();
        for f in &model.manifest().inputs {
            row.insert(f.name.clone(), value(&mut u, f, &pool)?);
        }
        doc.push(Json::Object(row));
    }
    let body = json!({ "rows": doc }).to_string();
    if let Ok(parsed) = json_doc::parse(body.as_bytes(), &model.manifest().inputs, Extra::Ignore) {
        let _ = model.score(&parsed.batch);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    // Running out of bytes ends the case early; nothing to report.
    let _ = run(data);
});
