//! `sklearn.one_hot_encoder`: scikit-learn's `OneHotEncoder.transform`, dense (a sparse output
//! is the same matrix; the fixtures compare it through `toarray()`).
//!
//! Ports: `X` (one feature per column: utf8 scalar columns for string categories, numeric or
//! boolean columns or feature blocks for numeric categories) -> `Y` (one vector).
//!
//! Attributes, per input feature `i` (see `ops/categories.rs` for `categories` and `missing`):
//! - `codes[i]` (i64s, one per raw category): the output column the category lights, or -1
//!   when it lights none (a dropped category). The exporter folds scikit-learn's infrequent
//!   grouping (`min_frequency`/`max_categories`), `drop` (`first`, `if_binary`, explicit) and
//!   the per-feature column offsets into this table, so the output order is exactly
//!   `get_feature_names_out`.
//! - `unknown[i]` (i64): what a value outside the categories does: -2 raises
//!   [`Error::UnknownCategory`] naming the feature, row and value (`handle_unknown='error'`),
//!   -1 lights nothing (`'ignore'`, or `'infrequent_if_exist'` without an infrequent group),
//!   a column index lights that column (`'infrequent_if_exist'`/`'warn'`: the infrequent
//!   group, or nothing if that group is dropped: then -1).
//! - `names` (strs): the output feature names; their count is the output width.
//!
//! A missing value (null, NaN) is a category only if one was seen at fit; otherwise it is
//! unknown, as in scikit-learn. Infinities in numeric features are refused (scikit-learn's
//! `check_array(allow-nan)`).
//!
//! Score time does one lookup per cell (a short scan or an Fx hash of the string; a binary
//! search for numbers) and writes straight into the zeroed output; nothing is allocated per row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::categories::{Categories, Lookup, describe, read_all};
use crate::value::{Feature, Matrix, Value, features};

/// No output column.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unknown {
    Error,
    Col(u32),
}

#[derive(Debug)]
struct Encoded {
    cats: Categories,
    /// Output column per raw category, or `NONE`.
    codes: Vec<u32>,
    unknown: Unknown,
}

#[derive(Debug)]
struct OneHot {
    feats: Vec<Encoded>,
    names: Vec<String>,
    width: usize,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let (cats, names) = read_all(ctx)?;
    let out_names = ctx.strs("names")?.to_vec();
    let width = out_names.len();
    let w32 = u32::try_from(width).map_err(|_| ctx.err("too many output columns"))?;
    let codes = ctx.list("codes")?;
    let unknown = ctx.i64s("unknown")?;
    if codes.len() != cats.len() || unknown.len() != cats.len() {
        return Err(ctx.err(format!(
            "{} features, but `codes` has {} entries and `unknown` {}",
            cats.len(),
            codes.len(),
            unknown.len()
        )));
    }
    let column = |v: i64, what: &str| -> Result<u32, Error> {
        match u32::try_from(v) {
            Ok(c) if c < w32 => Ok(c),
            _ if v == -1 => Ok(NONE),
            _ => Err(ctx.err(format!("{what}: column {v} is outside the {width} outputs"))),
        }
    };
    let mut feats = Vec::with_capacity(cats.len());
    for (i, ((c, code), &u)) in cats.into_iter().zip(codes).zip(&unknown).enumerate() {
        let raw = match code {
            keel_bundle::Attr::I64s(v) => v.clone(),
            other => {
                return Err(ctx.err(format!(
                    "`codes[{i}]` should be i64s, found {}",
                    other.kind()
                )));
            }
        };
        if raw.len() != c.len() {
            return Err(ctx.err(format!(
                "`codes[{i}]` has {} entries for {} categories",
                raw.len(),
                c.len()
            )));
        }
        let table = raw
            .iter()
            .map(|&v| column(v, &format!("`codes[{i}]`")))
            .collect::<Result<Vec<u32>, Error>>()?;
        let unknown = if u == -2 {
            Unknown::Error
        } else {
            Unknown::Col(column(u, &format!("`unknown[{i}]`"))?)
        };
        feats.push(Encoded {
            cats: c,
            codes: table,
            unknown,
        });
    }
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", out_names)?],
        kernel: Box::new(OneHot {
            feats,
            names,
            width,
        }),
    })
}

impl Kernel for OneHot {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let fs: Vec<Feature<'_>> = features(inputs);
        if fs.len() != self.feats.len() {
            return Err(Error::Plan {
                node: String::new(),
                op: "sklearn.one_hot_encoder".into(),
                message: format!("got {} features, planned {}", fs.len(), self.feats.len()),
            });
        }
        let w = self.width;
        let mut m = Matrix::zeros(rows, w);
        for ((f, enc), name) in fs.iter().zip(&self.feats).zip(&self.names) {
            for r in 0..rows {
                let col = match enc.cats.lookup(f, r, name)? {
                    Lookup::Known(raw) => enc.codes.get(raw).copied().unwrap_or(NONE),
                    Lookup::Unknown => match enc.unknown {
                        Unknown::Col(c) => c,
                        Unknown::Error => {
                            return Err(Error::UnknownCategory {
                                column: name.clone(),
                                row: r,
                                value: describe(f, r),
                                node: String::new(),
                            });
                        }
                    },
                };
                if col != NONE
                    && let Some(cell) = m.data.get_mut(r * w + col as usize)
                {
                    *cell = 1.0;
                }
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, plan, rows, run, strs, vec_field};
    use arrow_array::ArrayRef;
    use keel_bundle::Attr;

    fn city_attrs(unknown: i64) -> Vec<(&'static str, Attr)> {
        vec![
            (
                "categories",
                Attr::List(vec![
                    Attr::Strs(vec!["berlin".into(), "paris".into()]),
                    Attr::F64s(vec![1.0, 2.0]),
                ]),
            ),
            ("missing", Attr::I64s(vec![2, -1])),
            // city: berlin dropped (-1), paris -> 0, None -> 1; visits: 1 -> 2, 2 -> 3.
            (
                "codes",
                Attr::List(vec![Attr::I64s(vec![-1, 0, 1]), Attr::I64s(vec![2, 3])]),
            ),
            ("unknown", Attr::I64s(vec![unknown, -1])),
            (
                "names",
                Attr::Strs(vec![
                    "city_paris".into(),
                    "city_None".into(),
                    "v_1".into(),
                    "v_2".into(),
                ]),
            ),
        ]
    }

    fn encode(unknown: i64, city: ArrayRef, visits: ArrayRef) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "sklearn.one_hot_encoder",
            city_attrs(unknown),
            &[("city", city), ("visits", visits)],
            &[("Y", vec![vec_field("y", 4)])],
        )?;
        Ok(rows(&out, "y"))
    }

    #[test]
    fn strings_numbers_missing_drop_and_ignore() {
        let r = encode(
            -1,
            strs(&[Some("paris"), Some("berlin"), None, Some("tokyo")]),
            f64s(&[1.0, 2.0, 7.0, f64::NAN]),
        )
        .unwrap();
        assert_eq!(
            r,
            vec![
                vec![1.0, 0.0, 1.0, 0.0],
                vec![0.0, 0.0, 0.0, 1.0],
                vec![0.0, 1.0, 0.0, 0.0],
                vec![0.0, 0.0, 0.0, 0.0],
            ]
        );
    }

    #[test]
    fn unknown_category_names_column_row_and_value() {
        let e = encode(-2, strs(&[Some("paris"), Some("tokyo")]), f64s(&[1.0, 1.0])).unwrap_err();
        match e {
            Error::UnknownCategory {
                column,
                row,
                value,
                node,
            } => {
                assert_eq!(
                    (column.as_str(), row, value.as_str(), node.as_str()),
                    ("city", 1, "tokyo", "stage")
                );
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn infinity_in_a_numeric_feature_is_refused() {
        let e = encode(-1, strs(&[Some("paris")]), f64s(&[f64::INFINITY])).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { ref column, row: 0, .. } if column == "visits"),
            "{e}"
        );
    }

    #[test]
    fn string_categories_on_a_numeric_column_are_refused_at_load() {
        let e = plan(
            "sklearn.one_hot_encoder",
            city_attrs(-1),
            &[("city", f64s(&[1.0])), ("visits", f64s(&[1.0]))],
            &[("Y", vec![vec_field("y", 4)])],
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Plan { .. }) && e.to_string().contains("fitted on strings"),
            "{e}"
        );
    }

    #[test]
    fn many_categories_use_the_hash_index() {
        let cats: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        let out = run(
            "sklearn.one_hot_encoder",
            vec![
                ("categories", Attr::List(vec![Attr::Strs(cats.clone())])),
                ("missing", Attr::I64s(vec![-1])),
                ("codes", Attr::List(vec![Attr::I64s((0..40).collect())])),
                ("unknown", Attr::I64s(vec![-1])),
                ("names", Attr::Strs(cats)),
            ],
            &[("s", strs(&[Some("c37"), Some("c"), None]))],
            &[("Y", vec![vec_field("y", 40)])],
        )
        .unwrap();
        let r = rows(&out, "y");
        assert_eq!(r[0].iter().position(|&v| v == 1.0), Some(37));
        assert!(r[1].iter().chain(&r[2]).all(|&v| v == 0.0));
    }

    /// scikit-learn learned `categories_ = ['a', 'b', None, nan]`; the bundle says a null is
    /// `None` (`missing` 2, `unmatched` 3) or `NaN` (`missing` 3, `unmatched` 2): the null lights
    /// that category's column and the other column stays reachable by no value.
    #[test]
    fn a_null_lights_the_missing_category_the_bundle_names() {
        for (missing, unmatched, hot) in [(2, 3, 2usize), (3, 2, 3)] {
            let out = run(
                "sklearn.one_hot_encoder",
                vec![
                    (
                        "categories",
                        Attr::List(vec![Attr::Strs(vec!["a".into(), "b".into()])]),
                    ),
                    ("missing", Attr::I64s(vec![missing])),
                    ("unmatched", Attr::I64s(vec![unmatched])),
                    ("codes", Attr::List(vec![Attr::I64s(vec![0, 1, 2, 3])])),
                    ("unknown", Attr::I64s(vec![-1])),
                    (
                        "names",
                        Attr::Strs(vec![
                            "c_a".into(),
                            "c_b".into(),
                            "c_None".into(),
                            "c_nan".into(),
                        ]),
                    ),
                ],
                &[("c", strs(&[Some("b"), None, Some("z")]))],
                &[("Y", vec![vec_field("y", 4)])],
            )
            .unwrap();
            let r = rows(&out, "y");
            let mut want = vec![0.0; 4];
            want[hot] = 1.0;
            assert_eq!(r, vec![vec![0.0, 1.0, 0.0, 0.0], want, vec![0.0; 4]]);
        }
    }

    #[test]
    fn unmatched_equal_to_missing_is_refused_at_load() {
        let e = plan(
            "sklearn.one_hot_encoder",
            vec![
                ("categories", Attr::List(vec![Attr::Strs(vec!["a".into()])])),
                ("missing", Attr::I64s(vec![1])),
                ("unmatched", Attr::I64s(vec![1])),
                ("codes", Attr::List(vec![Attr::I64s(vec![0, 1, 2])])),
                ("unknown", Attr::I64s(vec![-1])),
                (
                    "names",
                    Attr::Strs(vec!["x".into(), "y".into(), "z".into()]),
                ),
            ],
            &[("c", strs(&[Some("a")]))],
            &[("Y", vec![vec_field("y", 3)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("unmatched"), "{e}");
    }
}
