//! The feature stages against Spark ML's own fit and transform (the fixture's
//! `StringIndexer(handleInvalid="keep")` + `Imputer(mean)` + `VectorAssembler` +
//! `StandardScaler(withMean, withStd)`), the statistics' merge, and every refusal.
//!
//! Tolerance: `f64_linear` (fixtures/tolerances.json: 1e-9 absolute + 1e-12 relative) for
//! every fitted and transformed number: keel and Spark compute the same means and standard
//! deviations in f64 in a different summation order (keel: a two-pass batch sum merged with
//! Chan's update; Spark: SQL `avg`, then its Summarizer's online update), which differs by a
//! few ulps. Category indices and vocabularies are compared exactly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_range_loop
)]

mod features_fixture;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use features_fixture::{batch, f64s, io, spec};
use keel_runtime::tolerance::Tolerance;
use keel_train::features::{
    Error, FEATURES_OUTPUT, FeaturePlan, FeatureSpec, FeatureStats, LabelPlan, index_output,
};
use keel_train::net::Task;
use serde_json::Value;
use std::sync::Arc;

const TOL: keel_runtime::tolerance::Named = Tolerance::F64_LINEAR;

fn fitted(spec: &FeatureSpec, batches: &[RecordBatch]) -> Result<FeaturePlan, Error> {
    let mut stats = FeatureStats::new(spec);
    for b in batches {
        stats.update(b)?;
    }
    FeaturePlan::fit(spec, &stats)
}

/// `b` with a column added (or replaced).
fn with(b: &RecordBatch, name: &str, col: ArrayRef) -> RecordBatch {
    let mut cols: Vec<(String, ArrayRef)> = b
        .schema()
        .fields()
        .iter()
        .zip(b.columns())
        .filter(|(f, _)| f.name() != name)
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    cols.push((name.to_string(), col));
    RecordBatch::try_from_iter(cols).expect("batch")
}

fn test_rows(io: &Value) -> RecordBatch {
    let t = batch(io, "test");
    let n = t.num_rows();
    with(&t, "label", Arc::new(StringArray::from(vec!["low"; n])))
}

fn max_diff(max: &mut f64, a: f64, b: f64) {
    *max = max.max((a - b).abs());
}

#[test]
fn fitted_values_match_spark() {
    let io = io();
    let spec = spec(&io, Task::Classification);
    let plan = fitted(&spec, &[batch(&io, "train")]).unwrap();
    let want = &io["spark"]["fitted"];
    for c in &plan.categorical {
        let labels: Vec<&str> = want["labels"][&c.name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(c.vocabulary, labels, "vocabulary of `{}`", c.name);
    }
    let (sur, mean, std) = (
        f64s(&want["surrogates"]),
        f64s(&want["mean"]),
        f64s(&want["std"]),
    );
    let mut max = 0.0f64;
    for (j, n) in plan.numeric.iter().enumerate() {
        for (got, want, what) in [
            (n.surrogate, sur[j].unwrap(), "surrogate"),
            (n.mean, mean[j].unwrap(), "mean"),
            (n.std, std[j].unwrap(), "std"),
        ] {
            assert!(
                TOL.accepts(got, want),
                "{what} of `{}`: {got} vs Spark {want}",
                n.name
            );
            max_diff(&mut max, got, want);
        }
    }
    eprintln!("fitted values: max |keel - Spark| = {max:e}");
    assert_eq!(plan.cardinalities(), vec![6, 5]);
    assert_eq!(plan.numeric_width(), 3);
    assert_eq!(plan.class_names(), ["high", "low", "mid"]);
}

#[test]
fn transform_matches_spark_on_unseen_null_and_imputed_rows() {
    let io = io();
    let spec = spec(&io, Task::Classification);
    let plan = fitted(&spec, &[batch(&io, "train")]).unwrap();
    let test = test_rows(&io);
    let want = &io["spark"]["transformed"];

    // The bundle's f64 outputs against Spark's.
    let model = plan.model().unwrap();
    let inputs = RecordBatch::try_from_iter(
        ["age", "income", "visits", "city", "plan"]
            .iter()
            .map(|c| (c.to_string(), test.column_by_name(c).unwrap().clone())),
    )
    .unwrap();
    let scored = model.score(&inputs).unwrap();
    let block = scored
        .column_by_name(FEATURES_OUTPUT)
        .unwrap()
        .as_fixed_size_list();
    let values = block.values().as_primitive::<Float64Type>().values();
    let rows = want["features"].as_array().unwrap();
    let mut max = 0.0f64;
    for (r, row) in rows.iter().enumerate() {
        for (j, w) in f64s(row).into_iter().enumerate() {
            let (got, w) = (values[r * 3 + j], w.unwrap());
            assert!(
                TOL.accepts(got, w),
                "row {r} feature {j}: {got} vs Spark {w}"
            );
            max_diff(&mut max, got, w);
        }
    }
    eprintln!("transformed features: max |keel - Spark| = {max:e}");

    // The training set: f32 features, i64 indices equal to Spark's.
    let data = plan.transform(&test).unwrap();
    assert_eq!(data.rows(), rows.len());
    for (i, &v) in data.numeric.iter().enumerate() {
        assert_eq!(v, values[i] as f32);
    }
    for (k, col) in ["city", "plan"].iter().enumerate() {
        let idx = f64s(&want[index_output(col)]);
        for r in 0..data.rows() {
            assert_eq!(
                data.categorical[r * 2 + k] as f64,
                idx[r].unwrap(),
                "`{col}` row {r}"
            );
        }
    }
    // Row 0: unseen city; row 1: unseen plan; row 2: both null: the extra index.
    assert_eq!(data.categorical[0], 5);
    assert_eq!(data.categorical[3], 4);
    assert_eq!(&data.categorical[4..6], &[5, 4]);
    assert!(data.labels.iter().all(|&l| l == 1.0), "`low` is class 1");
}

#[test]
fn merged_statistics_equal_the_statistics_of_the_concatenation() {
    let io = io();
    let spec = spec(&io, Task::Classification);
    let all = batch(&io, "train");
    let mut whole = FeatureStats::new(&spec);
    whole.update(&all).unwrap();

    // Three workers over uneven slices, merged (through JSON, as tasks send them).
    let mut parts = Vec::new();
    for (start, len) in [(0, 5), (5, 30), (35, 13)] {
        let mut s = FeatureStats::new(&spec);
        s.update(&all.slice(start, len)).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        parts.push(serde_json::from_str::<FeatureStats>(&json).unwrap());
    }
    let mut merged = parts.remove(0);
    for p in &parts {
        merged.merge(p).unwrap();
    }
    assert_eq!((merged.rows, merged.batches), (48, 3));
    assert_eq!(merged.categorical, whole.categorical);
    assert_eq!(merged.label, whole.label);
    for (a, b) in merged.numeric.iter().zip(&whole.numeric) {
        assert_eq!((a.count, a.missing), (b.count, b.missing));
        assert!(TOL.accepts(a.mean, b.mean));
        assert!(TOL.accepts(a.m2, b.m2) || (a.m2 - b.m2).abs() <= 1e-12 * b.m2);
    }
    let (p1, p2) = (
        FeaturePlan::fit(&spec, &merged).unwrap(),
        FeaturePlan::fit(&spec, &whole).unwrap(),
    );
    for (a, b) in p1.numeric.iter().zip(&p2.numeric) {
        assert!(TOL.accepts(a.std, b.std));
    }
    assert_eq!(p1.categorical, p2.categorical);
}

#[test]
fn plan_travels_as_json_and_plans_its_bundle_again() {
    let io = io();
    let spec = spec(&io, Task::Classification);
    let plan = fitted(&spec, &[batch(&io, "train")]).unwrap();
    let json = serde_json::to_string(&plan).unwrap();
    let back: FeaturePlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    let test = test_rows(&io);
    assert_eq!(
        back.transform(&test).unwrap(),
        plan.transform(&test).unwrap()
    );
    // The same plan writes the same bundle (uid included).
    assert_eq!(
        back.bundle().unwrap().manifest,
        plan.bundle().unwrap().manifest
    );
    // Unknown fields are refused.
    let spec_json = r#"{"numeric_cols":[],"categorical_cols":["a"],"label_col":"y",
        "task":"regression","bogus":1}"#;
    assert!(serde_json::from_str::<FeatureSpec>(spec_json).is_err());
}

#[test]
fn min_frequency_and_max_categories_send_rare_values_to_the_extra_index() {
    let io = io();
    let mut spec = spec(&io, Task::Classification);
    spec.min_frequency = 2; // `e` is seen once
    let plan = fitted(&spec, &[batch(&io, "train")]).unwrap();
    assert_eq!(plan.categorical[0].vocabulary, ["c", "a", "b", "d"]);
    assert_eq!(plan.categorical[0].dropped, 1);
    let data = plan.transform(&test_rows(&io)).unwrap();
    // Test row 4 is city `e`: now the extra index, 4.
    assert_eq!(data.categorical[4 * 2], 4);

    spec.min_frequency = 0;
    spec.max_categories = Some(2);
    let plan = fitted(&spec, &[batch(&io, "train")]).unwrap();
    assert_eq!(plan.categorical[0].vocabulary, ["c", "a"]);
    assert_eq!(plan.categorical[1].vocabulary, ["7", "10"]);
    assert_eq!(plan.cardinalities(), vec![3, 3]);
}

#[test]
fn numeric_labels_are_class_indices_and_targets_are_kept() {
    let io = io();
    let train = batch(&io, "train");
    let n = train.num_rows();
    let classes: Vec<f64> = (0..n).map(|i| [0.0, 2.0, 3.0][i % 3]).collect();
    let b = with(&train, "label", Arc::new(Float64Array::from(classes)));
    let spec = spec(&io, Task::Classification);
    let plan = fitted(&spec, std::slice::from_ref(&b)).unwrap();
    // Class 1 never appears; Spark's classifiers count classes as the largest label + 1.
    assert_eq!(plan.label, LabelPlan::ClassIndices { classes: 4 });
    assert_eq!(&plan.transform(&b).unwrap().labels[..3], &[0.0, 2.0, 3.0]);

    let spec = features_fixture::spec(&io, Task::Regression);
    let plan = fitted(&spec, std::slice::from_ref(&train)).unwrap();
    let counts = f64s(&io["train"]["count"]);
    let data = plan.transform(&train).unwrap();
    for (l, c) in data.labels.iter().zip(counts) {
        assert_eq!(*l, c.unwrap() as f32);
    }
    assert_eq!(plan.num_classes(), None);
}

#[test]
fn zero_numeric_or_zero_categorical_columns() {
    let io = io();
    let train = batch(&io, "train");
    let mut only_cat = spec(&io, Task::Classification);
    only_cat.numeric_cols.clear();
    let plan = fitted(&only_cat, std::slice::from_ref(&train)).unwrap();
    let data = plan.transform(&train).unwrap();
    assert_eq!((data.numeric_width, data.numeric.len()), (0, 0));
    assert_eq!(data.categorical.len(), 2 * train.num_rows());
    assert!(plan.bundle().unwrap().manifest.outputs.len() == 2);

    let mut only_num = spec(&io, Task::Classification);
    only_num.categorical_cols.clear();
    let plan = fitted(&only_num, std::slice::from_ref(&train)).unwrap();
    let data = plan.transform(&train).unwrap();
    assert_eq!(data.categorical_width, 0);
    assert_eq!(data.numeric.len(), 3 * train.num_rows());

    let mut none = only_num.clone();
    none.numeric_cols.clear();
    assert!(matches!(
        fitted(&none, &[train]),
        Err(Error::BadSpec(m)) if m.contains("no numeric or categorical")
    ));
}

#[test]
fn a_constant_column_scales_to_zero_as_in_spark() {
    let io = io();
    let train = batch(&io, "train");
    let n = train.num_rows();
    let b = with(&train, "age", Arc::new(Float64Array::from(vec![7.5; n])));
    let plan = fitted(&spec(&io, Task::Classification), std::slice::from_ref(&b)).unwrap();
    assert_eq!((plan.numeric[0].mean, plan.numeric[0].std), (7.5, 0.0));
    let data = plan.transform(&b).unwrap();
    assert!((0..n).all(|r| data.numeric[r * 3] == 0.0));
}

// ---- refusals: each a typed error naming the column (and batch and row) ----

#[test]
fn a_missing_column_is_named() {
    let io = io();
    let mut spec = spec(&io, Task::Classification);
    spec.numeric_cols.push("height".into());
    let mut stats = FeatureStats::new(&spec);
    let err = stats.update(&batch(&io, "train")).unwrap_err();
    assert!(matches!(&err, Error::MissingColumn { column, .. } if column == "height"));
    assert!(err.to_string().contains("`height`") && err.to_string().contains("`age`"));
}

#[test]
fn a_column_of_the_wrong_type_is_named_with_its_type() {
    let io = io();
    let train = batch(&io, "train");
    let mut spec = spec(&io, Task::Classification);
    spec.numeric_cols.push("city".into());
    spec.categorical_cols.retain(|c| c != "city");
    let err = FeatureStats::new(&spec).update(&train).unwrap_err();
    assert!(
        matches!(&err, Error::ColumnType { column, found, .. } if column == "city" && found == "Utf8")
    );

    // A float column is no category.
    let spec2 = FeatureSpec {
        numeric_cols: vec![],
        categorical_cols: vec!["age".into()],
        label_col: "label".into(),
        task: Task::Classification,
        max_categories: None,
        min_frequency: 0,
    };
    let err = FeatureStats::new(&spec2).update(&train).unwrap_err();
    assert!(
        matches!(&err, Error::ColumnType { column, found, .. } if column == "age" && found == "Float64")
    );

    // A plan fitted on strings refuses integers at transform.
    let plan = fitted(
        &features_fixture::spec(&io, Task::Classification),
        std::slice::from_ref(&train),
    )
    .unwrap();
    let b = with(
        &train,
        "city",
        Arc::new(Int64Array::from(vec![1; train.num_rows()])),
    );
    assert!(
        matches!(plan.transform(&b), Err(Error::ColumnType { column, .. }) if column == "city")
    );
}

#[test]
fn a_null_label_names_its_batch_and_row() {
    let io = io();
    let train = batch(&io, "train");
    let spec = spec(&io, Task::Classification);
    let mut stats = FeatureStats::new(&spec);
    stats.update(&train).unwrap();
    let mut labels: Vec<Option<&str>> = vec![Some("low"); 6];
    labels[4] = None;
    let b = with(
        &train.slice(0, 6),
        "label",
        Arc::new(StringArray::from(labels)),
    );
    let before = stats.clone();
    let err = stats.update(&b).unwrap_err();
    assert!(matches!(
        &err,
        Error::NullLabel { column, batch: Some(1), row: 4 } if column == "label"
    ));
    assert!(err.to_string().contains("row 4 of batch 1"), "{err}");
    assert_eq!(stats, before, "a refused batch adds nothing");

    // A NaN target is as missing as a null one.
    let rspec = features_fixture::spec(&io, Task::Regression);
    let mut counts = vec![1.0; 6];
    counts[2] = f64::NAN;
    let b = with(
        &train.slice(0, 6),
        "count",
        Arc::new(Float64Array::from(counts)),
    );
    assert!(matches!(
        FeatureStats::new(&rspec).update(&b),
        Err(Error::NullLabel { row: 2, .. })
    ));
}

#[test]
fn bad_class_indices_are_refused() {
    let io = io();
    let train = batch(&io, "train").slice(0, 4);
    let spec = spec(&io, Task::Classification);
    for (labels, row) in [
        (vec![0.0, 1.5, 1.0, 0.0], 1),
        (vec![0.0, 1.0, -1.0, 0.0], 2),
    ] {
        let b = with(&train, "label", Arc::new(Float64Array::from(labels)));
        let err = FeatureStats::new(&spec).update(&b).unwrap_err();
        assert!(
            matches!(&err, Error::BadValue { column, row: r, .. } if column == "label" && *r == row),
            "{err}"
        );
    }
}

#[test]
fn an_empty_vocabulary_and_a_column_without_data_are_refused() {
    let io = io();
    let train = batch(&io, "train");
    let n = train.num_rows();
    let spec = spec(&io, Task::Classification);
    let b = with(
        &train,
        "city",
        Arc::new(StringArray::from(vec![None::<&str>; n])),
    );
    let err = fitted(&spec, &[b]).unwrap_err();
    assert!(
        matches!(&err, Error::EmptyVocabulary { column, nulls: 48, .. } if column == "city"),
        "{err}"
    );

    let mut rare = spec.clone();
    rare.min_frequency = 1000;
    assert!(matches!(
        fitted(&rare, std::slice::from_ref(&train)),
        Err(Error::EmptyVocabulary { .. })
    ));

    let b = with(
        &train,
        "income",
        Arc::new(Float64Array::from(vec![f64::NAN; n])),
    );
    let err = fitted(&spec, &[b]).unwrap_err();
    assert!(
        matches!(&err, Error::NoData { column, missing: 48 } if column == "income"),
        "{err}"
    );
}

#[test]
fn a_class_unseen_at_fit_time_is_refused_at_transform() {
    let io = io();
    let train = batch(&io, "train");
    let plan = fitted(
        &spec(&io, Task::Classification),
        std::slice::from_ref(&train),
    )
    .unwrap();
    let mut labels = vec!["low"; 5];
    labels[3] = "extreme";
    let b = with(
        &train.slice(0, 5),
        "label",
        Arc::new(StringArray::from(labels)),
    );
    let err = plan.transform(&b).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownLabel { row: 3, value, .. } if value == "\"extreme\""),
        "{err}"
    );
}

#[test]
fn infinite_features_kinds_and_specs_are_checked() {
    let io = io();
    let train = batch(&io, "train");
    let spec = spec(&io, Task::Classification);
    let mut ages = vec![1.0; train.num_rows()];
    ages[7] = f64::INFINITY;
    let b = with(&train, "age", Arc::new(Float64Array::from(ages)));
    assert!(matches!(
        FeatureStats::new(&spec).update(&b),
        Err(Error::NonFinite { column, row: 7, batch: Some(0), .. }) if column == "age"
    ));
    let plan = fitted(&spec, std::slice::from_ref(&train)).unwrap();
    assert!(matches!(
        plan.transform(&b),
        Err(Error::NonFinite { column, row: 7, batch: None, .. }) if column == "age"
    ));

    // Integers in one batch, strings in another.
    let mut stats = FeatureStats::new(&spec);
    stats.update(&train).unwrap();
    let b = with(
        &train,
        "plan",
        Arc::new(StringArray::from(vec!["x"; train.num_rows()])),
    );
    assert!(
        matches!(stats.update(&b), Err(Error::KindMismatch { column, .. }) if column == "plan")
    );

    // Statistics of another spec do not merge.
    let mut other = spec.clone();
    other.min_frequency = 3;
    assert!(matches!(
        stats.merge(&FeatureStats::new(&other)),
        Err(Error::SpecMismatch)
    ));

    // A name used twice, or colliding with a column the bundle writes.
    let mut dup = spec.clone();
    dup.categorical_cols.push("age".into());
    assert!(matches!(dup.check(), Err(Error::BadSpec(_))));
    let mut clash = spec.clone();
    clash.numeric_cols.push("city_index".into());
    let b = with(
        &train,
        "city_index",
        Arc::new(Float64Array::from(vec![1.0; train.num_rows()])),
    );
    assert!(matches!(fitted(&clash, &[b]), Err(Error::BadSpec(m)) if m.contains("city_index")));
}
