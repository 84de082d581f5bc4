//! What a bundle holds (`keel inspect`, the REST server's model descriptions), for people (an aligned text report) and for programs
//! (one JSON document). Attributes are summarised by kind and size, never dumped: a tree
//! ensemble's arrays would drown the report. Short scalars and short string lists (link
//! functions, class labels) are shown because they are what a reader looks for.

use keel_bundle::{Attr, Bundle, Encoding, Field, Node};
use keel_runtime::Model;
use serde_json::{Value as J, json};
use std::fmt::Write as _;

/// Lists longer than this are shown by size only.
const SHOW_LIST: usize = 8;
/// Column lists longer than this are cut short in the text report.
const SHOW_COLUMNS: usize = 10;

/// The name of a document encoding, as `keel inspect` and the REST server show it.
pub fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Json => "json",
        Encoding::Protobuf => "protobuf",
    }
}

fn short(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

fn shape_text(f: &Field) -> String {
    match f.shape.as_slice() {
        [] => f.dtype.to_string(),
        dims => format!(
            "{}[{}]",
            f.dtype,
            dims.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn columns_text(cols: &[String]) -> String {
    let mut s = cols
        .iter()
        .take(SHOW_COLUMNS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if cols.len() > SHOW_COLUMNS {
        let _ = write!(s, ", ... ({} in all)", cols.len());
    }
    s
}

/// One attribute in a line of text.
fn attr_text(bundle: &Bundle, a: &Attr) -> String {
    match a {
        Attr::Bool(b) => format!("bool {b}"),
        Attr::I64(i) => format!("i64 {i}"),
        Attr::F64(f) => format!("f64 {f}"),
        Attr::Str(s) => format!("str {}", short(s)),
        Attr::I64s(v) => format!("i64s[{}]", v.len()),
        Attr::F64s(v) => format!("f64s[{}]", v.len()),
        Attr::Strs(v) if v.len() <= SHOW_LIST && v.iter().all(|s| s.len() <= 40) => format!(
            "strs[{}] [{}]",
            v.len(),
            v.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Attr::Strs(v) => format!("strs[{}]", v.len()),
        Attr::List(v) => format!("list[{}]", v.len()),
        Attr::Tensor(t) => match bundle.tensor(t) {
            Ok(view) => format!(
                "tensor {:?}{:?} ({}#{})",
                view.dtype, view.shape, t.file, t.key
            ),
            Err(_) => format!("tensor ({}#{}, unresolved)", t.file, t.key),
        },
    }
}

/// One attribute as JSON: its kind, its size for lists, its value for scalars.
fn attr_json(bundle: &Bundle, a: &Attr) -> J {
    match a {
        Attr::Bool(b) => json!({"kind": "bool", "value": b}),
        Attr::I64(i) => json!({"kind": "i64", "value": i}),
        // Non-finite floats have no JSON literal; spell them as the bundle format does.
        Attr::F64(f) if f.is_finite() => json!({"kind": "f64", "value": f}),
        Attr::F64(f) => {
            json!({"kind": "f64", "value": if f.is_nan() { "NaN" } else if *f > 0.0 { "Infinity" } else { "-Infinity" }})
        }
        Attr::Str(s) => json!({"kind": "str", "value": s}),
        Attr::I64s(v) => json!({"kind": "i64s", "len": v.len()}),
        Attr::F64s(v) => json!({"kind": "f64s", "len": v.len()}),
        Attr::Strs(v) if v.len() <= SHOW_LIST => {
            json!({"kind": "strs", "len": v.len(), "value": v})
        }
        Attr::Strs(v) => json!({"kind": "strs", "len": v.len()}),
        Attr::List(v) => json!({"kind": "list", "len": v.len()}),
        Attr::Tensor(t) => {
            let mut o = json!({"kind": "tensor", "file": t.file, "key": t.key});
            if let (Ok(view), Some(m)) = (bundle.tensor(t), o.as_object_mut()) {
                m.insert("dtype".into(), json!(format!("{:?}", view.dtype)));
                m.insert("shape".into(), json!(view.shape));
            }
            o
        }
    }
}

/// One field of a schema as JSON (the REST server describes models with it too).
pub fn field_json(f: &Field) -> J {
    json!({
        "name": f.name,
        "dtype": f.dtype.as_str(),
        "shape": f.shape,
        "nullable": f.nullable,
        "names": f.names,
        "doc": f.doc,
    })
}

/// The node a description starts from: the graph's root, less the wrappers that add nothing.
/// Exporters wrap the user's pipeline in a root pipeline with the same inputs and outputs
/// (scikit-learn's `Pipeline` inside the bundle's own), which a reader would otherwise see as
/// the same pipeline twice, one inside the other.
pub fn shown_graph(graph: &Node) -> &Node {
    let mut n = graph;
    while let [only] = n.children.as_slice() {
        let same_interface = only.inputs == n.inputs && only.outputs == n.outputs;
        if n.op != "pipeline" || only.op != "pipeline" || !same_interface {
            break;
        }
        n = only;
    }
    n
}

/// A graph node and its children as JSON: attributes by kind and size, never their arrays.
pub fn node_json(bundle: &Bundle, n: &Node) -> J {
    let bindings = |bs: &[keel_bundle::Binding]| {
        bs.iter()
            .map(|b| json!({"port": b.port, "columns": b.columns}))
            .collect::<Vec<_>>()
    };
    json!({
        "name": n.name,
        "op": n.op,
        "doc": n.doc,
        "inputs": bindings(&n.inputs),
        "outputs": bindings(&n.outputs),
        "attrs": n.attrs.iter().map(|(k, a)| (k.clone(), attr_json(bundle, a))).collect::<serde_json::Map<_, _>>(),
        "children": n.children.iter().map(|c| node_json(bundle, c)).collect::<Vec<_>>(),
    })
}

/// The machine-readable report. `plan` is the planned model, or the planner's error.
pub fn to_json(bundle: &Bundle, plan: &Result<Model, keel_runtime::Error>) -> J {
    let m = &bundle.manifest;
    let plan = match plan {
        Ok(model) => json!({"ok": true, "backends": model.backends(), "steps": model.step_count()}),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    };
    let mut tensors = Vec::new();
    for (path, file) in &bundle.tensors {
        for key in file.keys() {
            if let Ok(v) = file.get(key) {
                tensors.push(json!({"file": path, "key": key, "dtype": format!("{:?}", v.dtype), "shape": v.shape}));
            }
        }
    }
    json!({
        "format": m.format,
        "format_version": m.format_version,
        "encoding": encoding_name(bundle.encoding),
        "name": m.name,
        "uid": m.uid,
        "created": m.created,
        "producer": {
            "name": m.producer.name,
            "version": m.producer.version,
            "framework": m.producer.framework,
            "framework_version": m.producer.framework_version,
        },
        "inputs": m.inputs.iter().map(field_json).collect::<Vec<_>>(),
        "outputs": m.outputs.iter().map(field_json).collect::<Vec<_>>(),
        "metadata": m.metadata,
        "graph": node_json(bundle, shown_graph(&bundle.graph)),
        "entries": m.entries.iter().map(|e| json!({"path": e.path, "size": e.size, "sha256": e.sha256})).collect::<Vec<_>>(),
        "tensors": tensors,
        "plan": plan,
    })
}

/// Rows of cells printed with aligned columns, two spaces apart.
fn table(out: &mut String, indent: &str, rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows.iter().map(Vec::len).max().unwrap_or(0))
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::from(indent);
        for (c, cell) in r.iter().enumerate() {
            let w = widths.get(c).copied().unwrap_or(0);
            let _ = write!(line, "{cell:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn fields_text(out: &mut String, title: &str, fields: &[Field]) {
    let _ = writeln!(out, "{title} ({})", fields.len());
    let rows: Vec<Vec<String>> = fields
        .iter()
        .map(|f| {
            let mut r = vec![
                f.name.clone(),
                shape_text(f),
                if f.nullable { "nullable" } else { "not null" }.to_string(),
            ];
            if !f.names.is_empty() {
                r.push(format!("names: {}", columns_text(&f.names)));
            }
            r
        })
        .collect();
    table(out, "  ", &rows);
}

fn node_text(out: &mut String, bundle: &Bundle, n: &Node, depth: usize) {
    let pad = "  ".repeat(depth + 1);
    let doc = if n.doc.is_empty() {
        String::new()
    } else {
        format!("  # {}", n.doc)
    };
    let _ = writeln!(out, "{pad}{} [{}]{doc}", n.name, n.op);
    let inner = "  ".repeat(depth + 2);
    for (dir, arrow, bs) in [("in ", "<-", &n.inputs), ("out", "->", &n.outputs)] {
        for b in bs {
            let _ = writeln!(
                out,
                "{inner}{dir} {} {arrow} {}",
                b.port,
                columns_text(&b.columns)
            );
        }
    }
    if !n.attrs.is_empty() {
        let _ = writeln!(out, "{inner}attrs");
        let rows: Vec<Vec<String>> = n
            .attrs
            .iter()
            .map(|(k, a)| vec![k.clone(), attr_text(bundle, a)])
            .collect();
        table(out, &format!("{inner}  "), &rows);
    }
    for c in &n.children {
        node_text(out, bundle, c, depth + 1);
    }
}

/// The report for people.
pub fn to_text(bundle: &Bundle, plan: &Result<Model, keel_runtime::Error>) -> String {
    let m = &bundle.manifest;
    let mut out = String::new();
    let p = &m.producer;
    let plan_text = match plan {
        Ok(model) => format!(
            "{} ({} steps)",
            model.backends().join(", "),
            model.step_count()
        ),
        Err(e) => format!("cannot be planned by this runtime: {e}"),
    };
    table(
        &mut out,
        "",
        &[
            vec!["name".into(), m.name.clone()],
            vec!["uid".into(), m.uid.clone()],
            vec!["created".into(), m.created.clone()],
            vec![
                "producer".into(),
                format!(
                    "{} {} ({} {})",
                    p.name, p.version, p.framework, p.framework_version
                ),
            ],
            vec![
                "format".into(),
                format!(
                    "{} {}, {} encoding",
                    m.format,
                    m.format_version,
                    encoding_name(bundle.encoding)
                ),
            ],
            vec!["backends".into(), plan_text],
        ],
    );
    out.push('\n');
    fields_text(&mut out, "inputs", &m.inputs);
    out.push('\n');
    fields_text(&mut out, "outputs", &m.outputs);
    out.push('\n');
    let _ = writeln!(out, "metadata ({})", m.metadata.len());
    let rows: Vec<Vec<String>> = m
        .metadata
        .iter()
        .map(|(k, v)| vec![k.clone(), short(v)])
        .collect();
    table(&mut out, "  ", &rows);
    out.push('\n');
    let mut nodes = 0;
    let graph = shown_graph(&bundle.graph);
    graph.walk(&mut |_, _| nodes += 1);
    let _ = writeln!(out, "graph ({nodes} nodes)");
    node_text(&mut out, bundle, graph, 0);
    out.push('\n');
    let _ = writeln!(out, "entries ({})", m.entries.len());
    let rows: Vec<Vec<String>> = m
        .entries
        .iter()
        .map(|e| {
            vec![
                e.path.clone(),
                format!("{} B", e.size),
                format!("sha256 {}", e.sha256.get(..16).unwrap_or(&e.sha256)),
            ]
        })
        .collect();
    table(&mut out, "  ", &rows);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(inner: Node) -> Node {
        Node::pipeline("pipeline", vec![inner])
            .with_input("in", ["x"])
            .with_output("out", ["y"])
    }

    #[test]
    fn a_pipeline_wrapping_the_same_pipeline_is_shown_once() {
        let model = Node::new("linear", "sklearn.linear")
            .with_input("X", ["x"])
            .with_output("prediction", ["y"]);
        let user = Node::pipeline("pipeline_2", vec![model])
            .with_input("in", ["x"])
            .with_output("out", ["y"]);
        let graph = wrapped(user);
        assert_eq!(shown_graph(&graph).name, "pipeline_2");
        // A wrapper with another interface is a stage of its own and stays.
        let narrower = Node::pipeline("inner", vec![Node::new("a", "concat")])
            .with_input("in", ["x"])
            .with_output("out", ["z"]);
        assert_eq!(shown_graph(&wrapped(narrower)).name, "pipeline");
        // A single op under the root is not a pipeline: nothing to collapse.
        let op = Node::new("linear", "sklearn.linear").with_input("X", ["x"]);
        assert_eq!(shown_graph(&wrapped(op)).name, "pipeline");
    }
}
