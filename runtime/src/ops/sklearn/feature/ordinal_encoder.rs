//! `sklearn.ordinal_encoder`: scikit-learn's `OrdinalEncoder.transform`.
//!
//! Ports: `X` (one feature per column, as for `sklearn.one_hot_encoder`) -> `Y` (one vector,
//! one code per feature).
//!
//! Attributes, per input feature `i` (see `ops/categories.rs` for `categories` and `missing`):
//! - `codes[i]` (f64s, one per raw category): the code written for the category. The exporter
//!   folds in scikit-learn's infrequent grouping (every infrequent category gets the group's
//!   code), `encoded_missing_value` (the code of a `NaN` category; a `None` category is an
//!   ordinary category in scikit-learn and keeps its index) and the cast to `dtype`.
//! - `unknown_value` (f64, optional): the code for values outside the categories
//!   (`handle_unknown='use_encoded_value'`; may be NaN). Absent means
//!   `handle_unknown='error'`: an unknown value raises [`Error::UnknownCategory`] naming the
//!   feature, row and value.
//!
//! A missing value (null, NaN) is a category only if one was seen at fit, otherwise unknown.
//! Infinities in numeric features are refused, as `check_array(allow-nan)` does.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::categories::{Categories, Lookup, describe, read_all};
use crate::value::{Feature, Matrix, Value, features};

#[derive(Debug)]
struct Ordinal {
    feats: Vec<(Categories, Vec<f64>)>,
    unknown: Option<f64>,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let (cats, names) = read_all(ctx)?;
    let codes = ctx.list("codes")?;
    if codes.len() != cats.len() {
        return Err(ctx.err(format!(
            "{} features, but `codes` has {} entries",
            cats.len(),
            codes.len()
        )));
    }
    let mut feats = Vec::with_capacity(cats.len());
    for (i, (c, code)) in cats.into_iter().zip(codes).enumerate() {
        let table = ctx.attr_f64s("codes", code)?;
        if table.len() != c.len() {
            return Err(ctx.err(format!(
                "`codes[{i}]` has {} entries for {} categories",
                table.len(),
                c.len()
            )));
        }
        feats.push((c, table));
    }
    let unknown = match ctx.opt_attr("unknown_value") {
        None => None,
        Some(_) => Some(ctx.f64("unknown_value")?),
    };
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names.clone())?],
        kernel: Box::new(Ordinal {
            feats,
            unknown,
            names,
        }),
    })
}

impl Kernel for Ordinal {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let fs: Vec<Feature<'_>> = features(inputs);
        let n = self.feats.len();
        if fs.len() != n {
            return Err(Error::Plan {
                node: String::new(),
                op: "sklearn.ordinal_encoder".into(),
                message: format!("got {} features, planned {n}", fs.len()),
            });
        }
        let mut m = Matrix::zeros(rows, n);
        for (j, ((f, (cats, codes)), name)) in
            fs.iter().zip(&self.feats).zip(&self.names).enumerate()
        {
            for r in 0..rows {
                let v = match cats.lookup(f, r, name)? {
                    Lookup::Known(raw) => codes.get(raw).copied().unwrap_or(f64::NAN),
                    Lookup::Unknown => match self.unknown {
                        Some(u) => u,
                        None => {
                            return Err(Error::UnknownCategory {
                                column: name.clone(),
                                row: r,
                                value: describe(f, r),
                                node: String::new(),
                            });
                        }
                    },
                };
                m.data[r * n + j] = v;
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{rows, run, strs, vec_field};
    use keel_bundle::Attr;

    fn encode(unknown: Option<f64>, city: &[Option<&str>]) -> Result<Vec<f64>, Error> {
        let mut attrs = vec![
            (
                "categories",
                Attr::List(vec![Attr::Strs(vec!["a".into(), "b".into()])]),
            ),
            ("missing", Attr::I64s(vec![2])),
            ("codes", Attr::List(vec![Attr::F64s(vec![0.0, 1.0, -2.0])])),
        ];
        if let Some(u) = unknown {
            attrs.push(("unknown_value", Attr::F64(u)));
        }
        let out = run(
            "sklearn.ordinal_encoder",
            attrs,
            &[("city", strs(city))],
            &[("Y", vec![vec_field("y", 1)])],
        )?;
        Ok(rows(&out, "y").concat())
    }

    #[test]
    fn codes_missing_and_unknown_value() {
        let r = encode(Some(-1.0), &[Some("b"), None, Some("zz"), Some("a")]).unwrap();
        assert_eq!(r, vec![1.0, -2.0, -1.0, 0.0]);
        let r = encode(Some(f64::NAN), &[Some("zz")]).unwrap();
        assert!(r[0].is_nan());
    }

    #[test]
    fn unknown_with_error_names_column_and_row() {
        let e = encode(None, &[Some("a"), Some("a"), Some("q")]).unwrap_err();
        assert!(
            matches!(e, Error::UnknownCategory { ref column, row: 2, ref value, .. } if column == "city" && value == "q"),
            "{e}"
        );
    }
}
