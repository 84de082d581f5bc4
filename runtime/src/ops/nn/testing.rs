//! Helpers for the `nn.*` ops' unit tests: build one node exactly as the planner does (the
//! registry's attribute check, the op's `build` with typed inputs on ports `0..`) and run its
//! kernel on tensors, returning the output tensors and checking them against the types `build`
//! inferred.

use crate::error::Error;
use crate::op::BuildCtx;
use crate::tensor::{Tensor, TensorData};
use crate::value::{ColInfo, ColType, Value};
use keel_bundle::{Attr, Binding, Bundle, DType, Field, Manifest, Node, TensorRef, TensorWriter};
use std::collections::{BTreeMap, HashMap};

/// Runs `op` with `attrs` on `inputs` (bound to ports `0..`) and one output.
pub fn run(op: &str, attrs: Vec<(&str, Attr)>, inputs: &[Tensor]) -> Result<Vec<Tensor>, Error> {
    run_n(op, attrs, inputs, 1)
}

/// [`run`] with `n_out` outputs on ports `0..n_out`.
pub fn run_n(
    op: &str,
    attrs: Vec<(&str, Attr)>,
    inputs: &[Tensor],
    n_out: usize,
) -> Result<Vec<Tensor>, Error> {
    run_opt(
        op,
        attrs,
        &inputs.iter().map(Some).collect::<Vec<_>>(),
        n_out,
    )
}

/// [`run_n`] with optional inputs: `None` leaves that port unbound.
pub fn run_opt(
    op: &str,
    attrs: Vec<(&str, Attr)>,
    inputs: &[Option<&Tensor>],
    n_out: usize,
) -> Result<Vec<Tensor>, Error> {
    let mut tensors = TensorWriter::new();
    let mut attr_map = BTreeMap::new();
    for (k, v) in attrs {
        let v = match v {
            // `tensor_attr` smuggles the tensor through an `I64s` payload; store it for real.
            Attr::List(items) if matches!(items.first(), Some(Attr::Str(tag)) if tag == TAG) => {
                let t = decode(&items);
                write(&mut tensors, k, &t);
                Attr::Tensor(TensorRef {
                    file: "tensors/t.safetensors".into(),
                    key: k.to_string(),
                })
            }
            other => other,
        };
        attr_map.insert(k.to_string(), v);
    }
    let node = Node {
        name: "n".into(),
        op: op.into(),
        inputs: inputs
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_some())
            .map(|(i, _)| Binding::new(&i.to_string(), [format!("in{i}")]))
            .collect(),
        outputs: (0..n_out)
            .map(|i| Binding::new(&i.to_string(), [format!("out{i}")]))
            .collect(),
        attrs: attr_map,
        children: vec![],
        doc: String::new(),
    };
    let manifest = Manifest::new(
        "test",
        "root",
        vec![Field::scalar("x", DType::F64, true)],
        vec![Field::scalar("x", DType::F64, true)],
    );
    let bytes = tensors.finish()?;
    let bundle = Bundle::new(
        manifest,
        Node::pipeline("root", vec![]),
        [("tensors/t.safetensors".to_string(), bytes)],
    )?;
    let entry = crate::registry::get(op).ok_or_else(|| Error::UnknownOp {
        node: "n".into(),
        op: op.into(),
    })?;
    crate::registry::check_attrs(entry, &node)?;
    let constants = HashMap::new();
    let ctx = BuildCtx {
        node: &node,
        bundle: &bundle,
        inputs: inputs
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                t.map(|t| {
                    (
                        i.to_string(),
                        vec![(
                            format!("in{i}"),
                            ColInfo {
                                ty: ColType::Tensor(t.ty()),
                                names: vec![format!("in{i}")],
                            },
                        )],
                    )
                })
            })
            .collect(),
        constants: &constants,
    };
    let built = (entry.build)(&ctx)?;
    let values: Vec<Value> = inputs
        .iter()
        .flatten()
        .map(|t| Value::Tensor((*t).clone()))
        .collect();
    let refs: Vec<&Value> = values.iter().collect();
    let outs = built.kernel.eval(&refs, 1)?;
    let mut result = Vec::new();
    for (v, info) in outs.into_iter().zip(&built.outputs) {
        let Value::Tensor(t) = v else {
            panic!("{op} returned a non-tensor value");
        };
        let ColType::Tensor(ty) = &info.ty else {
            panic!("{op} declared a non-tensor output");
        };
        assert_eq!(
            t.dtype(),
            ty.dtype,
            "{op}: output dtype differs from the inferred one"
        );
        assert!(
            ty.accepts(&t.shape),
            "{op}: output shape {:?} does not fit the inferred {ty}",
            t.shape
        );
        result.push(t);
    }
    Ok(result)
}

const TAG: &str = "__keel_test_tensor__";

/// A tensor attribute for [`run`] (stored in the test bundle's safetensors file).
pub fn tensor_attr(t: &Tensor) -> Attr {
    let mut items = vec![Attr::Str(TAG.into()), Attr::Str(t.dtype().as_str().into())];
    items.push(Attr::I64s(t.shape.iter().map(|&d| d as i64).collect()));
    items.push(Attr::F64s(t.data.to_f64_vec()));
    Attr::List(items)
}

fn decode(items: &[Attr]) -> Tensor {
    let (Attr::Str(dtype), Attr::I64s(shape), Attr::F64s(values)) =
        (&items[1], &items[2], &items[3])
    else {
        panic!("malformed test tensor");
    };
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let data = match DType::parse(dtype).expect("dtype") {
        DType::F32 => TensorData::F32(values.iter().map(|&v| v as f32).collect::<Vec<_>>().into()),
        DType::F64 => TensorData::F64(values.clone().into()),
        DType::I64 => TensorData::I64(values.iter().map(|&v| v as i64).collect::<Vec<_>>().into()),
        DType::I32 => TensorData::I32(values.iter().map(|&v| v as i32).collect::<Vec<_>>().into()),
        DType::Bool => {
            TensorData::Bool(values.iter().map(|&v| v != 0.0).collect::<Vec<_>>().into())
        }
        DType::U8 => TensorData::U8(values.iter().map(|&v| v as u8).collect::<Vec<_>>().into()),
        DType::I8 => TensorData::I8(values.iter().map(|&v| v as i8).collect::<Vec<_>>().into()),
        other => panic!("test tensors of {other} are not supported"),
    };
    Tensor::from_data(shape, data).expect("test tensor")
}

fn write(w: &mut TensorWriter, key: &str, t: &Tensor) {
    use keel_bundle::TensorDType as T;
    let (dt, bytes): (T, Vec<u8>) = match &t.data {
        TensorData::F32(v) => (T::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::F64(v) => (T::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I64(v) => (T::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I32(v) => (T::I32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::Bool(v) => (T::Bool, v.iter().map(|&x| u8::from(x)).collect()),
        TensorData::U8(v) => (T::U8, v.as_ref().clone()),
        TensorData::I8(v) => (T::I8, v.iter().map(|&x| x as u8).collect()),
        TensorData::F16(v) => (T::F16, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::Bf16(v) => (T::Bf16, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    w.raw(key, dt, &t.shape, bytes);
}

/// An f32 tensor.
pub fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::new(shape.to_vec(), v.to_vec()).expect("shape")
}

/// An i64 tensor.
pub fn i64s(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::new(shape.to_vec(), v.to_vec()).expect("shape")
}

/// Asserts two f32 tensors agree in shape and within `tol` elementwise.
pub fn assert_close(got: &Tensor, want: &Tensor, tol: f32) {
    assert_eq!(got.shape, want.shape, "shape");
    let (g, w) = (
        got.as_slice::<f32>().expect("f32"),
        want.as_slice::<f32>().expect("f32"),
    );
    for (i, (a, b)) in g.iter().zip(w).enumerate() {
        assert!(
            (a - b).abs() <= tol || (a.is_nan() && b.is_nan()),
            "element {i}: {a} vs {b}"
        );
    }
}
