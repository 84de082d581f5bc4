//! Bad input frames against real bundles (`fixtures/sklearn/iris_logreg`: StandardScaler +
//! multinomial LogisticRegression; `fixtures/sklearn/diabetes_ct_linreg`: ColumnTransformer +
//! LinearRegression). Each mistake must give its typed [`Error`] naming the column (and row,
//! for values), never a panic and never a silent wrong answer; harmless variations (integer
//! columns, column order, extra columns when asked to ignore them, batch size, sliced batches)
//! must give the same answer, and that answer is scikit-learn's (the fixture's `io.json`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Int64Array, RecordBatch, StringArray, UInt8Array, UInt16Array,
    UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field};
use keel_runtime::tolerance::Tolerance;
use keel_runtime::{Error, ExtraColumns, Model, Options};
use serde_json::Value as J;
use std::path::PathBuf;
use std::sync::Arc;

const IRIS: &str = "iris_logreg";
const DIABETES: &str = "diabetes_ct_linreg";

fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sklearn")
        .join(case)
}

fn model(case: &str) -> Model {
    let bytes = std::fs::read(fixture(case).join("model.keel")).unwrap();
    Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{case}: {e}"))
}

fn io(case: &str) -> J {
    serde_json::from_slice(&std::fs::read(fixture(case).join("io.json")).unwrap()).unwrap()
}

/// The fixture's input columns as f64 vectors, in the bundle's schema order.
fn inputs(case: &str, m: &Model) -> Vec<(String, Vec<f64>)> {
    let io = io(case);
    m.manifest()
        .inputs
        .iter()
        .map(|f| {
            let vals = io["inputs"][&f.name]
                .as_array()
                .unwrap_or_else(|| panic!("{case}: no input {}", f.name))
                .iter()
                .map(|v| v.as_f64().expect("numeric fixture input"))
                .collect();
            (f.name.clone(), vals)
        })
        .collect()
}

fn f64_col(v: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

fn batch(cols: Vec<(String, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).expect("batch")
}

/// The fixture's inputs as an f64 batch, with `edit` applied to the columns first.
fn batch_with(
    case: &str,
    m: &Model,
    edit: impl FnOnce(&mut Vec<(String, ArrayRef)>),
) -> RecordBatch {
    let mut cols: Vec<(String, ArrayRef)> = inputs(case, m)
        .into_iter()
        .map(|(n, v)| (n, f64_col(&v)))
        .collect();
    edit(&mut cols);
    batch(cols)
}

/// Asserts that two output batches are identical, bit for bit.
fn assert_same(a: &RecordBatch, b: &RecordBatch, ctx: &str) {
    assert_eq!(a.schema(), b.schema(), "{ctx}: schema");
    assert_eq!(a.num_rows(), b.num_rows(), "{ctx}: rows");
    for (i, f) in a.schema().fields().iter().enumerate() {
        assert_eq!(
            a.column(i).as_ref(),
            b.column(i).as_ref(),
            "{ctx}: output `{}` differs",
            f.name()
        );
    }
}

/// Output row `row` of column `col` as JSON-ish values for comparison with `io.json`.
fn out_value(batch: &RecordBatch, col: &str, row: usize) -> J {
    let a = batch.column_by_name(col).unwrap();
    if let Some(s) = a.as_string_opt::<i32>() {
        return J::from(s.value(row));
    }
    if let Some(l) = a.as_fixed_size_list_opt() {
        let v = l.value(row);
        let p = v.as_primitive::<Float64Type>();
        return J::Array(p.values().iter().map(|x| J::from(*x)).collect());
    }
    J::from(a.as_primitive::<Float64Type>().value(row))
}

/// Asserts that output row `row` matches scikit-learn's row `ref_row` of the fixture.
fn assert_matches_sklearn(case: &str, out: &RecordBatch, row: usize, ref_row: usize) {
    let io = io(case);
    for (col, want) in io["outputs"].as_object().unwrap() {
        let tol = Tolerance::by_name(io["tolerance"][col].as_str().unwrap()).unwrap();
        let got = out_value(out, col, row);
        let want = &want[ref_row];
        match (&got, want) {
            (J::String(g), J::String(w)) => assert_eq!(g, w, "{case}.{col} row {row}"),
            (J::Array(g), J::Array(w)) => {
                for (a, b) in g.iter().zip(w) {
                    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                    assert!(tol.accepts(a, b), "{case}.{col} row {row}: {a} vs {b}");
                }
            }
            (g, w) => {
                let (a, b) = (g.as_f64().unwrap(), w.as_f64().unwrap());
                assert!(tol.accepts(a, b), "{case}.{col} row {row}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn the_unmodified_fixtures_score_like_scikit_learn() {
    // The baseline every other test varies.
    for case in [IRIS, DIABETES] {
        let m = model(case);
        let out = m.score(&batch_with(case, &m, |_| {})).unwrap();
        for row in 0..out.num_rows() {
            assert_matches_sklearn(case, &out, row, row);
        }
    }
}

#[test]
fn a_missing_column_is_named() {
    for case in [IRIS, DIABETES] {
        let m = model(case);
        for f in &m.manifest().inputs {
            let err = m
                .score(&batch_with(case, &m, |cols| {
                    cols.retain(|(n, _)| n != &f.name)
                }))
                .expect_err("scored without a column");
            assert_eq!(
                err,
                Error::MissingColumn {
                    column: f.name.clone()
                },
                "{case}"
            );
            assert!(err.to_string().contains(&f.name));
            assert!(err.is_input_error());
        }
    }
}

#[test]
fn an_extra_column_is_refused_unless_ignored() {
    for case in [IRIS, DIABETES] {
        let m = model(case);
        let plain = m.score(&batch_with(case, &m, |_| {})).unwrap();
        let extra = batch_with(case, &m, |cols| {
            let rows = cols[0].1.len();
            cols.insert(1, ("surprise".into(), f64_col(&vec![1.0; rows])));
        });
        let err = m.score(&extra).expect_err("extra column accepted");
        assert_eq!(
            err,
            Error::ExtraColumn {
                column: "surprise".into()
            },
            "{case}"
        );
        assert!(err.to_string().contains("surprise"));

        // Ignored when configured at load time or afterwards, with the same answer.
        let bytes = std::fs::read(fixture(case).join("model.keel")).unwrap();
        let opts = Options {
            extra_columns: ExtraColumns::Ignore,
            ..Options::default()
        };
        let lenient = Model::from_bytes_with(&bytes, &opts).unwrap();
        assert_same(&lenient.score(&extra).unwrap(), &plain, case);
        let mut m2 = model(case);
        m2.set_extra_columns(ExtraColumns::Ignore);
        assert_same(&m2.score(&extra).unwrap(), &plain, case);
    }
}

#[test]
fn a_mistyped_column_is_named_with_both_types() {
    for case in [IRIS, DIABETES] {
        let m = model(case);
        let target = m.manifest().inputs[1].name.clone();
        let rows = inputs(case, &m)[0].1.len();
        let wrong: Vec<(ArrayRef, &str)> = vec![
            (Arc::new(StringArray::from(vec!["3.5"; rows])), "Utf8"),
            (Arc::new(BooleanArray::from(vec![true; rows])), "Boolean"),
            (
                Arc::new(
                    FixedSizeListArray::try_new(
                        Arc::new(Field::new("item", DataType::Float64, false)),
                        1,
                        f64_col(&vec![1.0; rows]),
                        None,
                    )
                    .unwrap(),
                ),
                "FixedSizeList",
            ),
        ];
        for (col, found) in wrong {
            let err = m
                .score(&batch_with(case, &m, |cols| cols[1].1 = col.clone()))
                .expect_err("mistyped column accepted");
            match &err {
                Error::ColumnType {
                    column,
                    expected,
                    found: f,
                } => {
                    assert_eq!(column, &target, "{case}");
                    assert_eq!(expected, "f64", "{case}");
                    assert!(f.contains(found), "{case}: found `{f}`, want {found}");
                }
                other => panic!("{case}: expected ColumnType, got {other:?}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(&target) && msg.contains("f64"), "{msg}");
        }
    }
}

#[test]
fn integer_columns_are_widened_and_give_the_same_answer() {
    // Integral values in every integer type (and f32, which holds them exactly) must score
    // exactly like the same values given as f64.
    for case in [IRIS, DIABETES] {
        let m = model(case);
        let ints: Vec<(String, Vec<i64>)> = inputs(case, &m)
            .into_iter()
            .map(|(n, v)| {
                // Non-negative and small enough for every type, varied enough to matter.
                (
                    n,
                    v.iter()
                        .map(|x| (x * 10.0).abs().round() as i64 % 120)
                        .collect(),
                )
            })
            .collect();
        let as_f64 = batch(
            ints.iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        f64_col(&v.iter().map(|&x| x as f64).collect::<Vec<_>>()),
                    )
                })
                .collect(),
        );
        let reference = m.score(&as_f64).unwrap();
        type Conv = fn(&[i64]) -> ArrayRef;
        let conversions: Vec<(&str, Conv)> = vec![
            ("Int8", |v| {
                Arc::new(Int8Array::from_iter_values(v.iter().map(|&x| x as i8)))
            }),
            ("Int16", |v| {
                Arc::new(Int16Array::from_iter_values(v.iter().map(|&x| x as i16)))
            }),
            ("Int32", |v| {
                Arc::new(Int32Array::from_iter_values(v.iter().map(|&x| x as i32)))
            }),
            ("Int64", |v| {
                Arc::new(Int64Array::from_iter_values(v.iter().copied()))
            }),
            ("UInt8", |v| {
                Arc::new(UInt8Array::from_iter_values(v.iter().map(|&x| x as u8)))
            }),
            ("UInt16", |v| {
                Arc::new(UInt16Array::from_iter_values(v.iter().map(|&x| x as u16)))
            }),
            ("UInt32", |v| {
                Arc::new(UInt32Array::from_iter_values(v.iter().map(|&x| x as u32)))
            }),
            ("UInt64", |v| {
                Arc::new(UInt64Array::from_iter_values(v.iter().map(|&x| x as u64)))
            }),
            ("Float32", |v| {
                Arc::new(Float32Array::from_iter_values(v.iter().map(|&x| x as f32)))
            }),
        ];
        for (ty, conv) in conversions {
            let b = batch(ints.iter().map(|(n, v)| (n.clone(), conv(v))).collect());
            let out = m
                .score(&b)
                .unwrap_or_else(|e| panic!("{case}: {ty} columns refused: {e}"));
            assert_same(&out, &reference, &format!("{case} {ty}"));
            // And one integer column among f64 ones.
            let mixed = batch(
                ints.iter()
                    .enumerate()
                    .map(|(i, (n, v))| {
                        let col = if i == 0 {
                            conv(v)
                        } else {
                            f64_col(&v.iter().map(|&x| x as f64).collect::<Vec<_>>())
                        };
                        (n.clone(), col)
                    })
                    .collect(),
            );
            assert_same(
                &m.score(&mixed).unwrap(),
                &reference,
                &format!("{case} {ty} mixed"),
            );
        }
    }
}

/// Scores the fixture with `value` (or a null, for `None`) at `row` of column `col`.
fn score_with_value(
    case: &str,
    col: &str,
    row: usize,
    value: Option<f64>,
) -> Result<RecordBatch, Error> {
    let m = model(case);
    let b = batch_with(case, &m, |cols| {
        let (_, a) = cols.iter_mut().find(|(n, _)| n == col).unwrap();
        let mut v: Vec<Option<f64>> = a.as_primitive::<Float64Type>().iter().collect();
        v[row] = value;
        *a = Arc::new(Float64Array::from(v));
    });
    m.score(&b)
}

#[test]
fn nan_and_null_are_refused_naming_column_and_row() {
    // LogisticRegression (behind a StandardScaler, which lets NaN through as scikit-learn's
    // does) and LinearRegression (behind a ColumnTransformer: a scaled column and a
    // passthrough one) refuse missing values, as scikit-learn does.
    for (case, col, row) in [
        (IRIS, "petal length (cm)", 7),
        (IRIS, "sepal length (cm)", 0),
        (DIABETES, "age", 12),
        (DIABETES, "s3", 3),
    ] {
        for value in [Some(f64::NAN), None] {
            let err = score_with_value(case, col, row, value).expect_err("missing value accepted");
            match &err {
                Error::Missing {
                    column,
                    row: r,
                    node,
                } => {
                    assert_eq!(column, col, "{case} {value:?}");
                    assert_eq!(*r, row, "{case} {value:?}");
                    assert!(!node.is_empty(), "{case}: the refusing node is not named");
                }
                other => panic!("{case} {col} {value:?}: expected Missing, got {other:?}"),
            }
            let msg = err.to_string();
            assert!(
                msg.contains(col) && msg.contains(&format!("row {row}")),
                "{msg}"
            );
        }
    }
}

#[test]
fn infinities_are_refused_naming_column_and_row() {
    for (case, col, row) in [
        (IRIS, "sepal width (cm)", 4),
        (DIABETES, "bmi", 20),
        (DIABETES, "s6", 1),
    ] {
        for value in [f64::INFINITY, f64::NEG_INFINITY] {
            let err = score_with_value(case, col, row, Some(value)).expect_err("inf accepted");
            match &err {
                Error::NonFinite { column, row: r, .. } => {
                    assert_eq!(column, col, "{case}");
                    assert_eq!(*r, row, "{case}");
                }
                other => panic!("{case} {col} {value}: expected NonFinite, got {other:?}"),
            }
            assert!(err.to_string().contains(col));
        }
    }
}

#[test]
fn an_empty_frame_is_refused() {
    for case in [IRIS, DIABETES] {
        let m = model(case);
        let b = batch_with(case, &m, |cols| {
            for (_, a) in cols.iter_mut() {
                *a = a.slice(0, 0);
            }
        });
        assert_eq!(b.num_rows(), 0);
        assert_eq!(
            m.score(&b).expect_err("empty frame scored"),
            Error::EmptyFrame
        );
        assert_eq!(
            m.score(&RecordBatch::new_empty(m.input_schema()))
                .unwrap_err(),
            Error::EmptyFrame
        );
    }
}

#[test]
fn column_order_does_not_matter() {
    for case in [IRIS, DIABETES] {
        let m = model(case);
        let plain = m.score(&batch_with(case, &m, |_| {})).unwrap();
        let reversed = m
            .score(&batch_with(case, &m, |cols| cols.reverse()))
            .unwrap();
        assert_same(&reversed, &plain, case);
        let rotated = m
            .score(&batch_with(case, &m, |cols| cols.rotate_left(1)))
            .unwrap();
        assert_same(&rotated, &plain, case);
    }
}

#[test]
fn one_row_and_a_hundred_thousand_rows_take_the_same_path() {
    const ROWS: usize = 100_000;
    for case in [IRIS, DIABETES] {
        let m = model(case);
        let cols = inputs(case, &m);
        let n = cols[0].1.len();
        // Every fixture row alone.
        let singles: Vec<RecordBatch> = (0..n)
            .map(|r| {
                m.score(&batch(
                    cols.iter()
                        .map(|(name, v)| (name.clone(), f64_col(&v[r..=r])))
                        .collect(),
                ))
                .unwrap()
            })
            .collect();
        // The fixture rows tiled to 100,000.
        let big = batch(
            cols.iter()
                .map(|(name, v)| {
                    let tiled: Vec<f64> = (0..ROWS).map(|i| v[i % n]).collect();
                    (name.clone(), f64_col(&tiled))
                })
                .collect(),
        );
        let out = m.score(&big).unwrap();
        assert_eq!(out.num_rows(), ROWS);
        for row in 0..ROWS {
            if row < n || row % 997 == 0 || row >= ROWS - n {
                assert_same(
                    &out.slice(row, 1),
                    &singles[row % n],
                    &format!("{case} row {row}"),
                );
                assert_matches_sklearn(case, &out, row, row % n);
            }
        }
    }
}

#[test]
fn sliced_batches_score_their_own_rows() {
    // Arrow arrays with an offset (a slice of a larger batch), including a null bitmap with an
    // offset: the null must be found at its row within the slice.
    for case in [IRIS, DIABETES] {
        let m = model(case);
        let full = batch_with(case, &m, |_| {});
        let out = m.score(&full).unwrap();
        let (start, len) = (5, 9);
        assert_same(
            &m.score(&full.slice(start, len)).unwrap(),
            &out.slice(start, len),
            case,
        );
        let col = m.manifest().inputs[2].name.clone();
        let with_null = batch_with(case, &m, |cols| {
            let mut v: Vec<Option<f64>> = cols[2].1.as_primitive::<Float64Type>().iter().collect();
            v[start + 4] = None;
            cols[2].1 = Arc::new(Float64Array::from(v));
        });
        match m.score(&with_null.slice(start, len)).unwrap_err() {
            Error::Missing { column, row, .. } => {
                assert_eq!(column, col);
                assert_eq!(row, 4);
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}
