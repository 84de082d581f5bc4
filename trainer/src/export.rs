//! The fitted pipeline and network as one keel bundle.
//!
//! [`network_bundle`] writes the network with keel's `nn.*` ops (ONNX semantics), in `f32` as
//! it was trained: `nn.embedding` per categorical column, `nn.concat` (numeric block first,
//! then the embeddings in column order, as [`NetSpec`] lays out the first layer's input),
//! per hidden layer `nn.gemm` (`transB` 1: PyTorch's `[out, in]` weight) then `nn.layer_norm`
//! (when `layer_norm`; epsilon 1e-5, PyTorch's default) then the activation (`nn.unary`;
//! `gelu` exact, `silu` as `swish` with alpha 1; relu/sigmoid/tanh fused into the `nn.gemm`
//! when no LayerNorm sits between), the head's `nn.gemm`, and the [`Head`]: `nn.softmax`, or
//! the `[1 - σ(z), σ(z)]` pair of a one-output binary head, with `nn.arg_reduce` for the class
//! (the first of equal probabilities, as Spark's `probability2prediction`); the identity or
//! `exp` (Poisson) for a regression. Dropout is the identity at inference and is not written.
//!
//! Its inputs are [`NUMERIC_INPUT`] (`f32[n]`) and one `i64` scalar per categorical column,
//! named as the feature bundle's index outputs (`<col>_index`); its outputs are Spark's
//! predictor columns: `prediction` (`f64`: the class index, or the value) and, for a
//! classifier, `probability` (`f64[classes]`, its elements named by the classes).
//!
//! [`export`] joins it to the plan's feature bundle with [`keel_import::compose`] (which
//! inserts the `f64` to `f32`/`i64` casts and plans the result), and records the provenance in
//! the manifest's metadata: `keel_train.feature_plan` (the fitted stages as JSON),
//! `keel_train.net_spec`, `keel_train.head`, `keel_train.params` (the training parameters the
//! caller gives) and `keel_train.metrics`.

use crate::features::{self, FEATURES_OUTPUT, FeaturePlan, index_output};
use crate::net::{Activation, NetSpec, Task};
use keel_bundle::{Attr, Binding, Bundle, DType, Field, Manifest, Node, TensorDType, TensorRef};
use keel_import::compose::{self, Connection};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The network bundle's input holding the numeric block.
pub const NUMERIC_INPUT: &str = "numeric";
/// The output holding the class index (classification) or the predicted value (regression).
pub const PREDICTION: &str = "prediction";
/// The output holding the class probabilities (classification only).
pub const PROBABILITY: &str = "probability";

/// How the head's outputs become predictions: the link of the loss the network was trained
/// with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// Cross-entropy over `outputs >= 2` logits: softmax probabilities.
    Softmax,
    /// Binary cross-entropy on one logit `z`: probabilities `[1 - σ(z), σ(z)]`.
    Sigmoid,
    /// Squared error (and other identity-link losses): the output is the prediction.
    Identity,
    /// Poisson (log link): the prediction is `exp` of the output.
    Exp,
}

/// One named parameter, PyTorch's name and layout (see [`NetSpec`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamTensor {
    /// `embeddings.0.weight`, `layers.0.bias`...
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// What else the exported bundle records.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The bundle's name (default `keel-train`).
    pub name: Option<String>,
    /// RFC 3339 creation time (left empty by default, so that the same run gives the same
    /// bytes).
    pub created: Option<String>,
    /// The training parameters (a JSON value: optimiser, schedule, epochs, seed...).
    pub params: serde_json::Value,
    /// The training metrics (a JSON value: losses, validation scores...).
    pub metrics: serde_json::Value,
}

/// Why a network could not be exported. Messages name the parameter, input or column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The network's spec does not fit the feature plan or the head.
    #[error("the network does not fit: {0}")]
    Mismatch(String),
    /// A parameter is missing, unexpected, of the wrong shape or not finite.
    #[error("parameter `{name}`: {problem}")]
    Param {
        /// The parameter's PyTorch name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The feature bundle could not be written.
    #[error(transparent)]
    Features(#[from] features::Error),
    /// The bundle breaks a rule of the format (a bug here, reported rather than written).
    #[error("the network bundle is invalid: {0}")]
    Bundle(#[from] keel_bundle::BundleError),
    /// Joining the features and the network failed.
    #[error("composing features and network: {0}")]
    Compose(#[from] compose::Error),
    /// The network bundle does not plan.
    #[error("the network bundle does not plan: {0}")]
    Plan(#[from] keel_runtime::Error),
}

/// Every parameter of `spec`, name and shape, in PyTorch's `state_dict` order for the module
/// [`NetSpec`] describes (submodules in registration order: `embeddings`, `layers`, `norms`,
/// `head`): `embeddings.{i}.weight`..., `layers.{j}.weight`, `layers.{j}.bias`...,
/// `norms.{j}.weight`, `norms.{j}.bias`... (with `layer_norm`), `head.weight`, `head.bias`.
pub fn param_layout(spec: &NetSpec) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (i, &n) in spec.cardinalities.iter().enumerate() {
        out.push((
            format!("embeddings.{i}.weight"),
            vec![n, spec.embedding_dim],
        ));
    }
    let mut width = spec.numeric_width + spec.embedding_dim * spec.cardinalities.len();
    for (j, &h) in spec.hidden.iter().enumerate() {
        out.push((format!("layers.{j}.weight"), vec![h, width]));
        out.push((format!("layers.{j}.bias"), vec![h]));
        width = h;
    }
    if spec.layer_norm {
        for (j, &h) in spec.hidden.iter().enumerate() {
            out.push((format!("norms.{j}.weight"), vec![h]));
            out.push((format!("norms.{j}.bias"), vec![h]));
        }
    }
    out.push(("head.weight".into(), vec![spec.outputs, width]));
    out.push(("head.bias".into(), vec![spec.outputs]));
    out
}

/// Cuts a flat parameter vector (the [`param_layout`] order, each tensor row-major) into
/// named tensors.
pub fn params_from_flat(spec: &NetSpec, flat: &[f32]) -> Result<Vec<ParamTensor>, Error> {
    let layout = param_layout(spec);
    let total: usize = layout
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    if flat.len() != total {
        return Err(Error::Mismatch(format!(
            "{} parameters given, the spec has {total}",
            flat.len()
        )));
    }
    let mut at = 0;
    Ok(layout
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            at += n;
            ParamTensor {
                name,
                shape,
                data: flat[at - n..at].to_vec(),
            }
        })
        .collect())
}

/// The parameters by name, each checked against the layout: present, of its shape, finite;
/// none other.
fn checked<'p>(
    spec: &NetSpec,
    params: &'p [ParamTensor],
) -> Result<BTreeMap<String, &'p ParamTensor>, Error> {
    let mut by_name: BTreeMap<String, &ParamTensor> = BTreeMap::new();
    for p in params {
        if by_name.insert(p.name.clone(), p).is_some() {
            return Err(param(&p.name, "given twice"));
        }
    }
    let layout = param_layout(spec);
    for (name, shape) in &layout {
        let p = by_name
            .get(name)
            .ok_or_else(|| param(name, "missing (the spec has it)"))?;
        if &p.shape != shape {
            return Err(param(
                name,
                &format!("shape {:?}, the spec needs {shape:?}", p.shape),
            ));
        }
        if p.data.len() != shape.iter().product::<usize>() {
            return Err(param(
                name,
                &format!("{} values for shape {shape:?}", p.data.len()),
            ));
        }
        if let Some(i) = p.data.iter().position(|x| !x.is_finite()) {
            return Err(param(
                name,
                &format!("value {} at flat index {i} is not finite", p.data[i]),
            ));
        }
    }
    if let Some(extra) = by_name
        .keys()
        .find(|k| !layout.iter().any(|(n, _)| n == *k))
    {
        return Err(param(extra, "not a parameter of this spec"));
    }
    Ok(by_name)
}

fn param(name: &str, problem: &str) -> Error {
    Error::Param {
        name: name.to_string(),
        problem: problem.to_string(),
    }
}

/// Checks that the network and its head agree with each other (and with `classes`, when a
/// feature plan says how many there are).
fn check_head(spec: &NetSpec, head: Head, classes: Option<usize>) -> Result<(), Error> {
    let want = |s: String| Err(Error::Mismatch(s));
    match (head, spec.task) {
        (Head::Softmax, Task::Classification) => {
            if spec.outputs < 2 {
                return want(format!(
                    "a softmax head needs at least 2 outputs, the spec has {}",
                    spec.outputs
                ));
            }
            if let Some(k) = classes.filter(|&k| k != spec.outputs) {
                return want(format!(
                    "the plan has {k} classes, the network {} outputs",
                    spec.outputs
                ));
            }
        }
        (Head::Sigmoid, Task::Classification) => {
            if spec.outputs != 1 {
                return want(format!(
                    "a sigmoid (binary) head has 1 output, the spec has {}",
                    spec.outputs
                ));
            }
            if let Some(k) = classes.filter(|&k| k != 2) {
                return want(format!(
                    "a sigmoid head is binary; the plan has {k} classes"
                ));
            }
        }
        (Head::Identity | Head::Exp, Task::Regression) => {
            if spec.outputs != 1 {
                return want(format!(
                    "a regression head has 1 output, the spec has {}",
                    spec.outputs
                ));
            }
        }
        (h, t) => return want(format!("head {h:?} does not suit task {t:?}")),
    }
    Ok(())
}

/// Builds the graph node by node, with the weights as `nn.constant`s in one tensor file.
struct Builder {
    nodes: Vec<Node>,
    tensors: keel_bundle::TensorWriter,
}

const TENSOR_FILE: &str = "tensors/network.safetensors";

impl Builder {
    fn node(&mut self, name: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = name.to_string();
        self.nodes.push(Node {
            name: name.into(),
            op: op.into(),
            inputs: inputs
                .iter()
                .enumerate()
                .map(|(i, c)| Binding::new(&i.to_string(), [*c]))
                .collect(),
            outputs: vec![Binding::new("0", [out.clone()])],
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            children: Vec::new(),
            doc: String::new(),
        });
        out
    }

    fn constant(&mut self, name: &str, shape: &[usize], data: &[f32]) -> String {
        let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensors.raw(name, TensorDType::F32, shape, bytes);
        let value = Attr::Tensor(TensorRef {
            file: TENSOR_FILE.into(),
            key: name.into(),
        });
        self.node(name, "nn.constant", &[], vec![("value", value)])
    }
}

fn act_name(a: Activation) -> (&'static str, Vec<(&'static str, Attr)>) {
    match a {
        Activation::Relu => ("relu", Vec::new()),
        Activation::Gelu => ("gelu", vec![("approximate", Attr::Str("none".into()))]),
        Activation::Tanh => ("tanh", Vec::new()),
        Activation::Sigmoid => ("sigmoid", Vec::new()),
        Activation::Silu => ("swish", vec![("alpha", Attr::F64(1.0))]),
    }
}

/// The network alone as a bundle: inputs [`NUMERIC_INPUT`] (`f32[numeric_width]`, absent
/// when 0) and one `i64` scalar per entry of `categorical` (the names of its inputs, in the
/// order of `spec.cardinalities`); outputs [`PREDICTION`] and, for a classifier,
/// [`PROBABILITY`] with its elements named `class_names` (when given, one per class).
pub fn network_bundle(
    spec: &NetSpec,
    params: &[ParamTensor],
    head: Head,
    categorical: &[String],
    class_names: &[String],
) -> Result<Bundle, Error> {
    check_head(spec, head, None)?;
    if categorical.len() != spec.cardinalities.len() {
        return Err(Error::Mismatch(format!(
            "{} categorical input names for {} embedding tables",
            categorical.len(),
            spec.cardinalities.len()
        )));
    }
    if spec.numeric_width == 0 && spec.cardinalities.is_empty() {
        return Err(Error::Mismatch("the network has no input".into()));
    }
    let params = checked(spec, params)?;
    let p = |n: &str| params[n];
    let mut b = Builder {
        nodes: Vec::new(),
        tensors: keel_bundle::TensorWriter::new(),
    };
    let mut inputs = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    if spec.numeric_width > 0 {
        inputs.push(Field::vector(
            NUMERIC_INPUT,
            DType::F32,
            spec.numeric_width as u64,
        ));
        parts.push(NUMERIC_INPUT.into());
    }
    for (i, col) in categorical.iter().enumerate() {
        inputs.push(Field::scalar(col.clone(), DType::I64, false));
        let name = format!("embeddings.{i}.weight");
        let w = b.constant(&name, &p(&name).shape, &p(&name).data);
        parts.push(b.node(
            &format!("embeddings.{i}"),
            "nn.embedding",
            &[col, &w],
            vec![],
        ));
    }
    let mut h = if let [one] = parts.as_slice() {
        one.clone()
    } else {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        b.node("concat", "nn.concat", &refs, vec![("axis", Attr::I64(1))])
    };
    let dense = |b: &mut Builder, prefix: &str, x: &str, act: Option<&'static str>| {
        let w = format!("{prefix}.weight");
        let bias = format!("{prefix}.bias");
        let wc = b.constant(&w, &p(&w).shape, &p(&w).data);
        let bc = b.constant(&bias, &p(&bias).shape, &p(&bias).data);
        let mut attrs = vec![
            ("alpha", Attr::F64(1.0)),
            ("beta", Attr::F64(1.0)),
            ("transA", Attr::I64(0)),
            ("transB", Attr::I64(1)),
        ];
        if let Some(a) = act {
            attrs.push(("activation", Attr::Str(a.into())));
        }
        b.node(prefix, "nn.gemm", &[x, &wc, &bc], attrs)
    };
    let (act, act_attrs) = act_name(spec.activation);
    for j in 0..spec.hidden.len() {
        let fuse = !spec.layer_norm && ["relu", "sigmoid", "tanh"].contains(&act);
        h = dense(&mut b, &format!("layers.{j}"), &h, fuse.then_some(act));
        if spec.layer_norm {
            let (w, bias) = (format!("norms.{j}.weight"), format!("norms.{j}.bias"));
            let wc = b.constant(&w, &p(&w).shape, &p(&w).data);
            let bc = b.constant(&bias, &p(&bias).shape, &p(&bias).data);
            h = b.node(
                &format!("norms.{j}"),
                "nn.layer_norm",
                &[&h, &wc, &bc],
                vec![("axis", Attr::I64(-1)), ("epsilon", Attr::F64(1e-5))],
            );
        }
        if !fuse {
            let mut attrs = vec![("fn", Attr::Str(act.into()))];
            attrs.extend(act_attrs.iter().cloned());
            h = b.node(&format!("activation.{j}"), "nn.unary", &[&h], attrs);
        }
    }
    let z = dense(&mut b, "head", &h, None);
    let mut outputs = Vec::new();
    let value = match head {
        Head::Softmax | Head::Sigmoid => {
            let prob32 = if head == Head::Softmax {
                b.node(
                    "softmax",
                    "nn.softmax",
                    &[&z],
                    vec![("axis", Attr::I64(-1)), ("fn", Attr::Str("softmax".into()))],
                )
            } else {
                let s = b.node(
                    "sigmoid",
                    "nn.unary",
                    &[&z],
                    vec![("fn", Attr::Str("sigmoid".into()))],
                );
                let one = b.constant("one", &[], &[1.0]);
                let q = b.node(
                    "complement",
                    "nn.binary",
                    &[&one, &s],
                    vec![("fn", Attr::Str("sub".into()))],
                );
                b.node(
                    "binary_probability",
                    "nn.concat",
                    &[&q, &s],
                    vec![("axis", Attr::I64(1))],
                )
            };
            let prob = b.node(
                PROBABILITY,
                "nn.cast",
                &[&prob32],
                vec![("to", Attr::Str("f64".into()))],
            );
            let k = if head == Head::Softmax {
                spec.outputs
            } else {
                2
            };
            outputs.push(Field {
                names: if class_names.len() == k {
                    class_names.to_vec()
                } else {
                    Vec::new()
                },
                doc: "class probabilities".into(),
                ..Field::vector(PROBABILITY, DType::F64, k as u64)
            });
            let arg = b.node(
                "arg_max",
                "nn.arg_reduce",
                &[&prob],
                vec![
                    ("fn", Attr::Str("max".into())),
                    ("axis", Attr::I64(1)),
                    ("keepdims", Attr::I64(0)),
                    ("select_last_index", Attr::I64(0)),
                ],
            );
            b.node(
                "class",
                "nn.cast",
                &[&arg],
                vec![("to", Attr::Str("f64".into()))],
            )
        }
        Head::Identity | Head::Exp => {
            let y = if head == Head::Exp {
                b.node(
                    "exp",
                    "nn.unary",
                    &[&z],
                    vec![("fn", Attr::Str("exp".into()))],
                )
            } else {
                z
            };
            b.node(
                "value",
                "nn.cast",
                &[&y],
                vec![("to", Attr::Str("f64".into()))],
            )
        }
    };
    // The `f64` tensor `[batch]` or `[batch, 1]` as a scalar column: `concat` reads it as a
    // one-wide feature block, which the manifest declares as an `f64` scalar.
    b.nodes.push(Node {
        name: PREDICTION.into(),
        op: "concat".into(),
        inputs: vec![Binding::new("X", [value])],
        outputs: vec![Binding::new("Y", [PREDICTION])],
        attrs: BTreeMap::new(),
        children: Vec::new(),
        doc: "the prediction as a scalar column".into(),
    });
    outputs.insert(
        0,
        Field {
            doc: match head {
                Head::Softmax | Head::Sigmoid => "the class index (the most probable)".into(),
                _ => "the predicted value".into(),
            },
            ..Field::scalar(PREDICTION, DType::F64, false)
        },
    );
    let root = Node {
        name: "network".into(),
        op: "pipeline".into(),
        inputs: vec![Binding::new("in", inputs.iter().map(|f| f.name.clone()))],
        outputs: vec![Binding::new("out", outputs.iter().map(|f| f.name.clone()))],
        attrs: BTreeMap::new(),
        children: b.nodes,
        doc: "keel-train's tabular network".into(),
    };
    let tensors = b.tensors.finish()?;
    let mut manifest = Manifest::new("keel-train network", "network", inputs, outputs);
    manifest.producer = features::producer();
    manifest.uid = features::uid_of(&tensors);
    let bundle = Bundle::new(manifest, root, [(TENSOR_FILE.to_string(), tensors)])?;
    keel_runtime::Model::from_bundle(&bundle, &keel_runtime::Options::default())?;
    Ok(bundle)
}

/// The whole model as one bundle: the plan's feature bundle feeding the network. Its inputs
/// are the raw feature columns (the label is not one); its outputs [`PREDICTION`] and, for a
/// classifier, [`PROBABILITY`].
pub fn export(
    plan: &FeaturePlan,
    spec: &NetSpec,
    params: &[ParamTensor],
    head: Head,
    opts: &ExportOptions,
) -> Result<Bundle, Error> {
    if spec.task != plan.spec.task {
        return Err(Error::Mismatch(format!(
            "the plan is fitted for {:?}, the network is {:?}",
            plan.spec.task, spec.task
        )));
    }
    if spec.numeric_width != plan.numeric_width() {
        return Err(Error::Mismatch(format!(
            "the plan has {} numeric features, the network reads {}",
            plan.numeric_width(),
            spec.numeric_width
        )));
    }
    if spec.cardinalities != plan.cardinalities() {
        return Err(Error::Mismatch(format!(
            "the plan's vocabularies give embedding tables of {:?} rows, the network has {:?}",
            plan.cardinalities(),
            spec.cardinalities
        )));
    }
    check_head(spec, head, plan.num_classes())?;
    let index_cols: Vec<String> = plan
        .categorical
        .iter()
        .map(|c| index_output(&c.name))
        .collect();
    let network = network_bundle(spec, params, head, &index_cols, &plan.class_names())?;
    let features = plan.bundle()?;
    let mut connect: Vec<Connection> = Vec::new();
    if spec.numeric_width > 0 {
        connect.push(Connection {
            input: NUMERIC_INPUT.into(),
            columns: vec![FEATURES_OUTPUT.into()],
        });
    }
    connect.extend(index_cols.iter().map(|c| Connection {
        input: c.clone(),
        columns: vec![c.clone()],
    }));
    let name = opts.name.clone().unwrap_or_else(|| "keel-train".into());
    let mut bundle = compose::compose(
        &features,
        &network,
        &compose::Options {
            connect,
            name: Some(name.clone()),
            ..compose::Options::default()
        },
    )?;
    let json = |v: serde_json::Value| v.to_string();
    let m = &mut bundle.manifest;
    m.producer = features::producer();
    m.created = opts.created.clone().unwrap_or_default();
    let meta = [
        (
            "keel_train.net_spec",
            json(serde_json::to_value(spec).unwrap_or_default()),
        ),
        (
            "keel_train.head",
            json(serde_json::to_value(head).unwrap_or_default()),
        ),
        ("keel_train.params", json(opts.params.clone())),
        ("keel_train.metrics", json(opts.metrics.clone())),
    ];
    for (k, v) in meta {
        m.metadata.insert(k.into(), v);
    }
    let mut seed = name.into_bytes();
    for v in m.metadata.values() {
        seed.push(0);
        seed.extend_from_slice(v.as_bytes());
    }
    for t in network.tensors.values() {
        seed.extend_from_slice(t.bytes());
    }
    m.uid = features::uid_of(&seed);
    Ok(bundle)
}
