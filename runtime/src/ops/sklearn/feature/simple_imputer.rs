//! `sklearn.simple_imputer`: scikit-learn's `SimpleImputer.transform` (every strategy: the
//! strategy only decides the fitted `statistics_`), with its `add_indicator` missing
//! indicator (`MissingIndicator(features="missing-only")`).
//!
//! Attributes: `keep` (i64s: the input features that are kept, in order; scikit-learn drops a
//! feature whose statistic is NaN, i.e. one that was all-missing at fit, unless
//! `keep_empty_features=True`), `fill` (one fill value per kept feature: f64s for numeric
//! input, strs for string input), `indicator` (i64s, optional: the input features that get an
//! indicator column, i.e. those that had missing values at fit), and `missing_value`
//! (optional: the `missing_values` marker when it is a number (f64, numeric input) or a string
//! (str, string input); absent means NaN for numeric input and the null for string input).
//!
//! Two modes, chosen by the input columns:
//! - **numeric**: `X` (numeric) -> `Y` (one vector: the kept features with missing cells
//!   replaced, then the indicator columns, 1.0 where the cell was missing), as scikit-learn's
//!   `np.hstack((X_imputed, X_indicator))`. With a NaN marker, NaN is what is imputed and
//!   infinities are refused (`check_array(allow-nan)`); with a numeric marker, scikit-learn
//!   refuses NaN as well, and so does this op.
//! - **string**: `X` (utf8 scalar columns, one per feature) -> `Y` (one utf8 scalar column per
//!   kept feature, so an encoder can follow) and, when there are indicator columns,
//!   `indicator` (one vector). keel has one kind of missing string (a null) where scikit-learn
//!   tells `None` from `NaN`: with `missing_values=np.nan` it imputes `NaN` and lets `None`
//!   through; with `missing_values=None` it imputes `None` and refuses `NaN` ("Input contains
//!   NaN"). The exporter knows which of the two a null stands for at each input (SPEC.md,
//!   "Missing strings") and writes what scikit-learn does with it as `null` (strs, optional, one
//!   per input feature): `impute` (fill it, and 1.0 in its indicator column), `keep` (pass the
//!   null on unchanged, 0.0 in the indicator: a `None` under `missing_values=np.nan`, which an
//!   encoder after it then sees as its `None` category) or `error` (refuse the row with
//!   [`Error::Missing`] naming the column: a `NaN` under `missing_values=None`). Absent means
//!   `impute` for every feature. With a string marker (`missing_values='?'`) the cells equal to
//!   it are imputed and flagged; scikit-learn then passes `None` on and refuses `NaN`, so the
//!   exporter writes `keep` or `error` for the null.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{ColInfo, ColType, Matrix, Value, check_finite, gather};
use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StringArray};
use keel_bundle::{Attr, DType};
use std::sync::Arc;

#[derive(Debug)]
enum Mode {
    Numeric {
        fill: Vec<f64>,
        marker: Option<f64>,
    },
    Strings {
        fill: Vec<String>,
        null: Vec<Null>,
        marker: Option<String>,
    },
}

/// What the string mode does with a null (attribute `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Null {
    Impute,
    Keep,
    Error,
}

#[derive(Debug)]
struct SimpleImputer {
    mode: Mode,
    keep: Vec<usize>,
    indicator: Vec<usize>,
    n: usize,
    names: Vec<String>,
}

fn positions(ctx: &BuildCtx<'_>, key: &str, n: usize) -> Result<Vec<usize>, Error> {
    if ctx.opt_attr(key).is_none() {
        return Ok(Vec::new());
    }
    ctx.i64s(key)?
        .into_iter()
        .map(|i| {
            usize::try_from(i).ok().filter(|&u| u < n).ok_or_else(|| {
                ctx.err(format!("`{key}` holds {i}, outside the {n} input features"))
            })
        })
        .collect()
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let cols = ctx.input("X")?;
    let all_str = !cols.is_empty()
        && cols
            .iter()
            .all(|(_, c)| c.ty == ColType::Scalar(DType::Utf8));
    let names = if all_str {
        ctx.input_names("X")?
    } else {
        ctx.numeric_input("X")?
    };
    let n = names.len();
    let keep = positions(ctx, "keep", n)?;
    let indicator = positions(ctx, "indicator", n)?;
    let ind_names: Vec<String> = indicator
        .iter()
        .map(|&j| format!("missingindicator_{}", names[j]))
        .collect();
    let (mode, outputs) = match ctx.attr("fill")? {
        Attr::Strs(fill) => {
            if !all_str {
                return Err(
                    ctx.err("`fill` holds strings, but port `X` is not made of string columns")
                );
            }
            if fill.len() != keep.len() {
                return Err(ctx.err(format!(
                    "`fill` has {} values for {} kept features",
                    fill.len(),
                    keep.len()
                )));
            }
            let y = ctx.output("Y")?;
            if y.len() != keep.len() {
                return Err(ctx.err(format!(
                    "output port `Y` must bind one column per kept feature ({}), binds {}",
                    keep.len(),
                    y.len()
                )));
            }
            // Each output column keeps its input feature's name, so a later error names `city`.
            let mut outputs: Vec<ColInfo> = keep
                .iter()
                .map(|&j| ColInfo {
                    ty: ColType::Scalar(DType::Utf8),
                    names: vec![names[j].clone()],
                })
                .collect();
            match (indicator.is_empty(), ctx.has_output("indicator")) {
                (false, true) => outputs.push(ctx.vector_out("indicator", ind_names)?),
                (true, false) => {}
                (false, false) => {
                    return Err(ctx.err(
                        "output port `indicator` must be bound (there are indicator columns)",
                    ));
                }
                (true, true) => {
                    return Err(ctx.err(
                        "output port `indicator` is bound, but there are no indicator columns",
                    ));
                }
            }
            let ports: Vec<&str> = ctx.node.outputs.iter().map(|b| b.port.as_str()).collect();
            if ports.first() != Some(&"Y") {
                return Err(ctx.err("output port `Y` must come first"));
            }
            let null = match ctx.opt_attr("null") {
                None => vec![Null::Impute; n],
                Some(_) => ctx
                    .strs("null")?
                    .iter()
                    .map(|v| match v.as_str() {
                        "impute" => Ok(Null::Impute),
                        "keep" => Ok(Null::Keep),
                        "error" => Ok(Null::Error),
                        other => Err(ctx.err(format!(
                            "`null` holds {other:?}; expected impute, keep or error"
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            if null.len() != n {
                return Err(ctx.err(format!(
                    "`null` has {} entries for {n} input features",
                    null.len()
                )));
            }
            let marker = match ctx.opt_attr("missing_value") {
                None => None,
                Some(Attr::Str(m)) => Some(m.clone()),
                Some(other) => {
                    return Err(ctx.err(format!(
                        "`missing_value` on string input should be str, found {}",
                        other.kind()
                    )));
                }
            };
            (
                Mode::Strings {
                    fill: fill.clone(),
                    null,
                    marker,
                },
                outputs,
            )
        }
        other => {
            if all_str {
                return Err(ctx.err("port `X` holds strings, so `fill` must be strs"));
            }
            let fill = ctx.attr_f64s("fill", other)?;
            if fill.len() != keep.len() {
                return Err(ctx.err(format!(
                    "`fill` has {} values for {} kept features",
                    fill.len(),
                    keep.len()
                )));
            }
            let marker = match ctx.opt_attr("missing_value") {
                None => None,
                Some(_) => Some(ctx.f64("missing_value")?).filter(|m| !m.is_nan()),
            };
            let mut out_names: Vec<String> = keep.iter().map(|&j| names[j].clone()).collect();
            out_names.extend(ind_names);
            if out_names.is_empty() {
                return Err(ctx.err("the imputer keeps no feature"));
            }
            if ctx.has_output("indicator") {
                return Err(ctx.err("numeric imputers append their indicator columns to `Y`"));
            }
            (
                Mode::Numeric { fill, marker },
                vec![ctx.vector_out("Y", out_names)?],
            )
        }
    };
    Ok(Built {
        outputs,
        kernel: Box::new(SimpleImputer {
            mode,
            keep,
            indicator,
            n,
            names,
        }),
    })
}

impl SimpleImputer {
    fn numeric(
        &self,
        inputs: &[&Value],
        rows: usize,
        fill: &[f64],
        marker: Option<f64>,
    ) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        check_finite(&x, &self.names, marker.is_none())?;
        let is_missing = |v: f64| match marker {
            None => v.is_nan(),
            Some(m) => v == m,
        };
        let k = self.keep.len();
        let width = k + self.indicator.len();
        let mut out = Matrix::zeros(rows, width);
        for (src, dst) in x
            .data
            .chunks_exact(self.n.max(1))
            .zip(out.data.chunks_exact_mut(width.max(1)))
        {
            for ((d, &j), f) in dst.iter_mut().zip(&self.keep).zip(fill) {
                let v = src[j];
                *d = if is_missing(v) { *f } else { v };
            }
            for (d, &j) in dst[k..].iter_mut().zip(&self.indicator) {
                if is_missing(src[j]) {
                    *d = 1.0;
                }
            }
        }
        Ok(vec![Value::Matrix(out)])
    }

    fn strings(
        &self,
        inputs: &[&Value],
        rows: usize,
        fill: &[String],
        null: &[Null],
        marker: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        let arrays: Vec<&ArrayRef> = inputs
            .iter()
            .map(|v| match v {
                Value::Array(a) if a.as_string_opt::<i32>().is_some() => Ok(a),
                _ => Err(Error::Plan {
                    node: String::new(),
                    op: "sklearn.simple_imputer".into(),
                    message: "expected string columns".into(),
                }),
            })
            .collect::<Result<_, _>>()?;
        // scikit-learn validates every feature before imputing any (kept or not).
        for (j, a) in arrays.iter().enumerate() {
            if null.get(j) == Some(&Null::Error)
                && a.null_count() > 0
                && let Some(row) = (0..rows).find(|&r| a.is_null(r))
            {
                return Err(Error::Missing {
                    column: self.names[j].clone(),
                    row,
                    node: String::new(),
                });
            }
        }
        let imputes = |j: usize| null.get(j) == Some(&Null::Impute);
        // scikit-learn's `_get_mask`: the marker string, or a null where the null stands for
        // the marker (`null` = impute).
        let is_missing = |j: usize, s: &StringArray, r: usize| {
            if s.is_null(r) {
                imputes(j)
            } else {
                marker.is_some_and(|m| s.value(r) == m)
            }
        };
        let any_missing = |j: usize, s: &StringArray| {
            if marker.is_none() {
                s.null_count() > 0 && imputes(j)
            } else {
                (0..rows).any(|r| is_missing(j, s, r))
            }
        };
        let mut out = Vec::with_capacity(self.keep.len() + 1);
        for (&j, f) in self.keep.iter().zip(fill) {
            let a = arrays[j];
            let s = a.as_string::<i32>();
            if !any_missing(j, s) {
                // Nothing to impute: share the input column.
                out.push(Value::Array(a.clone()));
                continue;
            }
            let mut b = StringBuilder::with_capacity(rows, s.value_data().len() + f.len() * rows);
            for r in 0..rows {
                if is_missing(j, s, r) {
                    b.append_value(f);
                } else if s.is_null(r) {
                    b.append_null();
                } else {
                    b.append_value(s.value(r));
                }
            }
            out.push(Value::Array(Arc::new(b.finish())));
        }
        if !self.indicator.is_empty() {
            let w = self.indicator.len();
            let mut m = Matrix::zeros(rows, w);
            for (c, &j) in self.indicator.iter().enumerate() {
                let s = arrays[j].as_string::<i32>();
                if any_missing(j, s) {
                    for r in 0..rows {
                        if is_missing(j, s, r) {
                            m.data[r * w + c] = 1.0;
                        }
                    }
                }
            }
            out.push(Value::Matrix(m));
        }
        Ok(out)
    }
}

impl Kernel for SimpleImputer {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        match &self.mode {
            Mode::Numeric { fill, marker } => self.numeric(inputs, rows, fill, *marker),
            Mode::Strings { fill, null, marker } => {
                self.strings(inputs, rows, fill, null, marker.as_deref())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, plan, rows, run, strs, texts, vec_field};
    use keel_bundle::{Attr, DType, Field};

    #[test]
    fn numeric_drops_empty_features_and_appends_indicators() {
        let out = run(
            "sklearn.simple_imputer",
            vec![
                ("keep", Attr::I64s(vec![0, 2])),
                ("fill", Attr::F64s(vec![10.0, 30.0])),
                ("indicator", Attr::I64s(vec![0, 1])),
            ],
            &[
                ("a", f64s(&[1.0, f64::NAN])),
                ("b", f64s(&[f64::NAN, f64::NAN])),
                ("c", f64s(&[f64::NAN, 3.0])),
            ],
            &[("Y", vec![vec_field("y", 4)])],
        )
        .unwrap();
        assert_eq!(
            rows(&out, "y"),
            vec![vec![1.0, 30.0, 0.0, 1.0], vec![10.0, 3.0, 1.0, 1.0]]
        );
    }

    #[test]
    fn numeric_marker_refuses_nan() {
        let attrs = || {
            vec![
                ("keep", Attr::I64s(vec![0])),
                ("fill", Attr::F64s(vec![5.0])),
                ("missing_value", Attr::F64(-1.0)),
            ]
        };
        let out = run(
            "sklearn.simple_imputer",
            attrs(),
            &[("a", f64s(&[-1.0, 2.0]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap();
        assert_eq!(rows(&out, "y"), vec![vec![5.0], vec![2.0]]);
        let e = run(
            "sklearn.simple_imputer",
            attrs(),
            &[("a", f64s(&[2.0, f64::NAN]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Missing { ref column, row: 1, .. } if column == "a"),
            "{e}"
        );
    }

    #[test]
    fn strings_fill_nulls_and_write_indicators() {
        let out = run(
            "sklearn.simple_imputer",
            vec![
                ("keep", Attr::I64s(vec![0, 1])),
                ("fill", Attr::Strs(vec!["paris".into(), "none".into()])),
                ("indicator", Attr::I64s(vec![0])),
            ],
            &[
                ("city", strs(&[Some("rome"), None])),
                ("room", strs(&[Some("a"), Some("b")])),
            ],
            &[
                (
                    "Y",
                    vec![
                        Field::scalar("c1", DType::Utf8, false),
                        Field::scalar("c2", DType::Utf8, false),
                    ],
                ),
                ("indicator", vec![vec_field("ind", 1)]),
            ],
        )
        .unwrap();
        assert_eq!(
            texts(&out, "c1"),
            vec![Some("rome".into()), Some("paris".into())]
        );
        assert_eq!(texts(&out, "c2"), vec![Some("a".into()), Some("b".into())]);
        assert_eq!(rows(&out, "ind"), vec![vec![0.0], vec![1.0]]);
    }

    #[test]
    fn string_fill_on_numbers_is_a_plan_error() {
        let e = plan(
            "sklearn.simple_imputer",
            vec![
                ("keep", Attr::I64s(vec![0])),
                ("fill", Attr::Strs(vec!["x".into()])),
            ],
            &[("a", f64s(&[1.0]))],
            &[("Y", vec![Field::scalar("c", DType::Utf8, false)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("not made of string columns"), "{e}");
    }

    /// `SimpleImputer(missing_values=np.nan)` lets `None` through: a null that stands for `None`
    /// is kept (and not flagged), one that stands for `NaN` is filled; under
    /// `missing_values=None` a `NaN` is refused, naming the column.
    #[test]
    fn strings_null_keep_and_error_follow_what_the_null_stands_for() {
        let attrs = |null: [&str; 2]| {
            vec![
                ("keep", Attr::I64s(vec![0, 1])),
                ("fill", Attr::Strs(vec!["paris".into(), "a".into()])),
                ("indicator", Attr::I64s(vec![0, 1])),
                (
                    "null",
                    Attr::Strs(null.iter().map(|s| s.to_string()).collect()),
                ),
            ]
        };
        let ports = || {
            vec![
                (
                    "Y",
                    vec![
                        Field::scalar("c1", DType::Utf8, true),
                        Field::scalar("c2", DType::Utf8, true),
                    ],
                ),
                ("indicator", vec![vec_field("ind", 2)]),
            ]
        };
        let inputs = || {
            [
                ("city", strs(&[Some("rome"), None])),
                ("room", strs(&[None, Some("b")])),
            ]
        };
        let out = run(
            "sklearn.simple_imputer",
            attrs(["keep", "impute"]),
            &inputs(),
            &ports(),
        )
        .unwrap();
        assert_eq!(texts(&out, "c1"), vec![Some("rome".into()), None]);
        assert_eq!(texts(&out, "c2"), vec![Some("a".into()), Some("b".into())]);
        assert_eq!(rows(&out, "ind"), vec![vec![0.0, 1.0], vec![0.0, 0.0]]);
        let e = run(
            "sklearn.simple_imputer",
            attrs(["impute", "error"]),
            &inputs(),
            &ports(),
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Missing { ref column, row: 0, .. } if column == "room"),
            "{e}"
        );
        let e = run(
            "sklearn.simple_imputer",
            attrs(["impute", "maybe"]),
            &inputs(),
            &ports(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("expected impute, keep or error"),
            "{e}"
        );
    }

    /// `SimpleImputer(missing_values='?')`: `?` is imputed and flagged, a null (`None`) kept.
    #[test]
    fn strings_marker_is_imputed_and_a_kept_null_passes() {
        let out = run(
            "sklearn.simple_imputer",
            vec![
                ("keep", Attr::I64s(vec![0])),
                ("fill", Attr::Strs(vec!["a".into()])),
                ("indicator", Attr::I64s(vec![0])),
                ("missing_value", Attr::Str("?".into())),
                ("null", Attr::Strs(vec!["keep".into()])),
            ],
            &[("c", strs(&[Some("?"), None, Some("b")]))],
            &[
                ("Y", vec![Field::scalar("c1", DType::Utf8, true)]),
                ("indicator", vec![vec_field("ind", 1)]),
            ],
        )
        .unwrap();
        assert_eq!(
            texts(&out, "c1"),
            vec![Some("a".into()), None, Some("b".into())]
        );
        assert_eq!(rows(&out, "ind"), vec![vec![1.0], vec![0.0], vec![0.0]]);
    }
}
