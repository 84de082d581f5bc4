//! Feature + network bundles: [`compose`] joins a feature pipeline's bundle (scikit-learn,
//! Spark ML, MLeap) and a network's bundle (PyTorch, ONNX) into one bundle whose inputs are the
//! pipeline's and whose outputs are the network's, so the preprocessing a network was trained
//! on travels with it and one runtime scores both.
//!
//! The network reads columns the pipeline writes, one [`Connection`] per network input: a
//! feature block (an `f64` vector) into a dense input, category indices (`f64` scalars, as
//! StringIndexer and OrdinalEncoder write them) into an embedding's integer input, a tensor
//! column into a tensor input of the same shape. Where types differ, adapter nodes convert:
//! several columns are stacked with `concat`, and `nn.cast` turns the `f64` features into the
//! network's dtype (`f32`, `i64`...). Shapes must agree exactly, and a mismatch names the
//! input, the columns and both shapes; reshaping belongs in the network, where the trainer
//! sees it.
//!
//! The network's nodes and inner columns move under a prefix (`network/` by default), so its
//! names can never collide with the pipeline's, and its tensor entries are renamed beside the
//! pipeline's. Its outputs keep their names (they are the bundle's interface), as do the
//! pipeline columns named in [`Options::keep`]. The result is planned with the runtime before
//! it is returned: a composition that would not score is an error now, not a file.
//!
//! Nothing here depends on which side is the network: the first bundle may as well be a
//! network whose embedding (`f32`) feeds a classical model's `f64` feature block (transfer
//! learning: a CNN featurizer into a logistic regression head), cast the same way.

use keel_bundle::{
    Attr, Binding, Bundle, BundleError, DType, Field, Manifest, Node, Producer, TensorRef,
};
use keel_runtime::{Model, ROWS_PER_CALL_METADATA};
use std::collections::{BTreeMap, BTreeSet};

/// One network input and the pipeline columns it reads (stacked side by side when several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The network bundle's input field.
    pub input: String,
    /// Columns of the feature bundle: its outputs or inputs.
    pub columns: Vec<String>,
}

/// How to compose.
#[derive(Debug, Clone)]
pub struct Options {
    /// What each network input reads. Empty: a one-input network reads a one-output pipeline's
    /// output, or every network input reads the pipeline output of the same name.
    pub connect: Vec<Connection>,
    /// Pipeline outputs to keep as outputs of the composed bundle, after the network's (an id
    /// to join on, a classical model's prediction to compare with).
    pub keep: Vec<String>,
    /// The composed bundle's name (default: the feature bundle's name, `+`, the network's).
    pub name: Option<String>,
    /// The prefix of the network's node and inner column names.
    pub prefix: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect: Vec::new(),
            keep: Vec::new(),
            name: None,
            prefix: "network/".into(),
        }
    }
}

/// Why two bundles do not compose. Every message names the input and columns involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A network scores whole fixed-shape tensors per row (`keel.rows_per_call`), so its
    /// rows are not the pipeline's rows.
    #[error(
        "a network has fixed input shapes (one row holds a whole batch tensor); export it with \
         a dynamic batch (first) dimension so that its rows are the pipeline's rows"
    )]
    FixedShapes,
    /// A network input that no connection feeds.
    #[error(
        "network input `{input}` is not connected: connect it to pipeline columns (the pipeline \
         has {available})"
    )]
    Unconnected {
        /// The network input.
        input: String,
        /// The pipeline's outputs, for the message.
        available: String,
    },
    /// A connection names a network input that does not exist, or connects one twice.
    #[error("`{input}` {problem} (the network's inputs: {available})")]
    BadInput {
        /// The name given.
        input: String,
        /// What is wrong with it.
        problem: &'static str,
        /// The network's inputs, for the message.
        available: String,
    },
    /// A connection or `keep` names a column the pipeline does not have.
    #[error("`{column}` is not a column of the pipeline bundle ({available})")]
    UnknownColumn {
        /// The name given.
        column: String,
        /// The pipeline's outputs and inputs, for the message.
        available: String,
    },
    /// A pipeline column whose type the network input cannot take.
    #[error("network input `{input}` ({expected}) cannot read {found}")]
    Incompatible {
        /// The network input.
        input: String,
        /// The input's type and shape.
        expected: String,
        /// The connected columns' types and shapes.
        found: String,
    },
    /// Two outputs of the composed bundle would share a name.
    #[error(
        "output `{0}` would be written twice: a network output and a pipeline column share the name; rename one"
    )]
    Collision(String),
    /// The composed bundle breaks a rule of the format (a bug here, reported rather than
    /// written).
    #[error("the composed bundle is invalid: {0}")]
    Bundle(#[from] BundleError),
    /// The composed bundle does not plan.
    #[error("the composed bundle does not plan: {0}")]
    Plan(#[from] keel_runtime::Error),
}

/// Composes `features` (a pipeline) and `network` into one bundle, checked by planning it.
pub fn compose(features: &Bundle, network: &Bundle, opts: &Options) -> Result<Bundle, Error> {
    // Either side may be the network (a CNN featurizer can feed a classical head): neither
    // may score whole fixed-shape tensors per row, or the two would not share rows.
    if [features, network]
        .iter()
        .any(|b| b.manifest.metadata.contains_key(ROWS_PER_CALL_METADATA))
    {
        return Err(Error::FixedShapes);
    }
    let fm = &features.manifest;
    let nm = &network.manifest;
    let connections = resolve_connections(fm, nm, &opts.connect)?;

    // Every name the pipeline uses, so the network's may be checked against them.
    let mut feature_columns: BTreeSet<String> = fm.inputs.iter().map(|f| f.name.clone()).collect();
    let mut feature_nodes = BTreeSet::new();
    features.graph.walk(&mut |n, _| {
        feature_nodes.insert(n.name.clone());
        for b in n.inputs.iter().chain(&n.outputs) {
            feature_columns.extend(b.columns.iter().cloned());
        }
    });

    let network_outputs: BTreeSet<&str> = nm.outputs.iter().map(|f| f.name.as_str()).collect();
    for out in &nm.outputs {
        if feature_columns.contains(&out.name) {
            return Err(Error::Collision(out.name.clone()));
        }
    }
    let prefix = &opts.prefix;
    let fresh = |base: &str, taken: &BTreeSet<String>| -> String {
        let mut name = format!("{prefix}{base}");
        let mut k = 2;
        while taken.contains(&name) {
            name = format!("{prefix}{base}_{k}");
            k += 1;
        }
        name
    };

    // Adapters: what each network input becomes, and the nodes that make it.
    let mut adapters = Vec::new();
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let mut taken_nodes = feature_nodes.clone();
    let mut taken_columns = feature_columns.clone();
    taken_columns.extend(nm.outputs.iter().map(|f| f.name.clone()));
    for (input, sources) in &connections {
        let column = adapt(
            input,
            sources,
            &mut adapters,
            &mut |base| {
                let n = fresh(base, &taken_nodes);
                taken_nodes.insert(n.clone());
                n
            },
            &mut |base| {
                let c = fresh(base, &taken_columns);
                taken_columns.insert(c.clone());
                c
            },
        )?;
        renamed.insert(input.name.clone(), column);
    }

    // The network's graph under the prefix; its outputs keep their names.
    let mut net_graph = network.graph.clone();
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for path in network.tensors.keys() {
        let stem = path
            .strip_prefix("tensors/")
            .and_then(|p| p.strip_suffix(".safetensors"))
            .unwrap_or(path);
        let mut k = 1;
        let mut new = format!("tensors/network.{stem}.safetensors");
        while features.tensors.contains_key(&new) {
            k += 1;
            new = format!("tensors/network{k}.{stem}.safetensors");
        }
        files.insert(path.clone(), new);
    }
    rename_network(
        &mut net_graph,
        &mut |col: &str| {
            if let Some(c) = renamed.get(col) {
                return c.clone();
            }
            if network_outputs.contains(col) {
                return col.to_string();
            }
            renamed
                .entry(col.to_string())
                .or_insert_with(|| {
                    let c = fresh(col, &taken_columns);
                    taken_columns.insert(c.clone());
                    c
                })
                .clone()
        },
        &mut |node: &str| {
            let n = fresh(node, &taken_nodes);
            taken_nodes.insert(n.clone());
            n
        },
        &files,
    );

    // The interface: the pipeline's inputs; the network's outputs, then the kept columns.
    let mut outputs = nm.outputs.clone();
    for keep in &opts.keep {
        let field =
            fm.outputs
                .iter()
                .find(|f| &f.name == keep)
                .ok_or_else(|| Error::UnknownColumn {
                    column: keep.clone(),
                    available: format!("its outputs: {}", names(&fm.outputs)),
                })?;
        if outputs.iter().any(|f| f.name == field.name) {
            return Err(Error::Collision(field.name.clone()));
        }
        outputs.push(field.clone());
    }
    let root_name = {
        let mut name = "compose".to_string();
        let mut k = 2;
        while taken_nodes.contains(&name) {
            name = format!("compose_{k}");
            k += 1;
        }
        name
    };
    let mut children = vec![features.graph.clone()];
    children.extend(adapters);
    children.push(net_graph);
    let graph = Node {
        name: root_name.clone(),
        op: "pipeline".into(),
        inputs: vec![Binding::new("in", fm.inputs.iter().map(|f| f.name.clone()))],
        outputs: vec![Binding::new("out", outputs.iter().map(|f| f.name.clone()))],
        attrs: BTreeMap::new(),
        children,
        doc: format!(
            "{} ({}) feeding {} ({})",
            fm.name, fm.producer.framework, nm.name, nm.producer.framework
        ),
    };

    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("{}+{}", fm.name, nm.name));
    let mut manifest = Manifest::new(name, root_name, fm.inputs.clone(), outputs);
    // Derived from the two parts' uids: composing the same bundles twice gives the same uid.
    manifest.uid = crate::emit::uid_of(format!("compose\0{}\0{}", fm.uid, nm.uid).as_bytes());
    manifest.created = fm.created.clone().max(nm.created.clone());
    manifest.producer = Producer {
        name: "keel.compose".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        framework: format!("{} + {}", fm.producer.framework, nm.producer.framework),
        framework_version: format!(
            "{} + {}",
            fm.producer.framework_version, nm.producer.framework_version
        ),
    };
    // The network's own entries describe an interface that is gone (its example row, its
    // inputs' dims); the pipeline's (example row, missing strings) describe this one. Other
    // keys are provenance, kept, the pipeline's winning a clash.
    for (k, v) in &nm.metadata {
        if !k.starts_with("keel.") {
            manifest.metadata.insert(k.clone(), v.clone());
        }
    }
    manifest
        .metadata
        .extend(fm.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));

    let tensors = features
        .tensors
        .iter()
        .map(|(p, f)| (p.clone(), f.bytes().to_vec()))
        .chain(network.tensors.iter().map(|(p, f)| {
            (
                files.get(p).cloned().unwrap_or_else(|| p.clone()),
                f.bytes().to_vec(),
            )
        }));
    let bundle = Bundle::new(manifest, graph, tensors)?;
    Model::from_bundle(&bundle, &keel_runtime::Options::default())?;
    Ok(bundle)
}

fn names(fields: &[Field]) -> String {
    if fields.is_empty() {
        return "none".into();
    }
    fields
        .iter()
        .map(|f| format!("`{}`", f.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The network input each connection feeds and the pipeline fields it reads; the default
/// wiring when none is given.
fn resolve_connections<'a>(
    fm: &'a Manifest,
    nm: &'a Manifest,
    connect: &[Connection],
) -> Result<Vec<(&'a Field, Vec<&'a Field>)>, Error> {
    let available = || format!("outputs {}", names(&fm.outputs));
    let column = |name: &str| -> Result<&'a Field, Error> {
        fm.outputs
            .iter()
            .chain(&fm.inputs)
            .find(|f| f.name == name)
            .ok_or_else(|| Error::UnknownColumn {
                column: name.to_string(),
                available: format!(
                    "outputs {}; inputs {}",
                    names(&fm.outputs),
                    names(&fm.inputs)
                ),
            })
    };
    let mut wired: BTreeMap<&str, Vec<&'a Field>> = BTreeMap::new();
    if connect.is_empty() {
        if let ([input], [output]) = (nm.inputs.as_slice(), fm.outputs.as_slice()) {
            wired.insert(&input.name, vec![output]);
        } else {
            for input in &nm.inputs {
                if let Some(f) = fm.outputs.iter().find(|f| f.name == input.name) {
                    wired.insert(&input.name, vec![f]);
                }
            }
        }
    }
    for c in connect {
        let Some(input) = nm.inputs.iter().find(|f| f.name == c.input) else {
            return Err(Error::BadInput {
                input: c.input.clone(),
                problem: "is not an input of the network",
                available: names(&nm.inputs),
            });
        };
        if c.columns.is_empty() {
            return Err(Error::BadInput {
                input: c.input.clone(),
                problem: "is connected to no column",
                available: names(&nm.inputs),
            });
        }
        let cols = c
            .columns
            .iter()
            .map(|n| column(n))
            .collect::<Result<Vec<_>, _>>()?;
        if wired.insert(&input.name, cols).is_some() {
            return Err(Error::BadInput {
                input: c.input.clone(),
                problem: "is connected twice",
                available: names(&nm.inputs),
            });
        }
    }
    nm.inputs
        .iter()
        .map(|input| {
            wired
                .remove(input.name.as_str())
                .map(|cols| (input, cols))
                .ok_or_else(|| Error::Unconnected {
                    input: input.name.clone(),
                    available: available(),
                })
        })
        .collect()
}

fn describe(f: &Field) -> String {
    let shape = f
        .shape
        .iter()
        .enumerate()
        .map(|(i, d)| match f.dims.get(i).filter(|n| !n.is_empty()) {
            Some(name) => format!("{name}<={d}"),
            None => d.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("`{}` {}[{shape}]", f.name, f.dtype.as_str())
}

/// Numeric dtypes a network may read (strings and token lists are the pipeline's business).
fn is_numeric(d: DType) -> bool {
    matches!(
        d,
        DType::F64
            | DType::F32
            | DType::F16
            | DType::Bf16
            | DType::I64
            | DType::I32
            | DType::I8
            | DType::U8
            | DType::Bool
    )
}

/// Adds the nodes that turn `sources` into what `input` expects; returns the column the
/// network reads.
fn adapt(
    input: &Field,
    sources: &[&Field],
    nodes: &mut Vec<Node>,
    node_name: &mut dyn FnMut(&str) -> String,
    column_name: &mut dyn FnMut(&str) -> String,
) -> Result<String, Error> {
    let incompatible = || Error::Incompatible {
        input: input.name.clone(),
        expected: describe(input),
        found: sources
            .iter()
            .map(|f| describe(f))
            .collect::<Vec<_>>()
            .join(" + "),
    };
    if !is_numeric(input.dtype) || sources.iter().any(|f| !is_numeric(f.dtype)) {
        return Err(incompatible());
    }
    let (column, dtype, shape, dims): (String, DType, Vec<u64>, Vec<String>) = match sources {
        [one] => (
            one.name.clone(),
            one.dtype,
            one.shape.clone(),
            one.dims.clone(),
        ),
        many => {
            // Stacking reads scalars and vectors only: each source is 1 or w wide.
            let mut width = 0u64;
            for f in many {
                match (f.shape.as_slice(), f.is_tensor()) {
                    ([], _) => width += 1,
                    ([w], false) => width += w,
                    _ => return Err(incompatible()),
                }
            }
            let stacked = column_name(&format!("{}.stacked", input.name));
            nodes.push(Node {
                name: node_name(&format!("{}.stack", input.name)),
                op: "concat".into(),
                inputs: vec![Binding::new("X", many.iter().map(|f| f.name.clone()))],
                outputs: vec![Binding::new("Y", [stacked.clone()])],
                attrs: BTreeMap::new(),
                children: Vec::new(),
                doc: format!("the pipeline columns network input `{}` reads", input.name),
            });
            (stacked, DType::F64, vec![width], Vec::new())
        }
    };
    // Shapes agree exactly; a symbolic dimension matches the same name with the same bound.
    if shape != input.shape || (dims != input.dims && !(dims.is_empty() && input.dims.is_empty())) {
        return Err(incompatible());
    }
    if dtype == input.dtype {
        return Ok(column);
    }
    let cast = column_name(&input.name);
    nodes.push(Node {
        name: node_name(&format!("{}.cast", input.name)),
        op: "nn.cast".into(),
        inputs: vec![Binding::new("0", [column])],
        outputs: vec![Binding::new("0", [cast.clone()])],
        attrs: BTreeMap::from([("to".to_string(), Attr::Str(input.dtype.as_str().into()))]),
        children: Vec::new(),
        doc: format!("{} to network input `{}`", dtype.as_str(), input.name),
    });
    Ok(cast)
}

/// Renames the network's nodes, columns and tensor entries in place.
fn rename_network(
    node: &mut Node,
    column: &mut dyn FnMut(&str) -> String,
    node_name: &mut dyn FnMut(&str) -> String,
    files: &BTreeMap<String, String>,
) {
    node.name = node_name(&node.name);
    for b in node.inputs.iter_mut().chain(node.outputs.iter_mut()) {
        for c in &mut b.columns {
            *c = column(c);
        }
    }
    for attr in node.attrs.values_mut() {
        rename_files(attr, files);
    }
    for child in &mut node.children {
        rename_network(child, column, node_name, files);
    }
}

fn rename_files(attr: &mut Attr, files: &BTreeMap<String, String>) {
    match attr {
        Attr::Tensor(TensorRef { file, .. }) => {
            if let Some(new) = files.get(file.as_str()) {
                *file = new.clone();
            }
        }
        Attr::List(items) => items.iter_mut().for_each(|a| rename_files(a, files)),
        _ => {}
    }
}
