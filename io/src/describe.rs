//! What a bundle holds (`keel inspect`, the REST server's model descriptions), for people (an aligned text report) and for programs
//! (one JSON document). Attributes are summarised by kind and size, never dumped: a tree
//! ensemble's arrays would drown the report. Short scalars and short string lists (link
//! functions, class labels) are shown because they are what a reader looks for.
//!
//! Each op also gets a one-line summary for people ([`summary`]: "50 trees · 3,050 nodes ·
//! depth ≤ 6 · 10 features"), computed from its attributes and tensors by one function per op
//! family. `keel inspect` prints it and the REST server's model description carries it, so the
//! web page shows what a stage is rather than the names of its internal arrays.

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
        "summary": summary(bundle, n),
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
    if let Some(text) = summary(bundle, n) {
        let _ = writeln!(out, "{inner}{text}");
    }
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

// ----------------------------------------------------------------------------------------------
// Summaries for people, one function per op family. Each reads only what it needs and gives up
// (returns None) on an attribute it does not recognise, rather than guess: a summary is a
// convenience, the attributes stay available in the JSON report.

/// A node's attributes, read the way its op reads them: inline lists or tensors alike.
struct Attrs<'a> {
    bundle: &'a Bundle,
    node: &'a Node,
}

impl Attrs<'_> {
    fn get(&self, key: &str) -> Option<&Attr> {
        self.node.attrs.get(key)
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Attr::I64(i) => Some(*i),
            _ => None,
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Attr::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An integer array (exporters narrow node arrays to i32 or u8 tensors to save space).
    fn ints(&self, key: &str) -> Option<Vec<i64>> {
        match self.get(key)? {
            Attr::I64s(v) => Some(v.clone()),
            Attr::Tensor(t) => self.bundle.tensor(t).ok()?.to_i64_any().ok(),
            _ => None,
        }
    }

    /// The number of elements of any list or tensor attribute.
    fn len(&self, key: &str) -> Option<usize> {
        Some(match self.get(key)? {
            Attr::I64s(v) => v.len(),
            Attr::F64s(v) => v.len(),
            Attr::Strs(v) => v.len(),
            Attr::List(v) => v.len(),
            Attr::Tensor(t) => self.bundle.tensor(t).ok()?.len(),
            _ => return None,
        })
    }

    /// A tensor's shape; a flat list counts as one dimension.
    fn shape(&self, key: &str) -> Option<Vec<usize>> {
        match self.get(key)? {
            Attr::Tensor(t) => Some(self.bundle.tensor(t).ok()?.shape.to_vec()),
            _ => Some(vec![self.len(key)?]),
        }
    }

    /// The number of classes of a classifier (`classes` in scikit-learn ops, `num_classes` in
    /// Spark's), for the summary's tail.
    fn classes(&self) -> Option<usize> {
        self.len("classes").or_else(|| {
            self.int("num_classes")
                .and_then(|k| usize::try_from(k).ok())
        })
    }
}

/// 3050 -> "3,050": summaries are read by people, and node counts run into the millions.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// A float as a person reads it: at most 4 significant digits.
fn brief(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let text = format!("{x:.4}");
    if x.abs() >= 1e-3 && x.abs() < 1e6 {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.');
        trimmed.to_string()
    } else {
        format!("{x:.3e}")
    }
}

/// One line of human summary for a node, from its op family; `None` when the family is not
/// known here or its attributes are not as expected.
pub fn summary(bundle: &Bundle, node: &Node) -> Option<String> {
    let a = Attrs { bundle, node };
    let parts = match node.op.as_str() {
        "pipeline" => vec![plural(node.children.len(), "stage", "stages")],
        "sklearn.tree_ensemble" | "sklearn.hist_gradient_boosting" | "spark.tree_ensemble" => {
            trees(&a)?
        }
        "sklearn.linear" | "sklearn.linear2" | "spark.linear" | "spark.glm" => linear(&a)?,
        "sklearn.one_hot_encoder" | "sklearn.ordinal_encoder" => sklearn_encoder(&a)?,
        "spark.string_indexer" | "spark.one_hot_encoder" => spark_encoder(&a)?,
        "sklearn.mlp" | "spark.mlp" => mlp(&a)?,
        "sklearn.kmeans" | "spark.kmeans" => clusters(&a)?,
        "sklearn.pca" | "spark.pca" => projection(&a)?,
        "spark.word2vec" => embedding(&a)?,
        "concat" => vec![format!(
            "joins {}",
            plural(input_columns(node), "column", "columns")
        )],
        "select" => vec![format!(
            "keeps {}",
            plural(a.len("indices")?, "column", "columns")
        )],
        // The k binary classifiers are stages of their own; this one reads their answers.
        "spark.one_vs_rest" => vec![format!(
            "combines {}",
            plural(
                input_columns(node),
                "binary classifier",
                "binary classifiers"
            )
        )],
        _ => other(&a),
    };
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(" · "))
    }
}

/// Tree ensembles: trees, nodes, the deepest tree's depth (edges from the root, as
/// scikit-learn's `max_depth` counts), features, classes.
fn trees(a: &Attrs) -> Option<Vec<String>> {
    let sizes = a.ints("tree_nodes")?;
    let left = a.ints("left")?;
    let right = a.ints("right")?;
    // scikit-learn's and Spark's trees mark a leaf with -1 children; HistGradientBoosting has
    // an explicit flag and leaves its children at 0.
    let is_leaf = a.ints("is_leaf");
    let mut depth = 0;
    let mut start = 0usize;
    for &size in &sizes {
        let size = usize::try_from(size).ok()?;
        let end = start.checked_add(size)?;
        if end > left.len() || end > right.len() {
            return None;
        }
        let leaf = |local: usize| match &is_leaf {
            Some(flags) => flags.get(start + local).is_none_or(|&f| f != 0),
            None => left[start + local] < 0,
        };
        // Depth-first from the root; the step bound keeps a malformed (cyclic) tree finite.
        let mut stack = vec![(0usize, 0usize)];
        let mut steps = 0;
        while let Some((local, d)) = stack.pop() {
            steps += 1;
            if local >= size || steps > size {
                break;
            }
            depth = depth.max(d);
            if !leaf(local) {
                for child in [left[start + local], right[start + local]] {
                    if let Ok(c) = usize::try_from(child) {
                        stack.push((c, d + 1));
                    }
                }
            }
        }
        start = end;
    }
    let mut parts = vec![
        plural(sizes.len(), "tree", "trees"),
        plural(start, "node", "nodes"),
        format!("depth ≤ {depth}"),
    ];
    if let Some(n) = a.int("n_features").and_then(|n| usize::try_from(n).ok()) {
        parts.push(plural(n, "feature", "features"));
    }
    if let Some(k) = a.classes() {
        parts.push(plural(k, "class", "classes"));
    }
    Some(parts)
}

/// Linear models: coefficients (per output when there are several) and the intercept.
fn linear(a: &Attrs) -> Option<Vec<String>> {
    let coefs = a.len("coef")?;
    let mut parts = Vec::new();
    match a.get("intercept")? {
        Attr::F64(b) => {
            parts.push(plural(coefs, "coefficient", "coefficients"));
            parts.push(format!("intercept {}", brief(*b)));
        }
        Attr::F64s(bs) if bs.len() == 1 => {
            parts.push(plural(coefs, "coefficient", "coefficients"));
            parts.push(format!("intercept {}", brief(bs[0])));
        }
        _ => {
            let outputs = a.len("intercept")?.max(1);
            parts.push(format!(
                "{} × {} coefficients",
                thousands(outputs),
                thousands(coefs / outputs)
            ));
            parts.push(plural(outputs, "intercept", "intercepts"));
        }
    }
    // Spark's linear op names its model kind (`binomial`, `svc`...); the others their link.
    if let Some(model) = a.text("model") {
        parts.push(model.to_string());
    }
    if let Some(link) = a.text("link") {
        parts.push(format!("link {link}"));
    }
    if let Some(k) = a.classes() {
        parts.push(plural(k, "class", "classes"));
    }
    Some(parts)
}

/// Categories per column, as "3, 5, 12" (or the first few and the total for wide inputs).
fn per_column(counts: &[usize]) -> String {
    let shown: Vec<String> = counts
        .iter()
        .take(SHOW_LIST)
        .map(|c| thousands(*c))
        .collect();
    let mut text = shown.join(", ");
    if counts.len() > SHOW_LIST {
        let _ = write!(text, ", ... ({} in all)", thousands(counts.iter().sum()));
    }
    text
}

/// scikit-learn's encoders: `categories[i]` per column, plus the missing category when seen.
fn sklearn_encoder(a: &Attrs) -> Option<Vec<String>> {
    let Attr::List(per) = a.get("categories")? else {
        return None;
    };
    let missing = a.ints("missing").unwrap_or_default();
    let counts: Vec<usize> = per
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let known = match c {
                Attr::Strs(v) => v.len(),
                Attr::F64s(v) => v.len(),
                Attr::I64s(v) => v.len(),
                _ => 0,
            };
            known + usize::from(missing.get(i).is_some_and(|&m| m >= 0))
        })
        .collect();
    let mut parts = vec![
        plural(counts.len(), "column", "columns"),
        format!("categories per column: {}", per_column(&counts)),
    ];
    if let Some(width) = a.len("names") {
        parts.push(format!("→ {}", plural(width, "column", "columns")));
    }
    Some(parts)
}

/// Spark's StringIndexer (`labels` per column) and OneHotEncoder (`sizes`).
fn spark_encoder(a: &Attrs) -> Option<Vec<String>> {
    let counts: Vec<usize> = match (a.get("labels"), a.ints("sizes")) {
        (Some(Attr::List(per)), _) => per
            .iter()
            .map(|l| match l {
                Attr::Strs(v) => v.len(),
                _ => 0,
            })
            .collect(),
        (_, Some(sizes)) => sizes
            .iter()
            .map(|&s| usize::try_from(s).unwrap_or(0))
            .collect(),
        _ => return None,
    };
    let mut parts = vec![
        plural(counts.len(), "column", "columns"),
        format!("categories per column: {}", per_column(&counts)),
    ];
    if let Some(h) = a.text("handle_invalid") {
        parts.push(format!("invalid: {h}"));
    }
    Some(parts)
}

/// Neural networks: layer sizes, input first, and the parameter count (weights and biases).
fn mlp(a: &Attrs) -> Option<Vec<String>> {
    let layers: Vec<usize> = match a.ints("layers") {
        // Spark records the sizes; its flat weight vector holds o×i weights and o biases
        // per layer.
        Some(sizes) => sizes
            .iter()
            .map(|&s| usize::try_from(s).ok())
            .collect::<Option<_>>()?,
        // scikit-learn records one [n_in, n_out] matrix per layer.
        None => {
            let Attr::List(coefs) = a.get("coefs")? else {
                return None;
            };
            let mut sizes = Vec::new();
            for c in coefs {
                let Attr::Tensor(t) = c else { return None };
                let view = a.bundle.tensor(t).ok()?;
                let [n_in, n_out] = *view.shape else {
                    return None;
                };
                if sizes.is_empty() {
                    sizes.push(n_in);
                }
                sizes.push(n_out);
            }
            sizes
        }
    };
    let params: usize = layers.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    let mut parts = vec![
        format!(
            "layers {}",
            layers
                .iter()
                .map(|s| thousands(*s))
                .collect::<Vec<_>>()
                .join(" → ")
        ),
        plural(params, "parameter", "parameters"),
    ];
    if let Some(act) = a.text("activation") {
        parts.push(format!("{act} activation"));
    }
    Some(parts)
}

/// Clustering: clusters and features, from the `[k, n]` centres.
fn clusters(a: &Attrs) -> Option<Vec<String>> {
    let shape = a.shape("centers")?;
    let [k, n] = shape[..] else { return None };
    Some(vec![
        plural(k, "cluster", "clusters"),
        plural(n, "feature", "features"),
    ])
}

/// Projections: input width to components, from the `[k, n]` components (scikit-learn's and
/// Spark's both record them so).
fn projection(a: &Attrs) -> Option<Vec<String>> {
    let shape = a.shape("components")?;
    let [k, n] = shape[..] else { return None };
    Some(vec![format!(
        "{} → {}",
        plural(n, "feature", "features"),
        plural(k, "component", "components")
    )])
}

/// Word embeddings: vocabulary and dimensions, from the `[words, d]` vectors.
fn embedding(a: &Attrs) -> Option<Vec<String>> {
    let shape = a.shape("vectors")?;
    let [words, d] = shape[..] else { return None };
    Some(vec![
        plural(words, "word", "words"),
        plural(d, "dimension", "dimensions"),
    ])
}

/// The columns bound to a node's inputs, all ports together.
fn input_columns(node: &Node) -> usize {
    node.inputs.iter().map(|b| b.columns.len()).sum()
}

/// Every other op: its columns (the length of its per-column arrays) and its short settings,
/// which name what it does (`strategy: median`, `norm: l2`).
fn other(a: &Attrs) -> Vec<String> {
    let mut parts = Vec::new();
    // Per-column parameters (a scaler's means, an imputer's fill values) are the longest float
    // lists; a shorter one is a setting such as MinMaxScaler's clip range.
    let width = a
        .node
        .attrs
        .values()
        .filter_map(|v| match v {
            Attr::F64s(x) => Some(x.len()),
            _ => None,
        })
        .max();
    if let Some(w) = width.filter(|&w| w > 0) {
        parts.push(plural(w, "column", "columns"));
    }
    for (key, value) in &a.node.attrs {
        match value {
            Attr::Str(s) if s.len() <= 24 => parts.push(format!("{key}: {s}")),
            Attr::Bool(b) => parts.push(format!("{key}: {b}")),
            Attr::I64(i) => parts.push(format!("{key}: {i}")),
            Attr::F64(f) => parts.push(format!("{key}: {}", brief(*f))),
            _ => {}
        }
    }
    if parts.is_empty() {
        // Nothing recorded but the wiring (a tokenizer, a scaler Spark fitted to nothing).
        parts.push(format!(
            "reads {}",
            plural(input_columns(a.node), "column", "columns")
        ));
    }
    parts
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

    fn bundle_with(node: Node, tensors: Vec<(String, Vec<u8>)>) -> Bundle {
        let manifest = keel_bundle::Manifest::new("m", node.name.clone(), vec![], vec![]);
        Bundle::new(manifest, node, tensors).expect("a valid hand-built bundle")
    }

    #[test]
    fn a_tree_ensemble_is_summarised_by_trees_nodes_depth_and_features() {
        // Two scikit-learn trees by hand (children local to their tree, -1 at a leaf):
        // tree 0: root -> (leaf, split -> (leaf, leaf)): 5 nodes, depth 2;
        // tree 1: root -> (leaf, leaf): 3 nodes, depth 1.
        let node = Node::new("forest", "sklearn.tree_ensemble")
            .with_attr("tree_nodes", Attr::I64s(vec![5, 3]))
            .with_attr("left", Attr::I64s(vec![1, -1, 3, -1, -1, 1, -1, -1]))
            .with_attr("right", Attr::I64s(vec![2, -1, 4, -1, -1, 2, -1, -1]))
            .with_attr("n_features", Attr::I64(4))
            .with_attr("classes", Attr::Strs(vec!["no".into(), "yes".into()]));
        let b = bundle_with(node.clone(), vec![]);
        assert_eq!(
            summary(&b, &node).as_deref(),
            Some("2 trees · 8 nodes · depth ≤ 2 · 4 features · 2 classes")
        );
    }

    #[test]
    fn hist_gradient_boosting_leaves_are_read_from_their_flag_and_arrays_from_tensors() {
        // HistGradientBoosting leaves have children 0 and an is_leaf flag; node arrays are
        // narrowed tensors. One tree: root -> (split -> (leaf, leaf), leaf): depth 2.
        let mut w = keel_bundle::TensorWriter::new();
        w.i64("left", &[5], &[1, 3, 0, 0, 0])
            .i64("right", &[5], &[2, 4, 0, 0, 0])
            .i64("is_leaf", &[5], &[0, 0, 1, 1, 1]);
        let file = "tensors/t.safetensors".to_string();
        let r = |key: &str| {
            Attr::Tensor(keel_bundle::TensorRef {
                file: file.clone(),
                key: key.into(),
            })
        };
        let node = Node::new("hgb", "sklearn.hist_gradient_boosting")
            .with_attr("tree_nodes", Attr::I64s(vec![5]))
            .with_attr("left", r("left"))
            .with_attr("right", r("right"))
            .with_attr("is_leaf", r("is_leaf"))
            .with_attr("n_features", Attr::I64(10));
        let b = bundle_with(node.clone(), vec![(file, w.finish().expect("tensors"))]);
        assert_eq!(
            summary(&b, &node).as_deref(),
            Some("1 tree · 5 nodes · depth ≤ 2 · 10 features")
        );
    }

    #[test]
    fn linear_encoder_and_mlp_summaries_name_their_sizes() {
        let linear = Node::new("lr", "sklearn.linear")
            .with_attr("coef", Attr::F64s(vec![0.5; 3]))
            .with_attr("intercept", Attr::F64s(vec![1.25]));
        let b = bundle_with(linear.clone(), vec![]);
        assert_eq!(
            summary(&b, &linear).as_deref(),
            Some("3 coefficients · intercept 1.25")
        );

        // Two columns: 3 string categories plus a missing one; 2 numeric categories.
        let encoder = Node::new("ohe", "sklearn.one_hot_encoder")
            .with_attr(
                "categories",
                Attr::List(vec![
                    Attr::Strs(vec!["a".into(), "b".into(), "c".into()]),
                    Attr::F64s(vec![1.0, 2.0]),
                ]),
            )
            .with_attr("missing", Attr::I64s(vec![3, -1]));
        let b = bundle_with(encoder.clone(), vec![]);
        assert_eq!(
            summary(&b, &encoder).as_deref(),
            Some("2 columns · categories per column: 4, 2")
        );

        // Spark's 4 -> 5 -> 3 network: (4*5 + 5) + (5*3 + 3) = 43 parameters.
        let mlp = Node::new("mlp", "spark.mlp").with_attr("layers", Attr::I64s(vec![4, 5, 3]));
        let b = bundle_with(mlp.clone(), vec![]);
        assert_eq!(
            summary(&b, &mlp).as_deref(),
            Some("layers 4 → 5 → 3 · 43 parameters")
        );
        assert_eq!(thousands(3050), "3,050");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
