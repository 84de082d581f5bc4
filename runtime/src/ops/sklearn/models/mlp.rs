//! `sklearn.mlp`: scikit-learn's `MLPClassifier` and `MLPRegressor`, scored exactly as their
//! `_forward_pass_fast`: for each layer `Z = A @ W + b` (the product first, then the bias
//! added), the hidden activation in place on every layer but the last, then the output
//! activation on the last.
//!
//! Ports: `X` (numeric) -> regression: `prediction` (f64 scalar for one output, as
//! `MLPRegressor.predict` ravels an `(n, 1)` result; a vector otherwise); classification:
//! `label`, `probability` (see `classes.rs`; there is no `decision`, as MLPClassifier has no
//! `decision_function`).
//!
//! Attributes: `coefs` (list of 2-D tensors `[n_in, n_out]`, scikit-learn's `coefs_`),
//! `intercepts` (list of float arrays, `intercepts_`), `activation` (`identity`, `logistic`,
//! `tanh`, `relu`: the hidden activation), `out_activation` (`identity`, `logistic`,
//! `softmax`: `out_activation_`), `task` (`regression` or `classification`) and, for
//! classification, `classes` (and `classes_dtype`).
//!
//! Classification follows `MLPClassifier.predict` (`LabelBinarizer.inverse_transform`): a
//! binary model has one logistic output `p` and predicts `classes[1]` when `p > 0.5` (the
//! binarizer's threshold, halfway between its labels 0 and 1), with probabilities `[1 - p,
//! p]`; a multiclass model has one softmax output per class and predicts the first class with
//! the largest probability (numpy's `argmax` on the probabilities, not on the logits).
//! Multilabel models are refused by the exporter and cannot be expressed here.
//!
//! Arithmetic: the activations are scipy's `expit` (`1 / (1 + exp(-x))`), `tanh`,
//! `max(x, 0)` and scikit-learn's `softmax` (subtract the row max, exponentiate, divide by the
//! sum). The products use ndarray (`matrixmultiply`) while numpy uses BLAS: the summation order
//! differs, so fixtures compare outputs under `F64_ACCUMULATED` and probabilities under
//! `PROBABILITY`. scikit-learn rejects NaN and infinities in X, and so does this op.
//!
//! The kernel is deliberately the plain layer loop (one matrix product per layer, activation
//! in place) so that an accelerated backend can claim this op and replace exactly that loop.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::sklearn::models::classes::{Classes, Ports, argmax_rows, expit, softmax_rows};
use crate::value::{Matrix, Value, check_finite, gather};
use arrow_array::Float64Array;
use keel_bundle::{Attr, DType};
use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
use std::sync::Arc;

/// A hidden or output activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    Identity,
    Logistic,
    Tanh,
    Relu,
    Softmax,
}

impl Activation {
    fn parse(ctx: &BuildCtx<'_>, key: &str, allowed: &[&str]) -> Result<Activation, Error> {
        let s = ctx.str(key)?;
        if !allowed.contains(&s) {
            return Err(ctx.err(format!(
                "attribute `{key}` is `{s}`, expected one of {allowed:?}"
            )));
        }
        Ok(match s {
            "identity" => Activation::Identity,
            "logistic" => Activation::Logistic,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            _ => Activation::Softmax,
        })
    }

    /// Applies the activation in place, as scikit-learn's `inplace_*` functions.
    fn apply(self, z: &mut Matrix) {
        match self {
            Activation::Identity => {}
            Activation::Logistic => z.data.iter_mut().for_each(|v| *v = expit(*v)),
            Activation::Tanh => z.data.iter_mut().for_each(|v| *v = v.tanh()),
            // `np.maximum(X, 0)`: keeps a NaN (which only an overflow can produce).
            Activation::Relu => z.data.iter_mut().for_each(|v| {
                if *v < 0.0 {
                    *v = 0.0;
                }
            }),
            Activation::Softmax => softmax_rows(z),
        }
    }
}

#[derive(Debug)]
struct Layer {
    /// `[n_in, n_out]`.
    w: Array2<f64>,
    /// `n_out`.
    b: Vec<f64>,
}

#[derive(Debug)]
enum Task {
    Regression,
    Classification { classes: Classes, ports: Ports },
}

#[derive(Debug)]
struct Mlp {
    layers: Vec<Layer>,
    hidden: Activation,
    output: Activation,
    names: Vec<String>,
    task: Task,
}

/// Reads a weight matrix from one element of the `coefs` list: a 2-D tensor, or an inline
/// float list whose row count is the previous layer's width.
fn weights(ctx: &BuildCtx<'_>, i: usize, a: &Attr, rows_in: usize) -> Result<Array2<f64>, Error> {
    let key = format!("coefs[{i}]");
    let (shape, data) = match a {
        Attr::Tensor(t) => {
            let v = ctx.bundle.tensor(t)?;
            (v.shape.to_vec(), v.to_f64_any()?)
        }
        other => {
            let d = ctx.attr_f64s(&key, other)?;
            if rows_in == 0 || d.len() % rows_in != 0 {
                return Err(ctx.err(format!(
                    "`{key}` has {} values, not a multiple of the {rows_in} inputs of the layer",
                    d.len()
                )));
            }
            (vec![rows_in, d.len() / rows_in], d)
        }
    };
    let [r, c] = shape.as_slice() else {
        return Err(ctx.err(format!("`{key}` should be 2-D, has shape {shape:?}")));
    };
    if *r != rows_in {
        return Err(ctx.err(format!(
            "`{key}` has {r} rows, but the layer receives {rows_in} values (coef width does not match the inputs)"
        )));
    }
    if *c == 0 {
        return Err(ctx.err(format!("`{key}` has no columns")));
    }
    Array2::from_shape_vec((*r, *c), data).map_err(|e| ctx.err(format!("`{key}`: {e}")))
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let coefs = ctx.list("coefs")?;
    let intercepts = ctx.list("intercepts")?;
    if coefs.is_empty() {
        return Err(ctx.err("attribute `coefs` is empty"));
    }
    if coefs.len() != intercepts.len() {
        return Err(ctx.err(format!(
            "{} weight matrices but {} intercept vectors",
            coefs.len(),
            intercepts.len()
        )));
    }
    let mut layers = Vec::with_capacity(coefs.len());
    let mut width = names.len();
    for (i, (c, b)) in coefs.iter().zip(intercepts).enumerate() {
        let w = weights(ctx, i, c, width)?;
        let b = ctx.attr_f64s(&format!("intercepts[{i}]"), b)?;
        if b.len() != w.ncols() {
            return Err(ctx.err(format!(
                "`intercepts[{i}]` has {} values for a layer of {} units",
                b.len(),
                w.ncols()
            )));
        }
        width = w.ncols();
        layers.push(Layer { w, b });
    }
    let hidden = Activation::parse(ctx, "activation", &["identity", "logistic", "tanh", "relu"])?;
    let output = Activation::parse(ctx, "out_activation", &["identity", "logistic", "softmax"])?;
    let (task, outputs) = match ctx.str("task")? {
        "regression" => {
            let out = if width == 1 {
                ctx.scalar_out("prediction", DType::F64)?
            } else {
                ctx.vector_out(
                    "prediction",
                    (0..width).map(|i| format!("prediction[{i}]")).collect(),
                )?
            };
            (Task::Regression, vec![out])
        }
        "classification" => {
            let classes = Classes::from_ctx(ctx)?;
            let ok = match classes.len() {
                2 => width == 1 && output == Activation::Logistic,
                k => k > 2 && width == k && output == Activation::Softmax,
            };
            if !ok {
                return Err(ctx.err(format!(
                    "{} classes need one logistic output (binary) or one softmax output per class; \
                     the network has {width} outputs with `{:?}`",
                    classes.len(),
                    output
                )));
            }
            let (outputs, ports) = classes.outputs(ctx, width)?;
            if ports.decision {
                return Err(
                    ctx.err("MLPClassifier has no decision function; `decision` cannot be bound")
                );
            }
            (Task::Classification { classes, ports }, outputs)
        }
        other => return Err(ctx.err(format!("unknown task `{other}`"))),
    };
    Ok(Built {
        kernel: Box::new(Mlp {
            layers,
            hidden,
            output,
            names,
            task,
        }),
        outputs,
    })
}

impl Mlp {
    /// `_forward_pass_fast`: the output layer's activations, `[rows, n_outputs]`.
    fn forward(&self, x: &Matrix) -> Matrix {
        let last = self.layers.len().saturating_sub(1);
        let mut a: Option<Matrix> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            let input = a.as_ref().unwrap_or(x);
            let n_out = layer.b.len();
            // Z starts as the bias broadcast over the rows, then Z = 1 * (A @ W) + 1 * Z:
            // multiplying by 1 is exact, so this is numpy's `A @ W` followed by `+= b`.
            let mut z = Matrix::from_vec(
                input.rows,
                n_out,
                layer
                    .b
                    .iter()
                    .copied()
                    .cycle()
                    .take(input.rows * n_out)
                    .collect(),
            );
            general_mat_mul(1.0, &input.view(), &layer.w, 1.0, &mut z.view_mut());
            if i != last {
                self.hidden.apply(&mut z);
            }
            a = Some(z);
        }
        let mut out = a.unwrap_or_else(|| x.clone());
        self.output.apply(&mut out);
        out
    }
}

impl Kernel for Mlp {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        check_finite(&x, &self.names, false)?;
        // The planner guarantees the width; checked anyway so that a mismatch can never reach
        // the matrix product (which would panic).
        if x.cols != self.layers.first().map_or(0, |l| l.w.nrows()) {
            return Err(Error::Plan {
                node: String::new(),
                op: "sklearn.mlp".into(),
                message: format!(
                    "received {} features, expected {}",
                    x.cols,
                    self.names.len()
                ),
            });
        }
        let y = self.forward(&x);
        match &self.task {
            Task::Regression => Ok(vec![if y.cols == 1 {
                Value::Array(Arc::new(Float64Array::from(y.data)))
            } else {
                Value::Matrix(y)
            }]),
            Task::Classification { classes, ports } => {
                let binary = y.cols == 1;
                let mut out = Vec::with_capacity(2);
                if ports.label {
                    let idx: Vec<usize> = if binary {
                        y.data.iter().map(|&p| usize::from(p > 0.5)).collect()
                    } else {
                        argmax_rows(&y)
                    };
                    out.push(Value::Array(classes.labels(&idx)));
                }
                if ports.probability {
                    out.push(Value::Matrix(if binary {
                        let data = y.data.iter().flat_map(|&p| [1.0 - p, p]).collect();
                        Matrix::from_vec(y.rows, 2, data)
                    } else {
                        y
                    }));
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{model, node, score, tref};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use keel_bundle::{Field, TensorWriter};
    use std::collections::BTreeMap;

    /// A 2-input network with one hidden layer of 2 units and `k` outputs.
    fn net(
        activation: &str,
        out_activation: &str,
        task: Vec<(&str, Attr)>,
        k: usize,
        outs: &[(&str, &str)],
        fields: Vec<Field>,
    ) -> Result<crate::Model, Error> {
        let mut t = TensorWriter::new();
        t.f64("w0", &[2, 2], &[1.0, -1.0, 0.5, 2.0]);
        let w1: Vec<f64> = (0..2 * k).map(|i| i as f64 - 1.0).collect();
        t.f64("w1", &[2, k], &w1);
        let mut attrs: BTreeMap<String, Attr> = BTreeMap::new();
        attrs.insert("coefs".into(), Attr::List(vec![tref("w0"), tref("w1")]));
        attrs.insert(
            "intercepts".into(),
            Attr::List(vec![Attr::F64s(vec![0.1, -0.2]), Attr::F64s(vec![0.0; k])]),
        );
        attrs.insert("activation".into(), Attr::Str(activation.into()));
        attrs.insert("out_activation".into(), Attr::Str(out_activation.into()));
        for (key, v) in task {
            attrs.insert(key.into(), v);
        }
        model(
            2,
            node("sklearn.mlp", 2, outs, attrs),
            fields,
            Some(t.finish().unwrap()),
        )
    }

    fn regression(activation: &str) -> crate::Model {
        net(
            activation,
            "identity",
            vec![("task", Attr::Str("regression".into()))],
            1,
            &[("prediction", "prediction")],
            vec![Field::scalar("prediction", DType::F64, false)],
        )
        .unwrap()
    }

    #[test]
    fn hidden_activations_follow_scikit_learn() {
        // x = [1, 2]: hidden pre-activation [1 + 1 + 0.1, -1 + 4 - 0.2] = [2.1, 2.8]; with
        // x = [-1, 0]: [-0.9, 0.8]. Output weights [-1, 0] (k = 1): y = -h0.
        let rows = [vec![Some(1.0), Some(2.0)], vec![Some(-1.0), Some(0.0)]];
        type Act = fn(f64) -> f64;
        let cases: [(&str, Act); 4] = [
            ("identity", |v| v),
            ("relu", |v| if v < 0.0 { 0.0 } else { v }),
            ("tanh", f64::tanh),
            ("logistic", expit),
        ];
        for (name, f) in cases {
            let out = score(&regression(name), &rows).unwrap();
            let y = out.column(0).as_primitive::<Float64Type>();
            let want = [-f(1.0 + 1.0 + 0.1), -f(-1.0 + 0.0 + 0.1)];
            for (g, w) in y.values().iter().zip(want) {
                assert!((g - w).abs() < 1e-15, "{name}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn binary_threshold_is_strictly_above_one_half() {
        let m = net(
            "identity",
            "logistic",
            vec![
                ("task", Attr::Str("classification".into())),
                ("classes", Attr::I64s(vec![3, 7])),
            ],
            1,
            &[("label", "label"), ("probability", "probability")],
            vec![
                Field::scalar("label", DType::I64, false),
                Field::vector("probability", DType::F64, 2),
            ],
        )
        .unwrap();
        // y = -h0 = -(x0 + 0.5 x1 + 0.1): zero (p = 0.5 exactly) at x = [-0.1, 0].
        let out = score(
            &m,
            &[vec![Some(-0.1), Some(0.0)], vec![Some(-1.0), Some(0.0)]],
        )
        .unwrap();
        let labels = out.column(0).as_primitive::<Int64Type>();
        assert_eq!(labels.values().to_vec(), vec![3, 7]);
        let p = out.column(1).as_fixed_size_list();
        let v = p.values().as_primitive::<Float64Type>();
        assert_eq!(v.value(0), 0.5);
        assert_eq!(v.value(1), 0.5);
        assert_eq!(v.value(2) + v.value(3), 1.0);
    }

    #[test]
    fn softmax_network_needs_one_output_per_class() {
        let fields = vec![Field::scalar("label", DType::I64, false)];
        let task = || {
            vec![
                ("task", Attr::Str("classification".into())),
                ("classes", Attr::I64s(vec![0, 1, 2])),
            ]
        };
        let e = net(
            "relu",
            "softmax",
            task(),
            2,
            &[("label", "label")],
            fields.clone(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Plan { .. }), "{e}");
        let m = net("relu", "softmax", task(), 3, &[("label", "label")], fields).unwrap();
        // Hidden relu([2.1, 2.8]); output weights [[-1, 0, 1], [2, 3, 4]]: the last class wins.
        let out = score(&m, &[vec![Some(1.0), Some(2.0)]]).unwrap();
        assert_eq!(out.column(0).as_primitive::<Int64Type>().value(0), 2);
    }

    #[test]
    fn nan_and_infinity_name_feature_and_row() {
        let m = regression("relu");
        let e = score(
            &m,
            &[vec![Some(1.0), Some(2.0)], vec![Some(f64::NAN), Some(2.0)]],
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::Missing {
                column: "x0".into(),
                row: 1,
                node: "m".into()
            }
        );
        let e = score(&m, &[vec![Some(1.0), Some(f64::INFINITY)]]).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { ref column, row: 0, .. } if column == "x1"),
            "{e}"
        );
    }

    #[test]
    fn first_layer_width_mismatch_is_refused_at_load() {
        let mut t = TensorWriter::new();
        t.f64("w0", &[3, 1], &[1.0, 2.0, 3.0]);
        let mut attrs: BTreeMap<String, Attr> = BTreeMap::new();
        attrs.insert("coefs".into(), Attr::List(vec![tref("w0")]));
        attrs.insert("intercepts".into(), Attr::List(vec![Attr::F64s(vec![0.0])]));
        attrs.insert("activation".into(), Attr::Str("relu".into()));
        attrs.insert("out_activation".into(), Attr::Str("identity".into()));
        attrs.insert("task".into(), Attr::Str("regression".into()));
        let e = model(
            2,
            node("sklearn.mlp", 2, &[("prediction", "prediction")], attrs),
            vec![Field::scalar("prediction", DType::F64, false)],
            Some(t.finish().unwrap()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("3 rows")),
            "{e}"
        );
    }

    #[test]
    fn unknown_activation_is_refused() {
        let e = net(
            "gelu",
            "identity",
            vec![("task", Attr::Str("regression".into()))],
            1,
            &[("prediction", "prediction")],
            vec![Field::scalar("prediction", DType::F64, false)],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Plan { message, .. } if message.contains("gelu")),
            "{e}"
        );
    }
}
