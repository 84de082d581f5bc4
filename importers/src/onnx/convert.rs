//! The ONNX graph to a keel pipeline of `nn.*` nodes: the op table, the attribute forms of
//! older opsets turned into constant inputs, the interface, and the checks that run before
//! anything is written.

use super::proto::{AttributeProto, ModelProto, NodeProto, ValueInfoProto, attr_type};
use super::tensor::{decode, keel_dtype, to_le_bytes};
use super::{Error, INTERFACE_KEY, Limits, SYMBOLIC_DIM_BOUND, Unsupported};
use crate::emit::Emitter;
use keel_bundle::{Attr, Binding, Bundle, DType, Field, Manifest, Producer};
use keel_runtime::Tensor;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;

const TENSOR_FILE: &str = "tensors/onnx.safetensors";

/// The keel op (and its fixed `fn`) of an ONNX op type in the default domain.
fn lookup(op_type: &str) -> Option<(&'static str, Option<&'static str>)> {
    let unary = |f| Some(("nn.unary", Some(f)));
    let binary = |f| Some(("nn.binary", Some(f)));
    let reduce = |f| Some(("nn.reduce", Some(f)));
    match op_type {
        "Abs" => unary("abs"),
        "Neg" => unary("neg"),
        "Exp" => unary("exp"),
        "Log" => unary("log"),
        "Sqrt" => unary("sqrt"),
        "Reciprocal" => unary("reciprocal"),
        "Floor" => unary("floor"),
        "Ceil" => unary("ceil"),
        "Round" => unary("round"),
        "Sign" => unary("sign"),
        "Sin" => unary("sin"),
        "Cos" => unary("cos"),
        "Tan" => unary("tan"),
        "Asin" => unary("asin"),
        "Acos" => unary("acos"),
        "Atan" => unary("atan"),
        "Sinh" => unary("sinh"),
        "Cosh" => unary("cosh"),
        "Asinh" => unary("asinh"),
        "Acosh" => unary("acosh"),
        "Atanh" => unary("atanh"),
        "Erf" => unary("erf"),
        "Not" => unary("not"),
        "IsNaN" => unary("isnan"),
        "IsInf" => unary("isinf"),
        "Relu" => unary("relu"),
        "Sigmoid" => unary("sigmoid"),
        "Tanh" => unary("tanh"),
        "Softplus" => unary("softplus"),
        "Softsign" => unary("softsign"),
        "HardSwish" => unary("hard_swish"),
        "Mish" => unary("mish"),
        "Gelu" => unary("gelu"),
        "LeakyRelu" => unary("leaky_relu"),
        "Elu" => unary("elu"),
        "Selu" => unary("selu"),
        "Celu" => unary("celu"),
        "HardSigmoid" => unary("hard_sigmoid"),
        "ThresholdedRelu" => unary("thresholded_relu"),
        "BitwiseNot" => unary("bitwise_not"),
        "Shrink" => unary("shrink"),
        "Swish" => unary("swish"),
        "Add" => binary("add"),
        "Sub" => binary("sub"),
        "Mul" => binary("mul"),
        "Div" => binary("div"),
        "Pow" => binary("pow"),
        "Mod" => binary("mod"),
        "Equal" => binary("equal"),
        "Less" => binary("less"),
        "LessOrEqual" => binary("less_or_equal"),
        "Greater" => binary("greater"),
        "GreaterOrEqual" => binary("greater_or_equal"),
        "And" => binary("and"),
        "Or" => binary("or"),
        "Xor" => binary("xor"),
        "BitwiseAnd" => binary("bitwise_and"),
        "BitwiseOr" => binary("bitwise_or"),
        "BitwiseXor" => binary("bitwise_xor"),
        "PRelu" => binary("prelu"),
        // The direction attribute picks the fn (see `plan`).
        "BitShift" => Some(("nn.binary", None)),
        "Sum" => Some(("nn.variadic", Some("sum"))),
        "Mean" => Some(("nn.variadic", Some("mean"))),
        "Min" => Some(("nn.variadic", Some("min"))),
        "Max" => Some(("nn.variadic", Some("max"))),
        "Where" => Some(("nn.where", None)),
        "Clip" => Some(("nn.clip", None)),
        "Cast" | "CastLike" => Some(("nn.cast", None)),
        "Softmax" => Some(("nn.softmax", Some("softmax"))),
        "LogSoftmax" => Some(("nn.softmax", Some("log_softmax"))),
        "Hardmax" => Some(("nn.softmax", Some("hardmax"))),
        "ReduceSum" => reduce("sum"),
        "ReduceMean" => reduce("mean"),
        "ReduceMax" => reduce("max"),
        "ReduceMin" => reduce("min"),
        "ReduceProd" => reduce("prod"),
        "ReduceL1" => reduce("l1"),
        "ReduceL2" => reduce("l2"),
        "ReduceLogSum" => reduce("log_sum"),
        "ReduceLogSumExp" => reduce("log_sum_exp"),
        "ReduceSumSquare" => reduce("sum_square"),
        "ArgMax" => Some(("nn.arg_reduce", Some("max"))),
        "ArgMin" => Some(("nn.arg_reduce", Some("min"))),
        "Reshape" => Some(("nn.reshape", None)),
        "Flatten" => Some(("nn.flatten", None)),
        "Transpose" => Some(("nn.transpose", None)),
        "Concat" => Some(("nn.concat", None)),
        "Split" => Some(("nn.split", None)),
        "Slice" => Some(("nn.slice", None)),
        "Gather" => Some(("nn.gather", None)),
        "GatherElements" => Some(("nn.gather_elements", None)),
        "Squeeze" => Some(("nn.squeeze", None)),
        "Unsqueeze" => Some(("nn.unsqueeze", None)),
        "Expand" => Some(("nn.expand", None)),
        "Pad" => Some(("nn.pad", None)),
        "Shape" => Some(("nn.shape", None)),
        "Size" => Some(("nn.size", None)),
        "Identity" => Some(("nn.identity", None)),
        "ConstantOfShape" => Some(("nn.constant_of_shape", None)),
        "Range" => Some(("nn.range", None)),
        "Tile" => Some(("nn.tile", None)),
        "MatMul" => Some(("nn.matmul", None)),
        "Gemm" => Some(("nn.gemm", None)),
        "Conv" => Some(("nn.conv", None)),
        "ConvTranspose" => Some(("nn.conv_transpose", None)),
        "MaxPool" => Some(("nn.max_pool", None)),
        "AveragePool" => Some(("nn.average_pool", None)),
        "GlobalAveragePool" => Some(("nn.global_pool", Some("average"))),
        "GlobalMaxPool" => Some(("nn.global_pool", Some("max"))),
        "GlobalLpPool" => Some(("nn.global_pool", Some("lp"))),
        "LpPool" => Some(("nn.lp_pool", None)),
        "LRN" => Some(("nn.lrn", None)),
        "Resize" | "Upsample" => Some(("nn.resize", None)),
        "BatchNormalization" => Some(("nn.batch_norm", None)),
        "LayerNormalization" => Some(("nn.layer_norm", None)),
        "GroupNormalization" => Some(("nn.group_norm", None)),
        "InstanceNormalization" => Some(("nn.instance_norm", None)),
        "RMSNormalization" => Some(("nn.rms_norm", None)),
        "Constant" => Some(("nn.constant", None)),
        "Dropout" => Some(("nn.dropout", None)),
        "Trilu" => Some(("nn.trilu", None)),
        "CumSum" => Some(("nn.cumulative", Some("sum"))),
        "CumProd" => Some(("nn.cumulative", Some("prod"))),
        "TopK" => Some(("nn.top_k", None)),
        "GatherND" => Some(("nn.gather_nd", None)),
        // Scatter (opsets 9-10) is ScatterElements without reductions.
        "ScatterElements" | "Scatter" => Some(("nn.scatter_elements", None)),
        "ScatterND" => Some(("nn.scatter_nd", None)),
        "OneHot" => Some(("nn.one_hot", None)),
        "NonZero" => Some(("nn.non_zero", None)),
        "MeanVarianceNormalization" => Some(("nn.mean_variance_norm", None)),
        "DepthToSpace" => Some(("nn.depth_to_space", Some("depth_to_space"))),
        "SpaceToDepth" => Some(("nn.depth_to_space", Some("space_to_depth"))),
        "Attention" => Some(("nn.attention", None)),
        "RotaryEmbedding" => Some(("nn.rotary_embedding", None)),
        // keel's own custom domain: PyTorch modules with no ONNX op, same attribute names.
        "ai.keel:Embedding" => Some(("nn.embedding", None)),
        "ai.keel:EmbeddingBag" => Some(("nn.embedding_bag", None)),
        _ => None,
    }
}

/// Attributes that older opsets used for what is now an input: (op types, attribute, input
/// position, as what element type). The importer writes them as `nn.constant` inputs.
fn attr_input(op_type: &str, attr: &str) -> Option<(usize, DType)> {
    let reduce = op_type.starts_with("Reduce");
    Some(match (op_type, attr) {
        ("Squeeze" | "Unsqueeze", "axes") => (1, DType::I64),
        (_, "axes") if reduce => (1, DType::I64),
        ("Split", "split") => (1, DType::I64),
        ("Slice", "starts") => (1, DType::I64),
        ("Slice", "ends") => (2, DType::I64),
        ("Slice", "axes") => (3, DType::I64),
        ("Pad", "pads") => (1, DType::I64),
        ("Pad", "value") => (2, DType::F32),
        ("Clip", "min") => (1, DType::F32),
        ("Clip", "max") => (2, DType::F32),
        ("TopK", "k") => (1, DType::I64),
        ("Upsample", "scales") => (2, DType::F32),
        _ => return None,
    })
}

/// An attribute value before it is written: inline, or a tensor for the safetensors entry.
enum Value {
    Inline(Attr),
    Tensor(Tensor),
}

/// A node ready to emit.
struct Planned {
    op: &'static str,
    attrs: BTreeMap<String, Value>,
    /// Per input port: the ONNX value name, or a constant the importer made from an attribute.
    inputs: Vec<Option<Input>>,
    outputs: Vec<String>,
    name: String,
    op_type: String,
}

enum Input {
    Value(String),
    Const(Tensor),
}

fn attr_value(a: &AttributeProto, what: &str, limits: &Limits) -> Result<Option<Value>, String> {
    if a.ref_attr_name.is_some() {
        return Err("a function attribute reference".into());
    }
    let ty = a.r#type.unwrap_or_else(|| {
        // IR versions before 0.0.2 have no `type`: tell it from the field that is set.
        if a.f.is_some() {
            attr_type::FLOAT
        } else if a.i.is_some() {
            attr_type::INT
        } else if a.s.is_some() {
            attr_type::STRING
        } else if a.t.is_some() {
            attr_type::TENSOR
        } else if !a.floats.is_empty() {
            attr_type::FLOATS
        } else if !a.ints.is_empty() {
            attr_type::INTS
        } else if !a.strings.is_empty() {
            attr_type::STRINGS
        } else {
            0
        }
    });
    let utf8 =
        |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| "a non-UTF-8 string".to_string());
    Ok(Some(match ty {
        attr_type::FLOAT => Value::Inline(Attr::F64(f64::from(a.f.unwrap_or(0.0)))),
        attr_type::INT => Value::Inline(Attr::I64(a.i.unwrap_or(0))),
        attr_type::STRING => Value::Inline(Attr::Str(utf8(a.s.as_deref().unwrap_or(&[]))?)),
        attr_type::FLOATS => {
            Value::Inline(Attr::F64s(a.floats.iter().map(|&f| f64::from(f)).collect()))
        }
        attr_type::INTS => Value::Inline(Attr::I64s(a.ints.clone())),
        attr_type::STRINGS => Value::Inline(Attr::Strs(
            a.strings
                .iter()
                .map(|s| utf8(s))
                .collect::<Result<_, _>>()?,
        )),
        attr_type::TENSOR => {
            let t = a.t.as_ref().ok_or("a tensor attribute without a tensor")?;
            Value::Tensor(decode(t, what, None, limits).map_err(|e| e.to_string())?)
        }
        other => {
            return Err(format!(
                "an attribute of type {other} (graphs, sparse tensors and type protos are not supported)"
            ));
        }
    }))
}

/// The attribute as a constant input tensor of `dtype` (1-D for lists, a scalar otherwise).
fn attr_tensor(v: &Value, dtype: DType) -> Option<Tensor> {
    let Value::Inline(a) = v else { return None };
    match (a, dtype) {
        (Attr::I64s(v), DType::I64) => Tensor::new(vec![v.len()], v.clone()).ok(),
        (Attr::F64(f), DType::F32) => Some(Tensor::scalar(*f as f32)),
        (Attr::I64(v), DType::I64) => Tensor::new(vec![1], vec![*v]).ok(),
        (Attr::F64s(v), DType::F32) => {
            Tensor::new(vec![v.len()], v.iter().map(|&x| x as f32).collect()).ok()
        }
        _ => None,
    }
}

/// The `value` of a `Constant` node from whichever `value_*` attribute it has.
fn constant_value(attrs: &mut BTreeMap<String, Value>) -> Result<Tensor, String> {
    let keys: Vec<String> = attrs.keys().cloned().collect();
    let [key] = keys.as_slice() else {
        return Err(format!("needs exactly one value attribute, has {keys:?}"));
    };
    let v = attrs.remove(key).ok_or("no value")?;
    let t = match (key.as_str(), v) {
        ("value", Value::Tensor(t)) => t,
        ("value_float", Value::Inline(Attr::F64(f))) => Tensor::scalar(f as f32),
        ("value_floats", Value::Inline(Attr::F64s(f))) => {
            Tensor::new(vec![f.len()], f.iter().map(|&x| x as f32).collect())
                .map_err(|e| e.to_string())?
        }
        ("value_int", Value::Inline(Attr::I64(i))) => Tensor::scalar(i),
        ("value_ints", Value::Inline(Attr::I64s(v))) => {
            Tensor::new(vec![v.len()], v).map_err(|e| e.to_string())?
        }
        (other, _) => return Err(format!("attribute `{other}` is not supported")),
    };
    Ok(t)
}

/// Plans one node, or lists what about it is unsupported.
fn plan(
    node: &super::proto::NodeProto,
    name: &str,
    opset: i64,
    limits: &Limits,
) -> Result<Planned, Vec<Unsupported>> {
    let op_type = node.op_type.clone().unwrap_or_default();
    let domain = node.domain.as_deref().unwrap_or("");
    let full_type = if domain.is_empty() || domain == "ai.onnx" {
        op_type.clone()
    } else {
        format!("{domain}:{op_type}")
    };
    let unsupported = |detail: Option<String>| Unsupported {
        op_type: full_type.clone(),
        node: name.to_string(),
        detail,
    };
    let Some((op, fixed_fn)) = lookup(&full_type) else {
        return Err(vec![unsupported(None)]);
    };
    let Some(entry) = keel_runtime::registry::get(op) else {
        return Err(vec![unsupported(Some(format!("(keel has no `{op}` yet)")))]);
    };
    if opset < 13 && matches!(op_type.as_str(), "Softmax" | "LogSoftmax" | "Hardmax") {
        // Before opset 13 these flatten the input to 2-D at `axis`: not the keel op's meaning.
        return Err(vec![unsupported(Some(format!("at opset {opset} (< 13)")))]);
    }
    let mut problems = Vec::new();
    let mut attrs: BTreeMap<String, Value> = BTreeMap::new();
    let mut inputs: Vec<Option<Input>> = node
        .input
        .iter()
        .map(|v| (!v.is_empty()).then(|| Input::Value(v.clone())))
        .collect();
    for a in &node.attribute {
        let key = a.name.clone().unwrap_or_default();
        match attr_value(a, &format!("{name}.{key}"), limits) {
            Err(m) => problems.push(unsupported(Some(format!("attribute `{key}`: {m}")))),
            Ok(None) => {}
            Ok(Some(v)) => {
                if let Some((port, dtype)) = attr_input(&op_type, &key) {
                    match attr_tensor(&v, dtype) {
                        Some(t) => {
                            if inputs.len() <= port {
                                inputs.resize_with(port + 1, || None);
                            }
                            inputs[port] = Some(Input::Const(t));
                        }
                        None => problems.push(unsupported(Some(format!(
                            "attribute `{key}` of an unexpected type"
                        )))),
                    }
                    continue;
                }
                attrs.insert(key, v);
            }
        }
    }
    if op_type == "Constant" {
        match constant_value(&mut attrs) {
            Ok(t) => {
                attrs.insert("value".into(), Value::Tensor(t));
            }
            Err(m) => problems.push(unsupported(Some(m))),
        }
    }
    if op_type == "Cast"
        && let Some(Value::Inline(Attr::I64(to))) = attrs.get("to")
    {
        {
            let to = i32::try_from(*to).unwrap_or(0);
            match keel_dtype(to) {
                Some(d) => {
                    attrs.insert("to".into(), Value::Inline(Attr::Str(d.as_str().into())));
                }
                None => problems.push(unsupported(Some(format!(
                    "to {}",
                    super::proto::data_type::name(to)
                )))),
            }
        }
    }
    if op_type == "BitShift" {
        let f = match attrs.remove("direction") {
            Some(Value::Inline(Attr::Str(d))) if d == "LEFT" => Some("bit_shift_left"),
            Some(Value::Inline(Attr::Str(d))) if d == "RIGHT" => Some("bit_shift_right"),
            _ => None,
        };
        match f {
            Some(f) => {
                attrs.insert("fn".into(), Value::Inline(Attr::Str(f.into())));
            }
            None => problems.push(unsupported(Some("direction must be LEFT or RIGHT".into()))),
        }
    }
    if op_type == "Upsample" || (op_type == "Resize" && opset < 11) {
        // Upsample and opset 10's Resize take (X, scales) and map output positions back by
        // `y / scale` (asymmetric), taking the element at or before (floor) in nearest mode:
        // keel's Resize with scales on port 2 and those modes spelled out.
        // (Upsample before opset 9 has a `scales` attribute instead, already on port 2.)
        if (op_type == "Resize" || opset >= 9)
            && let Some(scales) = inputs.get_mut(1).map(Option::take)
        {
            inputs.resize_with(3, || None);
            inputs[2] = scales;
        }
        for (key, v) in [
            ("coordinate_transformation_mode", "asymmetric"),
            ("nearest_mode", "floor"),
        ] {
            attrs.insert(key.into(), Value::Inline(Attr::Str(v.into())));
        }
    }
    if let Some(f) = fixed_fn {
        attrs.insert("fn".into(), Value::Inline(Attr::Str(f.into())));
    }
    for key in attrs.keys() {
        if !entry.attrs.contains(&key.as_str()) {
            problems.push(unsupported(Some(format!("attribute `{key}`"))));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Planned {
        op,
        attrs,
        inputs,
        outputs: node.output.clone(),
        name: name.to_string(),
        op_type,
    })
}

/// A graph input's or output's ONNX type: keel dtype and dims (`None` per symbolic dim).
/// Per dimension: `Some((n, ""))` fixed, `Some((0, param))` symbolic, `None` unknown.
type Dims = Vec<Option<(u64, String)>>;

fn value_type(v: &ValueInfoProto) -> Result<(DType, Option<Dims>), Error> {
    let name = v.name.clone().unwrap_or_default();
    let bad = |message: &str| Error::Interface {
        name: name.clone(),
        message: message.to_string(),
    };
    let tt = v
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| {
            bad("is not a tensor (sequences, maps, optionals and sparse tensors are not supported)")
        })?;
    let code = tt.elem_type.unwrap_or(0);
    let dtype = keel_dtype(code).ok_or_else(|| Error::UnsupportedType {
        what: name.clone(),
        data_type: super::proto::data_type::name(code).to_string(),
    })?;
    let dims = tt.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match (d.dim_value, &d.dim_param) {
                // 0 is an empty tensor (a fixed dimension); a negative size is unknown.
                (Some(n), _) if n >= 0 => Some((n as u64, String::new())),
                (_, Some(p)) if !p.is_empty() => Some((0, p.clone())),
                _ => None,
            })
            .map(|d| match d {
                Some((0, p)) => Some((0, p)),
                other => other,
            })
            .collect::<Vec<_>>()
    });
    Ok((dtype, dims))
}

/// A field named `name` of `dtype` from `dims` (fixed `(n, "")`, symbolic `(0, param)` or
/// unknown `None`).
fn field(name: &str, dtype: DType, dims: &[Option<(u64, String)>]) -> Result<Field, Error> {
    let bad = |message: String| Error::Interface {
        name: name.to_string(),
        message,
    };
    if dims.len() > keel_bundle::MAX_RANK {
        return Err(bad(format!(
            "rank {} is above keel's {}",
            dims.len(),
            keel_bundle::MAX_RANK
        )));
    }
    let mut shape = Vec::new();
    let mut names = Vec::new();
    for (i, d) in dims.iter().enumerate() {
        match d {
            Some((n, p)) if p.is_empty() => {
                shape.push(*n);
                names.push(String::new());
            }
            Some((_, p)) => {
                shape.push(SYMBOLIC_DIM_BOUND);
                names.push(p.clone());
            }
            None => {
                shape.push(SYMBOLIC_DIM_BOUND);
                names.push(format!("d{}", i + 1));
            }
        }
    }
    let symbolic = names.iter().any(|n| !n.is_empty());
    if shape.is_empty() {
        // A scalar travels as a tensor of one element (see `scalar_axes`): keel's scalar
        // columns are not tensors, and f16/bf16/i8/u8 exist only in tensors.
        return Ok(Field::tensor(name, dtype, vec![1]));
    }
    Ok(Field {
        dims: if symbolic { names } else { Vec::new() },
        ..Field::tensor(name, dtype, shape)
    })
}

/// Orders the nodes so every value is defined before it is read (ONNX requires topological
/// order; a graph out of order is accepted, a cycle or an undefined input refused).
fn order(
    nodes: &[NodeProto],
    defined: &HashSet<String>,
    names: &[String],
) -> Result<Vec<usize>, Error> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if defined.contains(o) || producer.insert(o.as_str(), i).is_some() {
                return Err(Error::Graph {
                    node: names[i].clone(),
                    message: format!("value `{o}` is written twice"),
                });
            }
        }
    }
    let mut waiting = vec![0usize; nodes.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for v in n.input.iter().filter(|v| !v.is_empty()) {
            if defined.contains(v) {
                continue;
            }
            match producer.get(v.as_str()) {
                Some(&p) => {
                    waiting[i] += 1;
                    readers[p].push(i);
                }
                None => {
                    return Err(Error::Graph {
                        node: names[i].clone(),
                        message: format!("input `{v}` is not defined"),
                    });
                }
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut out = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_front() {
        out.push(i);
        for &r in &readers[i] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.push_back(r);
            }
        }
    }
    if out.len() < nodes.len() {
        let stuck = (0..nodes.len()).find(|&i| waiting[i] > 0).unwrap_or(0);
        return Err(Error::Graph {
            node: names.get(stuck).cloned().unwrap_or_default(),
            message: "the graph has a cycle through this node".into(),
        });
    }
    Ok(out)
}

pub(crate) fn convert(
    model: &ModelProto,
    bytes: &[u8],
    default_name: &str,
    dir: Option<&Path>,
    limits: &Limits,
) -> Result<Bundle, Error> {
    convert_with(model, bytes, default_name, dir, limits, true)
}

/// [`convert`], with the import-time rewrites of `optimize.rs` on or off (off only to test
/// that they change no answer).
pub(crate) fn convert_with(
    model: &ModelProto,
    bytes: &[u8],
    default_name: &str,
    dir: Option<&Path>,
    limits: &Limits,
    optimize: bool,
) -> Result<Bundle, Error> {
    if !model.functions.is_empty() {
        return Err(Error::Feature(
            "model-local functions are not supported".into(),
        ));
    }
    if !model.training_info.is_empty() {
        return Err(Error::Feature("training info is not supported".into()));
    }
    let g = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::Decode("the model has no graph".into()))?;
    if !g.sparse_initializer.is_empty() {
        return Err(Error::Feature(
            "sparse initializers are not supported".into(),
        ));
    }
    if g.node.len() > limits.max_nodes {
        return Err(Error::Limit {
            what: "nodes in the graph".into(),
            actual: g.node.len() as u64,
            limit: limits.max_nodes as u64,
        });
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .ok_or_else(|| Error::Feature("the model imports no default-domain opset".into()))?;

    let mut initializers: BTreeMap<String, Tensor> = BTreeMap::new();
    for t in &g.initializer {
        let name = t.name.clone().unwrap_or_default();
        let tensor = decode(t, &name, dir, limits)?;
        initializers.insert(name, tensor);
    }
    // Import-time rewrites (BatchNormalization folding, MatMul + Add into Gemm, opset 6's
    // per-channel PRelu slopes); they may add initializers.
    let optimized = super::optimize::optimize(g, &mut initializers, opset, optimize);
    let nodes: &[NodeProto] = optimized.as_deref().unwrap_or(&g.node);

    // Node names: ONNX's if unique and non-empty, else made unique.
    let mut taken = HashSet::new();
    let names: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let base = match n.name.as_deref() {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => format!("{}_{i}", n.op_type.as_deref().unwrap_or("node")),
            };
            let mut name = base.clone();
            let mut k = 1;
            while !taken.insert(name.clone()) {
                k += 1;
                name = format!("{base}_{k}");
            }
            name
        })
        .collect();

    let inputs: Vec<&ValueInfoProto> = g
        .input
        .iter()
        .filter(|v| !initializers.contains_key(v.name.as_deref().unwrap_or("")))
        .collect();
    let mut defined: HashSet<String> = initializers.keys().cloned().collect();
    for v in &inputs {
        let n = v.name.clone().unwrap_or_default();
        if n.is_empty() || !defined.insert(n.clone()) {
            return Err(Error::Interface {
                name: n,
                message: "an input name must be non-empty and unique".into(),
            });
        }
    }
    let sequence = order(nodes, &defined, &names)?;

    // Check every node before writing anything; report all that is unsupported at once.
    let mut planned = Vec::with_capacity(nodes.len());
    let mut unsupported = Vec::new();
    for &i in &sequence {
        match plan(&nodes[i], &names[i], opset, limits) {
            Ok(p) => planned.push(p),
            Err(mut u) => unsupported.append(&mut u),
        }
    }
    if !unsupported.is_empty() {
        return Err(Error::Unsupported(unsupported));
    }

    // The interface.
    let mut in_types = Vec::new();
    for v in &inputs {
        let (dtype, dims) = value_type(v)?;
        let name = v.name.clone().unwrap_or_default();
        let dims = dims.ok_or_else(|| Error::Interface {
            name: name.clone(),
            message: "has no shape".into(),
        })?;
        in_types.push((name, dtype, dims));
    }
    // A batched graph: every input's first dimension is the batch (symbolic or unknown).
    // Any other graph is scored as one row (its fields may still have symbolic dimensions).
    let is_batch_dim = |d: Option<&Option<(u64, String)>>| match d {
        Some(None) => true,
        Some(Some((_, p))) => !p.is_empty(),
        None => false,
    };
    let fixed = in_types.is_empty() || !in_types.iter().all(|(_, _, d)| is_batch_dim(d.first()));
    if fixed {
        // The one-row form needs the runtime's squeeze and unsqueeze.
        let missing: Vec<Unsupported> = ["nn.squeeze", "nn.unsqueeze"]
            .iter()
            .filter(|op| keel_runtime::registry::get(op).is_none())
            .map(|op| Unsupported {
                op_type: format!("({op}, for the one-row interface)"),
                node: String::new(),
                detail: None,
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::Unsupported(missing));
        }
    }
    let all_names: HashSet<&str> = nodes
        .iter()
        .flat_map(|n| n.input.iter().chain(&n.output))
        .map(String::as_str)
        .chain(defined.iter().map(String::as_str))
        .collect();
    let fresh = |base: String| {
        let mut name = base.clone();
        let mut k = 1;
        while all_names.contains(name.as_str()) {
            k += 1;
            name = format!("{base}_{k}");
        }
        name
    };
    let output_names: HashSet<String> = g.output.iter().filter_map(|v| v.name.clone()).collect();
    // In the one-row form, graph inputs and outputs are renamed inside: the field keeps the
    // ONNX name and a squeeze/unsqueeze connects it to the graph.
    let mut rename: HashMap<String, String> = HashMap::new();
    if fixed {
        for (name, _, _) in &in_types {
            if output_names.contains(name) {
                return Err(Error::Interface {
                    name: name.clone(),
                    message: "a graph input that is also an output".into(),
                });
            }
            rename.insert(name.clone(), fresh(format!("{name}#onnx")));
        }
        for name in &output_names {
            rename.insert(name.clone(), fresh(format!("{name}#onnx")));
        }
    }
    let col = |v: &str| rename.get(v).cloned().unwrap_or_else(|| v.to_string());

    let mut emit = Emitter::new(TENSOR_FILE);
    let mut const_count = 0usize;
    let mut constant = |emit: &mut Emitter, node: &str, t: &Tensor| -> String {
        const_count += 1;
        let column = fresh(format!("{node}#const{const_count}"));
        let name = emit.unique(&column);
        let (dt, bytes) = to_le_bytes(t);
        let value = emit.raw_tensor(&name, dt, &t.shape, bytes);
        emit.node(
            name,
            "nn.constant",
            Vec::new(),
            vec![Binding::new("0", [column.clone()])],
            BTreeMap::from([("value".to_string(), value)]),
            String::new(),
        );
        column
    };
    let mut fields_in = Vec::new();
    // The axes squeezed off an input and unsqueezed onto an output in the one-row form: the
    // batch axis, and for a rank-0 ONNX value also the axis of its one-element field.
    let axes0 = Tensor::new(vec![1], vec![0i64]).map_err(|e| Error::Feature(e.to_string()))?;
    let scalar_axes =
        Tensor::new(vec![2], vec![0i64, 1]).map_err(|e| Error::Feature(e.to_string()))?;
    let mut axes_col = None;
    let mut scalar_axes_col = None;
    for (name, dtype, dims) in &in_types {
        if fixed {
            fields_in.push(field(name, *dtype, dims)?);
            let axes = if dims.is_empty() {
                scalar_axes_col
                    .get_or_insert_with(|| constant(&mut emit, "scalar_axes", &scalar_axes))
                    .clone()
            } else {
                axes_col
                    .get_or_insert_with(|| constant(&mut emit, "batch_axis", &axes0))
                    .clone()
            };
            let node = emit.unique(&format!("{name}#squeeze"));
            emit.node(
                node,
                "nn.squeeze",
                vec![Binding::new("0", [name.clone()]), Binding::new("1", [axes])],
                vec![Binding::new("0", [col(name)])],
                BTreeMap::new(),
                "the one-row form: the field holds the whole ONNX tensor".into(),
            );
        } else {
            fields_in.push(field(name, *dtype, &dims[1..])?);
        }
    }
    let used: HashSet<&str> = nodes
        .iter()
        .flat_map(|n| n.input.iter())
        .chain(output_names.iter())
        .map(String::as_str)
        .collect();
    for (name, t) in &initializers {
        if !used.contains(name.as_str()) {
            continue;
        }
        let node = emit.unique(&format!("{name}#init"));
        let (dt, bytes) = to_le_bytes(t);
        let value = emit.raw_tensor(&node, dt, &t.shape, bytes);
        emit.node(
            node,
            "nn.constant",
            Vec::new(),
            vec![Binding::new("0", [col(name)])],
            BTreeMap::from([("value".to_string(), value)]),
            "initializer".into(),
        );
    }
    for p in planned {
        let node_name = emit.unique(&p.name);
        let mut bindings = Vec::new();
        for (port, inp) in p.inputs.iter().enumerate() {
            match inp {
                None => {}
                Some(Input::Value(v)) => bindings.push(Binding::new(&port.to_string(), [col(v)])),
                Some(Input::Const(t)) => {
                    let c = constant(&mut emit, &p.name, t);
                    bindings.push(Binding::new(&port.to_string(), [c]));
                }
            }
        }
        let outputs = p
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.is_empty())
            .map(|(port, o)| Binding::new(&port.to_string(), [col(o)]))
            .collect();
        let mut attrs = BTreeMap::new();
        for (k, v) in p.attrs {
            let a = match v {
                Value::Inline(a) => a,
                Value::Tensor(t) => {
                    let (dt, bytes) = to_le_bytes(&t);
                    emit.raw_tensor(&format!("{node_name}.{k}"), dt, &t.shape, bytes)
                }
            };
            attrs.insert(k, a);
        }
        emit.node(
            node_name,
            p.op,
            bindings,
            outputs,
            attrs,
            format!("ONNX {}", p.op_type),
        );
    }
    let mut fields_out = Vec::new();
    for v in &g.output {
        let name = v.name.clone().unwrap_or_default();
        let (dtype, dims) = value_type(v)?;
        let dims = dims.ok_or_else(|| Error::Interface {
            name: name.clone(),
            message: "has no shape".into(),
        })?;
        if fixed {
            fields_out.push(field(&name, dtype, &dims)?);
            let axes = if dims.is_empty() {
                scalar_axes_col
                    .get_or_insert_with(|| constant(&mut emit, "scalar_axes", &scalar_axes))
                    .clone()
            } else {
                axes_col
                    .get_or_insert_with(|| constant(&mut emit, "batch_axis", &axes0))
                    .clone()
            };
            let node = emit.unique(&format!("{name}#unsqueeze"));
            emit.node(
                node,
                "nn.unsqueeze",
                vec![Binding::new("0", [col(&name)]), Binding::new("1", [axes])],
                vec![Binding::new("0", [name.clone()])],
                BTreeMap::new(),
                "the one-row form: the field holds the whole ONNX tensor".into(),
            );
        } else {
            if !is_batch_dim(dims.first()) {
                return Err(Error::Interface {
                    name,
                    message: "an output of a batched graph needs a symbolic first dimension".into(),
                });
            }
            fields_out.push(field(&name, dtype, &dims[1..])?);
        }
    }
    // Dense layers in one pass (Gemm + Relu/Sigmoid/Tanh); a graph output is never folded
    // away, so every declared output is still written under its name.
    let keep: HashSet<String> = g
        .output
        .iter()
        .filter_map(|v| v.name.as_deref())
        .flat_map(|n| [n.to_string(), col(n)])
        .collect();
    emit.fuse_activations(&keep);
    let graph_name = g
        .name
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default_name.to_string());
    let root = emit.unique(&format!("{graph_name}#pipeline"));
    let reads = emit.reads().to_vec();
    let (graph, tensors) = emit.finish(root.clone(), reads, "ONNX graph".into())?;
    let mut manifest = Manifest::new(graph_name, root, fields_in, fields_out);
    manifest.uid = crate::emit::uid_of(bytes);
    manifest.producer = Producer {
        name: "keel-import.onnx".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        framework: model
            .producer_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "onnx".into()),
        framework_version: model.producer_version.clone().unwrap_or_default(),
    };
    manifest
        .metadata
        .insert("onnx.opset".into(), opset.to_string());
    // Says how a caller lays out rows: `one_row` (each field holds a whole ONNX tensor) or
    // `batch` (the first ONNX dimension is the rows).
    manifest.metadata.insert(
        INTERFACE_KEY.into(),
        if fixed { "one_row" } else { "batch" }.into(),
    );
    if fixed {
        // The graph computes one row per call: the runtime scores a larger frame row by row.
        manifest
            .metadata
            .insert(keel_runtime::ROWS_PER_CALL_METADATA.into(), "1".into());
    }
    Ok(Bundle::new(manifest, graph, tensors)?)
}
