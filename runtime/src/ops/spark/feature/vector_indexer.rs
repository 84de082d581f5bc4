//! `spark.vector_indexer`: Spark ML's `VectorIndexerModel.transform`: the categorical
//! features of a vector replaced by their category index, the others passed through.
//!
//! Ports: `X` (a vector of width `n`, Spark's `numFeatures`) -> `Y` (a vector of width `n`).
//! Attributes: `features` (i64s, strictly increasing: the categorical feature positions, the
//! keys of `categoryMaps`), `categories` (a list with one f64s per categorical feature: the
//! feature's values in index order, so `categories[k][j]` is the value Spark maps to `j`),
//! `handle_invalid` (`error` or `keep`; `skip` drops rows and is refused by the exporter).
//!
//! Spark's `transformFunc`, to the letter:
//! - the lookup is a Scala `Map[Double, Int]`, whose boxed keys compare with `==`: `-0.0`
//!   finds `0.0`, and `NaN` finds nothing, not even a `NaN` category (Spark fits one when the
//!   training data hold NaN; it still counts in the map's size);
//! - a value not found is an error under `error` and becomes `categories.len()` under `keep`;
//! - values of continuous features, `NaN` included, pass through unchanged.
//!
//! One thing depends on storage: a *sparse* vector's zeros are never looked up (Spark relies on
//! `0.0` mapping to index `0`), while a dense vector's are. When `0.0` is a category (it is then
//! index 0, which `build` checks) the two agree; when it is not, a zero is invalid if stored
//! densely and stays `0` if sparse. keel cannot know the storage, so such a zero is refused
//! ([`Error::BadValue`]) rather than guessed.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, gather};
use keel_bundle::Attr;

#[derive(Debug)]
struct Feature {
    /// Position in the vector.
    pos: usize,
    /// (value, index), sorted by value (NaN categories left out: never found; no `-0.0`),
    /// for a binary search.
    map: Vec<(f64, f64)>,
    /// Whether `0.0` is a category (always index 0).
    zero_known: bool,
    /// The index `keep` gives an unknown value: the number of categories.
    unknown: f64,
}

#[derive(Debug)]
struct VectorIndexer {
    names: Vec<String>,
    features: Vec<Feature>,
    keep: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let positions = ctx.i64s("features")?;
    let cats = ctx.list("categories")?;
    if positions.len() != cats.len() {
        return Err(ctx.err(format!(
            "`features` has {} entries, `categories` {}",
            positions.len(),
            cats.len()
        )));
    }
    let keep = match ctx.str("handle_invalid")? {
        "error" => false,
        "keep" => true,
        other => {
            return Err(ctx.err(format!(
                "unknown handle_invalid `{other}` (expected `error` or `keep`)"
            )));
        }
    };
    let mut features = Vec::with_capacity(positions.len());
    let mut last: Option<usize> = None;
    for (k, (&p, c)) in positions.iter().zip(cats).enumerate() {
        let pos = usize::try_from(p)
            .ok()
            .filter(|&p| p < n && last.is_none_or(|l| p > l))
            .ok_or_else(|| {
                ctx.err(format!(
                    "`features[{k}]` = {p} is not increasing within the {n} features"
                ))
            })?;
        last = Some(pos);
        let values = match c {
            Attr::F64s(_) | Attr::I64s(_) | Attr::Tensor(_) => ctx.attr_f64s("categories", c)?,
            other => {
                return Err(ctx.err(format!(
                    "`categories[{k}]` should be f64s, found {}",
                    other.kind()
                )));
            }
        };
        if values.is_empty() {
            return Err(ctx.err(format!("`categories[{k}]` is empty")));
        }
        // Scala's `==` on the boxed keys: -0.0 is 0.0, and a NaN key is never found.
        let mut map: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(j, &v)| (if v == 0.0 { 0.0 } else { v }, j as f64))
            .collect();
        map.sort_by(|a, b| a.0.total_cmp(&b.0));
        if map.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(ctx.err(format!("`categories[{k}]` repeats a value")));
        }
        let zero = values.iter().position(|&v| v == 0.0);
        if zero.is_some_and(|j| j != 0) {
            return Err(ctx.err(format!(
                "`categories[{k}]` maps 0.0 to index {}; Spark keeps a sparse zero at 0",
                zero.unwrap_or(0)
            )));
        }
        features.push(Feature {
            pos,
            unknown: values.len() as f64,
            map,
            zero_known: zero.is_some(),
        });
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names.clone())?],
        kernel: Box::new(VectorIndexer {
            names,
            features,
            keep,
        }),
    })
}

impl Kernel for VectorIndexer {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        let cols = m.cols.max(1);
        for (row, vals) in m.data.chunks_exact_mut(cols).enumerate() {
            for f in &self.features {
                let Some(x) = vals.get_mut(f.pos) else {
                    continue;
                };
                let column = || {
                    self.names
                        .get(f.pos)
                        .cloned()
                        .unwrap_or_else(|| format!("x{}", f.pos))
                };
                if *x == 0.0 && !f.zero_known {
                    return Err(Error::BadValue {
                        column: column(),
                        row,
                        message: "0 is not a category of this feature: Spark's VectorIndexer \
                                  keeps it as 0 in a sparse vector and treats it as invalid in \
                                  a dense one, so keel refuses it"
                            .into(),
                    });
                }
                let key = if *x == 0.0 { 0.0 } else { *x };
                match f.map.binary_search_by(|(v, _)| v.total_cmp(&key)) {
                    Ok(i) => *x = f.map[i].1,
                    Err(_) if self.keep => *x = f.unknown,
                    Err(_) => {
                        return Err(Error::UnknownCategory {
                            column: column(),
                            row,
                            value: format!("{x:?}"),
                            node: String::new(),
                        });
                    }
                }
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, plan, rows, run, vec_field};
    use keel_bundle::Attr;

    fn index(mode: &str, a: &[f64], b: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "spark.vector_indexer",
            vec![
                ("features", Attr::I64s(vec![1])),
                (
                    "categories",
                    Attr::List(vec![Attr::F64s(vec![0.0, 5.0, -2.0])]),
                ),
                ("handle_invalid", Attr::Str(mode.into())),
            ],
            &[("a", f64s(a)), ("b", f64s(b))],
            &[("Y", vec![vec_field("y", 2)])],
        )?;
        Ok(rows(&out, "y"))
    }

    #[test]
    fn maps_categories_and_passes_continuous_features() {
        let r = index("error", &[f64::NAN, 3.0, 4.0], &[5.0, -0.0, -2.0]).unwrap();
        assert!(r[0][0].is_nan());
        assert_eq!(r[0][1], 1.0);
        assert_eq!(r[1], vec![3.0, 0.0]);
        assert_eq!(r[2], vec![4.0, 2.0]);
    }

    #[test]
    fn unknown_values_error_or_keep() {
        let e = index("error", &[1.0, 1.0], &[5.0, 7.0]).unwrap_err();
        assert!(
            matches!(&e, Error::UnknownCategory { column, row: 1, .. } if column == "b"),
            "{e}"
        );
        let r = index("keep", &[1.0, 1.0], &[7.0, f64::NAN]).unwrap();
        assert_eq!(r[0][1], 3.0);
        assert_eq!(r[1][1], 3.0);
    }

    #[test]
    fn a_nan_category_is_never_found_but_counts() {
        let out = run(
            "spark.vector_indexer",
            vec![
                ("features", Attr::I64s(vec![0])),
                (
                    "categories",
                    Attr::List(vec![Attr::F64s(vec![1.0, 2.0, f64::NAN])]),
                ),
                ("handle_invalid", Attr::Str("keep".into())),
            ],
            &[("a", f64s(&[2.0, f64::NAN]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap();
        assert_eq!(rows(&out, "y"), vec![vec![1.0], vec![3.0]]);
    }

    #[test]
    fn zero_outside_the_categories_is_refused_and_zero_must_be_index_0() {
        let out = run(
            "spark.vector_indexer",
            vec![
                ("features", Attr::I64s(vec![0])),
                ("categories", Attr::List(vec![Attr::F64s(vec![1.0, 2.0])])),
                ("handle_invalid", Attr::Str("keep".into())),
            ],
            &[("a", f64s(&[2.0, 0.0]))],
            &[("Y", vec![vec_field("y", 1)])],
        );
        assert!(
            matches!(out, Err(Error::BadValue { row: 1, .. })),
            "{out:?}"
        );
        let e = plan(
            "spark.vector_indexer",
            vec![
                ("features", Attr::I64s(vec![0])),
                ("categories", Attr::List(vec![Attr::F64s(vec![1.0, 0.0])])),
                ("handle_invalid", Attr::Str("keep".into())),
            ],
            &[("a", f64s(&[2.0]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("index 1"), "{e}");
    }
}
