//! Import-time graph rewrites that change no answer beyond rounding:
//! - **MatMul + Add into Gemm**: `Add(MatMul(A, W), b)` (either operand order) with `W` a 2-D
//!   initializer, `b` an initializer of shape `[]`, `[1]`, `[N]` or `[1, N]`, and `A` known to
//!   be 2-D (a graph input or `value_info` of rank 2, or a value whose rank follows from its
//!   producer's, see `two_d_values`) becomes one `Gemm(A, W, b)`: one pass over the output
//!   instead of two.
//! - **BatchNormalization into the Conv or Gemm before it** (inference form only), when the
//!   BN's scale, bias, mean and variance and the layer's weight (and bias) are float
//!   initializers and the layer's output has no other reader: with
//!   `f = scale / sqrt(var + eps)` per output channel, `W' = W * f` (along the output-channel
//!   axis) and `B' = (B - mean) * f + beta`. A Gemm's `C` is folded the same way and its `beta`
//!   becomes 1.
//!
//!
//! One rewrite is not an optimisation but opset 6's meaning, and always runs: **PRelu before
//! opset 7** applies a 1-D slope of `C` elements per channel (axis 1), where later opsets
//! broadcast it from the right; the slope initializer is reshaped to `[C, 1, ...]` when the
//! input's rank is known (else the planner refuses the broadcast).
//!
//! Folded weights are new initializers with fresh names (the originals stay for any other
//! reader); arithmetic is in f64, written back in the weight's dtype. Anything not matching
//! exactly (another attribute, a training-mode BN, integer or half-precision weights, a shape
//! that does not line up) is left as it is for the op table to convert.

use super::proto::{AttributeProto, GraphProto, NodeProto, attr_type};
use keel_bundle::DType;
use keel_runtime::Tensor;
use std::collections::{BTreeMap, HashMap, HashSet};

fn is_default_domain(n: &NodeProto) -> bool {
    matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"))
}

fn op_is(n: &NodeProto, op: &str) -> bool {
    is_default_domain(n) && n.op_type.as_deref() == Some(op)
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

/// The node's attribute names are all in `allowed`.
fn attrs_within(n: &NodeProto, allowed: &[&str]) -> bool {
    n.attribute
        .iter()
        .all(|a| a.ref_attr_name.is_none() && allowed.contains(&a.name.as_deref().unwrap_or("")))
}

fn attr_f(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).and_then(|a| a.f).unwrap_or(default)
}

fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).and_then(|a| a.i).unwrap_or(default)
}

/// The non-empty outputs of a node are exactly one value.
fn single_output(n: &NodeProto) -> Option<&str> {
    let mut outs = n.output.iter().filter(|o| !o.is_empty());
    let first = outs.next()?;
    outs.next().is_none().then_some(first.as_str())
}

/// A float tensor's elements as f64 (f32 and f64 only: folding half precision would round
/// the weights differently from the runtime's own arithmetic).
fn floats(t: &Tensor) -> Option<Vec<f64>> {
    matches!(t.dtype(), DType::F32 | DType::F64).then(|| t.data.to_f64_vec())
}

fn with_dtype(dtype: DType, shape: Vec<usize>, v: Vec<f64>) -> Option<Tensor> {
    match dtype {
        DType::F32 => Tensor::new(shape, v.iter().map(|&x| x as f32).collect::<Vec<f32>>()).ok(),
        DType::F64 => Tensor::new(shape, v).ok(),
        _ => None,
    }
}

/// Names not yet used anywhere in the graph.
struct Fresh(HashSet<String>);

impl Fresh {
    fn new(g: &GraphProto, nodes: &[NodeProto], inits: &BTreeMap<String, Tensor>) -> Fresh {
        let mut names: HashSet<String> = inits.keys().cloned().collect();
        names.extend(
            nodes
                .iter()
                .flat_map(|n| n.input.iter().chain(&n.output))
                .cloned(),
        );
        names.extend(
            g.input
                .iter()
                .chain(&g.output)
                .filter_map(|v| v.name.clone()),
        );
        Fresh(names)
    }

    fn name(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.0.contains(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.0.insert(name.clone());
        name
    }
}

/// How many times each value is read (node inputs, graph outputs counted as readers).
fn reader_counts(g: &GraphProto, nodes: &[Option<NodeProto>]) -> HashMap<String, usize> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for n in nodes.iter().flatten() {
        for v in n.input.iter().filter(|v| !v.is_empty()) {
            *count.entry(v.clone()).or_default() += 1;
        }
    }
    for v in g.output.iter().filter_map(|v| v.name.clone()) {
        *count.entry(v).or_default() += 1;
    }
    count
}

fn producers(nodes: &[Option<NodeProto>]) -> HashMap<String, usize> {
    let mut p = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(n) = n {
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                p.insert(o.clone(), i);
            }
        }
    }
    p
}

/// The graph's nodes after the rewrites, or `None` when nothing changed. New initializers are
/// added to `inits`.
/// `fold` turns the optimisations on (off only in tests comparing answers).
pub(crate) fn optimize(
    g: &GraphProto,
    inits: &mut BTreeMap<String, Tensor>,
    opset: i64,
    fold: bool,
) -> Option<Vec<NodeProto>> {
    let candidate = g.node.iter().any(|n| {
        (fold && (op_is(n, "BatchNormalization") || op_is(n, "MatMul")))
            || (opset < 7 && op_is(n, "PRelu"))
    });
    if !candidate {
        return None;
    }
    let mut fresh = Fresh::new(g, &g.node, inits);
    let mut nodes: Vec<Option<NodeProto>> = g.node.iter().cloned().map(Some).collect();
    let mut changed = false;
    if opset < 7 {
        changed |= prelu_channel_slopes(g, &mut nodes, inits, &mut fresh);
    }
    if fold {
        changed |= fuse_matmul_add(g, &mut nodes, inits);
        changed |= fold_batch_norms(g, &mut nodes, inits, &mut fresh);
    }
    changed.then(|| nodes.into_iter().flatten().collect())
}

/// The declared rank of each graph input and `value_info` entry that has a shape.
fn declared_ranks(g: &GraphProto) -> HashMap<String, usize> {
    g.input
        .iter()
        .chain(&g.value_info)
        .filter_map(|v| {
            let s = v.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
            Some((v.name.clone()?, s.dim.len()))
        })
        .collect()
}

/// PRelu before opset 7: a 1-D slope of `C > 1` elements is per channel (axis 1).
fn prelu_channel_slopes(
    g: &GraphProto,
    nodes: &mut [Option<NodeProto>],
    inits: &mut BTreeMap<String, Tensor>,
    fresh: &mut Fresh,
) -> bool {
    let ranks = declared_ranks(g);
    let mut changed = false;
    for n in nodes.iter_mut().flatten() {
        if !op_is(n, "PRelu") || n.input.len() != 2 {
            continue;
        }
        let (Some(&rank), Some(slope)) = (ranks.get(&n.input[0]), inits.get(&n.input[1])) else {
            continue;
        };
        let [c] = slope.shape.as_slice() else {
            continue;
        };
        if *c <= 1 || rank < 2 {
            continue;
        }
        let mut shape = vec![*c];
        shape.resize(rank - 1, 1);
        let Ok(t) = Tensor::from_data(shape, slope.data.clone()) else {
            continue;
        };
        let name = fresh.name(&format!("{}#per_channel", n.input[1]));
        inits.insert(name.clone(), t);
        n.input[1] = name;
        changed = true;
    }
    changed
}

/// The values known to be 2-D: graph inputs, `value_info` entries and initializers of rank 2,
/// and, in node order (ONNX sorts nodes topologically), the outputs of Flatten and Gemm, of a
/// Reshape to a constant 2-element shape, of a MatMul of two 2-D values, of a Concat of 2-D
/// values, of a rank-keeping elementwise op on a 2-D value, and of a broadcasting binary op of
/// a 2-D value with an operand of rank at most 2 (an initializer) — so that a network's
/// `MatMul` + `Add` pairs fuse however its activations were produced.
fn two_d_values(
    g: &GraphProto,
    nodes: &[Option<NodeProto>],
    inits: &BTreeMap<String, Tensor>,
) -> HashSet<String> {
    const ELEMENTWISE: &[&str] = &[
        "Relu",
        "LeakyRelu",
        "Sigmoid",
        "Tanh",
        "Elu",
        "Selu",
        "Softplus",
        "Softsign",
        "HardSigmoid",
        "HardSwish",
        "Gelu",
        "Erf",
        "Clip",
        "Abs",
        "Neg",
        "Exp",
        "Log",
        "Sqrt",
        "Identity",
        "Cast",
        "Softmax",
        "LogSoftmax",
        "Dropout",
        "Mish",
        "Celu",
        "ThresholdedRelu",
    ];
    const BINARY: &[&str] = &["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "PRelu"];
    let mut out: HashSet<String> = g
        .input
        .iter()
        .chain(&g.value_info)
        .filter(|v| {
            v.r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .and_then(|t| t.shape.as_ref())
                .is_some_and(|s| s.dim.len() == 2)
        })
        .filter_map(|v| v.name.clone())
        .collect();
    out.extend(
        inits
            .iter()
            .filter(|(_, t)| t.shape.len() == 2)
            .map(|(n, _)| n.clone()),
    );
    fn input(n: &NodeProto, i: usize) -> &str {
        n.input.get(i).map_or("", String::as_str)
    }
    for n in nodes.iter().flatten() {
        let Some(y) = n.output.first().filter(|o| !o.is_empty()) else {
            continue;
        };
        let is = |op: &str| op_is(n, op);
        let low_rank =
            |name: &str| out.contains(name) || inits.get(name).is_some_and(|t| t.shape.len() <= 2);
        let two_d = if is("Flatten") || is("Gemm") {
            true
        } else if is("Reshape") {
            inits
                .get(input(n, 1))
                .is_some_and(|t| t.shape.iter().product::<usize>() == 2 && t.shape.len() == 1)
        } else if is("MatMul") {
            out.contains(input(n, 0)) && out.contains(input(n, 1))
        } else if is("Concat") {
            n.input.iter().any(|i| out.contains(i.as_str()))
        } else if ELEMENTWISE.iter().any(|op| is(op)) {
            out.contains(input(n, 0))
        } else if BINARY.iter().any(|op| is(op)) {
            let (a, b) = (input(n, 0), input(n, 1));
            (out.contains(a) && low_rank(b)) || (out.contains(b) && low_rank(a))
        } else {
            false
        };
        if two_d {
            out.insert(y.clone());
        }
    }
    out
}

fn fuse_matmul_add(
    g: &GraphProto,
    nodes: &mut [Option<NodeProto>],
    inits: &BTreeMap<String, Tensor>,
) -> bool {
    let readers = reader_counts(g, nodes);
    let producer = producers(nodes);
    let two_d = two_d_values(g, nodes, inits);
    let mut changed = false;
    for add_i in 0..nodes.len() {
        let Some(add) = nodes[add_i].as_ref() else {
            continue;
        };
        if !op_is(add, "Add") || add.input.len() != 2 || !add.attribute.is_empty() {
            continue;
        }
        let Some(out) = single_output(add).map(str::to_string) else {
            continue;
        };
        // Which operand is the MatMul's output and which the bias.
        let found = [(0, 1), (1, 0)].into_iter().find_map(|(m, b)| {
            let mm_out = &add.input[m];
            let &mm_i = producer.get(mm_out)?;
            let mm = nodes[mm_i].as_ref()?;
            let ok = op_is(mm, "MatMul")
                && mm.input.len() == 2
                && mm.attribute.is_empty()
                && readers.get(mm_out) == Some(&1)
                && two_d.contains(&mm.input[0]);
            ok.then(|| (mm_i, add.input[b].clone()))
        });
        let Some((mm_i, bias)) = found else { continue };
        let Some(mm) = nodes[mm_i].as_ref() else {
            continue;
        };
        let (Some(w), Some(b)) = (inits.get(&mm.input[1]), inits.get(&bias)) else {
            continue;
        };
        if w.rank() != 2 || !matches!(w.dtype(), DType::F32 | DType::F64) || b.dtype() != w.dtype()
        {
            continue;
        }
        let n = w.shape[1];
        // The bias must broadcast over rows only, as Gemm's C does.
        let bias_ok = match b.shape.as_slice() {
            [] | [1] => true,
            [k] | [1, k] => *k == n,
            _ => false,
        };
        if !bias_ok {
            continue;
        }
        let gemm = NodeProto {
            input: vec![mm.input[0].clone(), mm.input[1].clone(), bias],
            output: vec![out],
            name: mm.name.clone(),
            op_type: Some("Gemm".into()),
            domain: None,
            attribute: Vec::new(),
        };
        nodes[mm_i] = Some(gemm);
        nodes[add_i] = None;
        changed = true;
    }
    changed
}

/// The per-channel `(f, shift)` of an inference-form BatchNormalization with initializer
/// parameters of `c` channels: `y = x * f + shift`.
fn bn_affine(bn: &NodeProto, inits: &BTreeMap<String, Tensor>) -> Option<(Vec<f64>, Vec<f64>)> {
    if bn.input.len() != 5
        || !attrs_within(
            bn,
            &["epsilon", "momentum", "spatial", "training_mode", "is_test"],
        )
        || attr_i(bn, "spatial", 1) != 1
        || attr_i(bn, "training_mode", 0) != 0
    {
        return None;
    }
    let param = |i: usize| -> Option<Vec<f64>> {
        let t = inits.get(bn.input.get(i)?)?;
        (t.rank() == 1).then_some(())?;
        floats(t)
    };
    let (scale, beta, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
    let c = scale.len();
    if [beta.len(), mean.len(), var.len()].iter().any(|&l| l != c) {
        return None;
    }
    let eps = f64::from(attr_f(bn, "epsilon", 1e-5));
    let f: Vec<f64> = scale
        .iter()
        .zip(&var)
        .map(|(s, v)| s / (v + eps).sqrt())
        .collect();
    let shift = (0..c).map(|k| beta[k] - mean[k] * f[k]).collect();
    Some((f, shift))
}

fn fold_batch_norms(
    g: &GraphProto,
    nodes: &mut [Option<NodeProto>],
    inits: &mut BTreeMap<String, Tensor>,
    fresh: &mut Fresh,
) -> bool {
    let readers = reader_counts(g, nodes);
    let mut producer = producers(nodes);
    let mut changed = false;
    for bn_i in 0..nodes.len() {
        let Some(bn) = nodes[bn_i].as_ref() else {
            continue;
        };
        if !op_is(bn, "BatchNormalization") {
            continue;
        }
        let Some(out) = single_output(bn).map(str::to_string) else {
            continue;
        };
        let x = bn.input.first().cloned().unwrap_or_default();
        let Some(&layer_i) = producer.get(&x) else {
            continue;
        };
        if readers.get(&x) != Some(&1) || layer_i == bn_i {
            continue;
        }
        let Some((f, shift)) = bn_affine(bn, inits) else {
            continue;
        };
        let Some(layer) = nodes[layer_i].as_ref() else {
            continue;
        };
        let folded = if op_is(layer, "Conv") {
            fold_conv(layer, &f, &shift, inits, fresh)
        } else if op_is(layer, "Gemm") {
            fold_gemm(layer, &f, &shift, inits, fresh)
        } else {
            None
        };
        let Some(mut new_layer) = folded else {
            continue;
        };
        new_layer.output = vec![out.clone()];
        nodes[layer_i] = Some(new_layer);
        nodes[bn_i] = None;
        producer.remove(&x);
        producer.insert(out, layer_i);
        changed = true;
    }
    changed
}

/// Adds a folded initializer under a fresh name derived from `base`.
fn add_init(
    inits: &mut BTreeMap<String, Tensor>,
    fresh: &mut Fresh,
    base: &str,
    t: Tensor,
) -> String {
    let name = fresh.name(&format!("{base}#bn_folded"));
    inits.insert(name.clone(), t);
    name
}

fn fold_conv(
    conv: &NodeProto,
    f: &[f64],
    shift: &[f64],
    inits: &mut BTreeMap<String, Tensor>,
    fresh: &mut Fresh,
) -> Option<NodeProto> {
    let c = f.len();
    let w_name = conv.input.get(1)?;
    let w = inits.get(w_name)?;
    if w.rank() < 3 || w.shape.first() != Some(&c) || c == 0 {
        return None;
    }
    let per_channel = w.len() / c;
    let mut wv = floats(w)?;
    for (k, chunk) in wv.chunks_mut(per_channel.max(1)).enumerate() {
        let fk = f.get(k)?;
        chunk.iter_mut().for_each(|x| *x *= fk);
    }
    let dtype = w.dtype();
    let w_shape = w.shape.clone();
    let bias: Vec<f64> = match conv.input.get(2).filter(|s| !s.is_empty()) {
        None => vec![0.0; c],
        Some(b) => {
            let b = inits.get(b)?;
            if b.dtype() != dtype || b.shape != [c] {
                return None;
            }
            floats(b)?
        }
    };
    let b_new: Vec<f64> = (0..c).map(|k| bias[k] * f[k] + shift[k]).collect();
    let w_t = with_dtype(dtype, w_shape, wv)?;
    let b_t = with_dtype(dtype, vec![c], b_new)?;
    let w_new = add_init(inits, fresh, w_name, w_t);
    let b_base = conv
        .input
        .get(2)
        .filter(|s| !s.is_empty())
        .unwrap_or(w_name);
    let b_new = add_init(inits, fresh, b_base, b_t);
    let mut out = conv.clone();
    out.input = vec![conv.input[0].clone(), w_new, b_new];
    Some(out)
}

fn fold_gemm(
    gemm: &NodeProto,
    f: &[f64],
    shift: &[f64],
    inits: &mut BTreeMap<String, Tensor>,
    fresh: &mut Fresh,
) -> Option<NodeProto> {
    if !attrs_within(gemm, &["alpha", "beta", "transA", "transB"]) {
        return None;
    }
    let c = f.len();
    let w_name = gemm.input.get(1)?;
    let w = inits.get(w_name)?;
    let trans_b = attr_i(gemm, "transB", 0) != 0;
    // The output's columns are B's columns (rows when transposed).
    let n = if trans_b {
        w.shape.first()
    } else {
        w.shape.get(1)
    };
    if w.rank() != 2 || n != Some(&c) || c == 0 {
        return None;
    }
    let dtype = w.dtype();
    let mut wv = floats(w)?;
    for (i, x) in wv.iter_mut().enumerate() {
        let col = if trans_b {
            i / w.shape[1].max(1)
        } else {
            i % c
        };
        *x *= f.get(col)?;
    }
    let w_shape = w.shape.clone();
    let beta = f64::from(attr_f(gemm, "beta", 1.0));
    let bias: Vec<f64> = match gemm.input.get(2).filter(|s| !s.is_empty()) {
        None => vec![0.0; c],
        Some(b) => {
            let b = inits.get(b)?;
            if b.dtype() != dtype {
                return None;
            }
            let v = floats(b)?;
            match b.shape.as_slice() {
                [] | [1] => vec![v.first().copied()? * beta; c],
                [k] | [1, k] if *k == c => v.iter().map(|x| x * beta).collect(),
                _ => return None,
            }
        }
    };
    let b_new: Vec<f64> = (0..c).map(|k| bias[k] * f[k] + shift[k]).collect();
    let w_t = with_dtype(dtype, w_shape, wv)?;
    let b_t = with_dtype(dtype, vec![c], b_new)?;
    let w_new = add_init(inits, fresh, w_name, w_t);
    let b_base = gemm
        .input
        .get(2)
        .filter(|s| !s.is_empty())
        .unwrap_or(w_name);
    let b_new = add_init(inits, fresh, b_base, b_t);
    let mut out = gemm.clone();
    out.input = vec![gemm.input[0].clone(), w_new, b_new];
    // The bias now holds beta's share: C enters with weight 1.
    out.attribute.retain(|a| a.name.as_deref() != Some("beta"));
    out.attribute.push(AttributeProto {
        name: Some("beta".into()),
        r#type: Some(attr_type::FLOAT),
        f: Some(1.0),
        ..Default::default()
    });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::proto::{AttributeProto, ModelProto, attr_type};
    use super::super::tests::{f32_tensor, model, node, vi};
    use super::super::{Limits, convert};
    use keel_bundle::Bundle;
    use keel_runtime::tensor_arrow::{admit, to_arrow};
    use keel_runtime::{Model, Options, Tensor};
    use prost::Message;

    fn float_attr(name: &str, f: f32) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(attr_type::FLOAT),
            f: Some(f),
            ..Default::default()
        }
    }

    fn bundle(m: &ModelProto, optimize: bool) -> Bundle {
        let bytes = m.encode_to_vec();
        convert::convert_with(m, &bytes, "m", None, &Limits::default(), optimize).unwrap()
    }

    /// Scores one row holding `x` (shape `[1, ...]`) and returns the first output's elements.
    fn score(b: &Bundle, x: Tensor) -> Vec<f32> {
        let model = Model::from_bundle(b, &Options::default()).unwrap();
        let col = to_arrow(x, &b.manifest.inputs[0]).unwrap();
        let batch = arrow_array::RecordBatch::try_new(model.input_schema(), vec![col]).unwrap();
        let out = model.score(&batch).unwrap();
        let y = admit(&b.manifest.outputs[0], out.column(0)).unwrap();
        y.as_slice::<f32>().unwrap().to_vec()
    }

    fn ops(b: &Bundle) -> Vec<String> {
        b.graph.children.iter().map(|n| n.op.clone()).collect()
    }

    /// BN parameters for two channels: scale, bias, mean, var.
    fn bn_params() -> Vec<super::super::proto::TensorProto> {
        vec![
            f32_tensor("s", &[2], &[2.0, 0.5]),
            f32_tensor("beta", &[2], &[0.25, -1.0]),
            f32_tensor("mean", &[2], &[1.0, -2.0]),
            f32_tensor("var", &[2], &[3.0, 0.75]),
        ]
    }

    fn assert_close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn conv_then_batch_norm_folds_into_the_conv() {
        let mut bn = node(
            "BatchNormalization",
            "bn",
            &["c", "s", "beta", "mean", "var"],
            &["y"],
        );
        bn.attribute.push(float_attr("epsilon", 0.25));
        let mut m = model(
            vec![node("Conv", "conv", &["x", "w", "b"], &["c"]), bn],
            vec![vi("x", 1, &[Some(1), Some(1), Some(2), Some(2)])],
            vec![vi("y", 1, &[Some(1), Some(2), Some(2), Some(2)])],
        );
        let g = m.graph.as_mut().unwrap();
        g.initializer = bn_params();
        // Two 1x1 filters: 3 and -1, biases 0.5 and 2.
        g.initializer
            .push(f32_tensor("w", &[2, 1, 1, 1], &[3.0, -1.0]));
        g.initializer.push(f32_tensor("b", &[2], &[0.5, 2.0]));
        let folded = bundle(&m, true);
        let plain = bundle(&m, false);
        assert!(!ops(&folded).contains(&"nn.batch_norm".to_string()));
        assert!(ops(&plain).contains(&"nn.batch_norm".to_string()));
        let x = Tensor::new(vec![1, 1, 1, 2, 2], vec![1f32, -2.0, 0.5, 4.0]).unwrap();
        let got = score(&folded, x.clone());
        assert_close(&got, &score(&plain, x));
        // By hand: channel 0 is (3x + 0.5 - 1) * 2 / sqrt(3.25) + 0.25, channel 1 is
        // (-x + 2 + 2) * 0.5 / sqrt(1) - 1.
        let f0 = 2.0 / 3.25f32.sqrt();
        let want: Vec<f32> = [1f32, -2.0, 0.5, 4.0]
            .iter()
            .map(|x| (3.0 * x - 0.5) * f0 + 0.25)
            .chain([1f32, -2.0, 0.5, 4.0].iter().map(|x| (4.0 - x) * 0.5 - 1.0))
            .collect();
        assert_close(&got, &want);
    }

    #[test]
    fn matmul_add_becomes_gemm_and_batch_norm_folds_into_it() {
        let mut m = model(
            vec![
                node("MatMul", "mm", &["x", "w"], &["p"]),
                node("Add", "add", &["bias", "p"], &["q"]),
                node(
                    "BatchNormalization",
                    "bn",
                    &["q", "s", "beta", "mean", "var"],
                    &["y"],
                ),
            ],
            vec![vi("x", 1, &[Some(2), Some(3)])],
            vec![vi("y", 1, &[Some(2), Some(2)])],
        );
        let g = m.graph.as_mut().unwrap();
        g.initializer = bn_params();
        g.initializer
            .push(f32_tensor("w", &[3, 2], &[1.0, 0.0, 0.5, -1.0, 2.0, 0.25]));
        g.initializer.push(f32_tensor("bias", &[2], &[1.0, -3.0]));
        let folded = bundle(&m, true);
        let plain = bundle(&m, false);
        let o = ops(&folded);
        assert!(o.contains(&"nn.gemm".to_string()), "{o:?}");
        assert!(
            !o.iter()
                .any(|op| op == "nn.batch_norm" || op == "nn.matmul")
        );
        assert!(!o.iter().any(|op| op == "nn.binary"), "{o:?}");
        let x = Tensor::new(vec![1, 2, 3], vec![1f32, 2.0, -1.0, 0.0, 0.5, 4.0]).unwrap();
        assert_close(&score(&folded, x.clone()), &score(&plain, x));
    }

    #[test]
    fn a_layer_output_with_another_reader_is_not_folded() {
        let mut m = model(
            vec![
                node("Conv", "conv", &["x", "w"], &["c"]),
                node(
                    "BatchNormalization",
                    "bn",
                    &["c", "s", "beta", "mean", "var"],
                    &["y"],
                ),
            ],
            vec![vi("x", 1, &[Some(1), Some(1), Some(1), Some(1)])],
            vec![
                vi("y", 1, &[Some(1), Some(2), Some(1), Some(1)]),
                vi("c", 1, &[Some(1), Some(2), Some(1), Some(1)]),
            ],
        );
        let g = m.graph.as_mut().unwrap();
        g.initializer = bn_params();
        g.initializer
            .push(f32_tensor("w", &[2, 1, 1, 1], &[3.0, -1.0]));
        assert!(ops(&bundle(&m, true)).contains(&"nn.batch_norm".to_string()));
    }

    #[test]
    fn an_opset_6_prelu_slope_is_per_channel() {
        let mut m = model(
            vec![node("PRelu", "p", &["x", "slope"], &["y"])],
            vec![vi("x", 1, &[Some(1), Some(2), Some(2)])],
            vec![vi("y", 1, &[Some(1), Some(2), Some(2)])],
        );
        m.opset_import[0].version = Some(6);
        let g = m.graph.as_mut().unwrap();
        g.initializer = vec![f32_tensor("slope", &[2], &[0.5, 3.0])];
        // Channel 0 scales negatives by 0.5, channel 1 by 3.
        let x = Tensor::new(vec![1, 1, 2, 2], vec![-2f32, 4.0, -1.0, -3.0]).unwrap();
        let got = score(&bundle(&m, false), x);
        assert_close(&got, &[-1.0, 4.0, -3.0, -9.0]);
    }
}
