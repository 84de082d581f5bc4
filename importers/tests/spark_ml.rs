#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Spark ML saved-model importer without a JVM: the checked-in saved models
//! (fixtures/spark_saved, written by real Spark with fixtures/generate_spark_saved.py) convert
//! and score like Spark's own `transform` (checked by the conformance suite, fixtures/conformance,
//! through every target), import options change only what they name, and malformed folders (missing metadata, an unknown
//! stage class, bad parquet, path escapes through `..` or symbolic links) give typed errors
//! naming the path, crafted in temporary copies of a fixture.

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use keel_conformance::Family;
use keel_conformance::arrow as conformance_arrow;
use keel_conformance::case::read_case;
use keel_import::spark_ml::{Error, Options, convert};
use keel_runtime::{Model, Options as RunOptions};
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/spark_saved")
        .join(case)
}

/// The conformance suite (`fixtures/conformance`) scores every saved model with its import
/// options and compares with Spark; this checks what it does not: that an explicit sample schema
/// (DDL) and a name change the bundle's name and nothing it answers.
#[test]
fn a_sample_schema_and_a_name_keep_the_answers() {
    let case = read_case(Family::SparkSaved, &fixture("scalers_logreg")).unwrap();
    let with_schema = Options {
        sample_schema: Some("x1 DOUBLE, x2 DOUBLE, cat STRING".into()),
        name: Some("named".into()),
    };
    let answers = |options: &Options| {
        let bundle = convert(&case.dir.join("model"), options).unwrap();
        let model = Model::from_bundle(&bundle, &RunOptions::default()).unwrap();
        let batch = conformance_arrow::input_batch(&case, &model.manifest().inputs).unwrap();
        let outputs = conformance_arrow::outputs(&model.score(&batch).unwrap()).unwrap();
        (
            bundle.manifest.name,
            J::from_iter(outputs.columns.into_values().map(J::Array)).to_string(),
        )
    };
    let (inferred_name, inferred) = answers(&Options::default());
    let (name, named) = answers(&with_schema);
    assert_eq!(name, "named");
    assert_ne!(inferred_name, "named");
    assert_eq!(named, inferred);
}

#[test]
fn inferred_schema_and_outputs() {
    let b = convert(&fixture("forest").join("model"), &Options::default()).unwrap();
    let inputs: Vec<_> = b
        .manifest
        .inputs
        .iter()
        .map(|f| (f.name.as_str(), f.dtype.as_str()))
        .collect();
    assert_eq!(inputs, [("cat", "utf8"), ("x1", "f64"), ("x2", "f64")]);
    let outputs: Vec<_> = b.manifest.outputs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(outputs, ["rawPrediction", "probability", "prediction"]);
    assert_eq!(b.manifest.producer.framework, "spark");
    // Converting twice gives the same bundle (uid and time come from the saved model).
    let again = convert(&fixture("forest").join("model"), &Options::default()).unwrap();
    assert_eq!(b.manifest.uid, again.manifest.uid);
    assert_eq!(b.manifest.created, again.manifest.created);
}

// -- malformed folders ----------------------------------------------------------------------

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A temporary copy of the logistic-regression fixture.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    scratch_of("scalers_logreg")
}

/// A temporary copy of fixture `case`'s saved model.
fn scratch_of(case: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    copy_dir(&fixture(case).join("model"), &dir);
    (tmp, dir)
}

/// The folder of stage `prefix` (e.g. `7_`).
fn stage(dir: &Path, prefix: &str) -> PathBuf {
    std::fs::read_dir(dir.join("stages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap()
}

fn only_file(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap()
}

fn edit_metadata(dir: &Path, f: impl Fn(&mut J)) {
    let file = only_file(&dir.join("metadata"), ".txt");
    let mut doc: J = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    f(&mut doc);
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
}

fn err(dir: &Path) -> Error {
    match convert(dir, &Options::default()) {
        Ok(_) => panic!("converted a malformed folder"),
        Err(e) => e,
    }
}

#[test]
fn missing_metadata_is_named() {
    let (_tmp, dir) = scratch();
    let s = stage(&dir, "3_");
    std::fs::remove_dir_all(s.join("metadata")).unwrap();
    let e = err(&dir);
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("3_Bucketizer"), "{e}");

    let (_tmp2, dir2) = scratch();
    std::fs::remove_file(only_file(&dir2.join("metadata"), ".txt")).unwrap();
    let e = err(&dir2);
    assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("part-*"), "{e}");
}

#[test]
fn unknown_stage_class_is_refused_by_name() {
    let (_tmp, dir) = scratch();
    edit_metadata(&stage(&dir, "6_"), |m| {
        m["class"] = J::from("org.apache.spark.ml.feature.DCT")
    });
    let e = err(&dir);
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("org.apache.spark.ml.feature.DCT"), "{text}");
    assert!(
        text.contains("stages[6]") && text.contains("6_MinMaxScaler"),
        "{text}"
    );
}

#[test]
fn bad_parquet_is_named() {
    let (_tmp, dir) = scratch();
    let data = stage(&dir, "7_").join("data");
    let file = only_file(&data, ".parquet");
    std::fs::write(&file, b"PAR1 this is not parquet PAR1").unwrap();
    let e = err(&dir);
    assert!(matches!(e, Error::Parquet { .. }), "{e:?}");
    assert!(e.to_string().contains(&*file.to_string_lossy()), "{e}");

    // A truncated file (a real header, the rest cut off).
    let (_tmp2, dir2) = scratch();
    let file = only_file(&stage(&dir2, "5_").join("data"), ".parquet");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(err(&dir2), Error::Parquet { .. }));

    // No data file at all.
    let (_tmp3, dir3) = scratch();
    std::fs::remove_file(only_file(&stage(&dir3, "0_").join("data"), ".parquet")).unwrap();
    let e = err(&dir3);
    assert!(
        matches!(e, Error::Malformed { .. }) && e.to_string().contains("0_StringIndexer"),
        "{e}"
    );
}

#[test]
fn dot_dot_in_stage_uids_is_refused() {
    let (_tmp, dir) = scratch();
    edit_metadata(&dir, |m| {
        m["paramMap"]["stageUids"][2] = J::from("../../../etc")
    });
    let e = err(&dir);
    assert!(matches!(e, Error::UnsafePath { .. }), "{e:?}");
    assert!(e.to_string().contains("2_../../../etc"), "{e}");

    let (_tmp2, dir2) = scratch();
    edit_metadata(&dir2, |m| m["paramMap"]["stageUids"][1] = J::from("x/y"));
    assert!(matches!(err(&dir2), Error::UnsafePath { .. }));
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_refused() {
    // A stage folder that is a link to a copy outside the model.
    let (tmp, dir) = scratch();
    let s = stage(&dir, "4_");
    let outside = tmp.path().join("outside");
    std::fs::rename(&s, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &s).unwrap();
    let e = err(&dir);
    assert!(matches!(e, Error::UnsafePath { .. }), "{e:?}");
    assert!(
        e.to_string().contains("symbolic link") && e.to_string().contains("4_"),
        "{e}"
    );

    // A data file that is a link.
    let (tmp2, dir2) = scratch();
    let file = only_file(&stage(&dir2, "7_").join("data"), ".parquet");
    let moved = tmp2.path().join("elsewhere.parquet");
    std::fs::rename(&file, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &file).unwrap();
    let e = err(&dir2);
    assert!(matches!(e, Error::UnsafePath { .. }), "{e:?}");
    assert!(e.to_string().contains(&*file.to_string_lossy()), "{e}");
}

#[test]
fn skip_and_mismatched_uids_are_refused() {
    let (_tmp, dir) = scratch();
    edit_metadata(&stage(&dir, "4_"), |m| {
        m["paramMap"]["handleInvalid"] = J::from("skip")
    });
    let e = err(&dir);
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("skip"),
        "{e}"
    );

    let (_tmp2, dir2) = scratch();
    edit_metadata(&stage(&dir2, "2_"), |m| m["uid"] = J::from("Imputer_other"));
    assert!(matches!(err(&dir2), Error::Malformed { .. }));

    let (_tmp3, dir3) = scratch();
    std::fs::write(only_file(&dir3.join("metadata"), ".txt"), b"{not json").unwrap();
    let e = err(&dir3);
    assert!(
        matches!(e, Error::Malformed { .. }) && e.to_string().contains("invalid JSON"),
        "{e}"
    );
}

/// VectorSlicer, IndexToString, NaiveBayes and KMeans parameter values the importer cannot
/// reproduce are refused, naming the stage and value.
#[test]
fn unsupported_slicer_indexer_nb_kmeans_values_are_refused() {
    let refused = |case: &str, prefix: &str, edit: &dyn Fn(&mut J), needle: &str| {
        let (_tmp, dir) = scratch_of(case);
        let s = stage(&dir, prefix);
        edit_metadata(&s, |m| edit(m));
        let e = err(&dir);
        let text = e.to_string();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        assert!(text.contains(needle), "{text}");
        assert!(
            text.contains(&*s.file_name().unwrap().to_string_lossy()),
            "{text}"
        );
    };
    // VectorSlicer by feature names: `poly` is not assembled from scalar columns, so its
    // feature names (Spark's attribute metadata) are unknown.
    refused(
        "wine_svc",
        "07_",
        &|m| {
            m["paramMap"]["names"] = J::from(vec!["f0"]);
            m["paramMap"]["indices"] = J::Array(vec![]);
        },
        "names=",
    );
    // IndexToString without labels would read them from column metadata.
    refused(
        "iris_nb_kmeans",
        "09_",
        &|m| m["paramMap"]["labels"] = J::Array(vec![]),
        "labels are not set",
    );
    refused(
        "iris_nb_kmeans",
        "03_",
        &|m| m["paramMap"]["modelType"] = J::from("poisson"),
        "modelType='poisson'",
    );
    refused(
        "iris_nb_kmeans",
        "07_",
        &|m| m["paramMap"]["distanceMeasure"] = J::from("manhattan"),
        "distanceMeasure='manhattan'",
    );
}

/// The converted stages carry the exporter's attributes: k-means centers in cluster order,
/// PCA components transposed to [k, n], Binarizer's per-column thresholds.
#[test]
fn kmeans_pca_binarizer_attributes() {
    let b = convert(
        &fixture("iris_nb_kmeans").join("model"),
        &Options::default(),
    )
    .unwrap();
    let ops: Vec<&str> = b.graph.children.iter().map(|n| n.op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "spark.vector_assembler",
            "spark.binarizer",
            "spark.naive_bayes",
            "spark.naive_bayes",
            "spark.naive_bayes",
            "spark.naive_bayes",
            "spark.kmeans",
            "spark.kmeans",
            "spark.index_to_string",
        ]
    );
    let km = b.manifest.outputs.iter().find(|f| f.name == "km").unwrap();
    assert_eq!(km.dtype.as_str(), "i32");
    let sp = b
        .manifest
        .outputs
        .iter()
        .find(|f| f.name == "species_pred")
        .unwrap();
    assert!(sp.dtype.as_str() == "utf8" && sp.nullable);

    let w = convert(&fixture("wine_svc").join("model"), &Options::default()).unwrap();
    let bin = w
        .graph
        .children
        .iter()
        .find(|n| n.op == "spark.binarizer" && n.outputs[0].columns.len() == 2)
        .unwrap();
    assert_eq!(
        bin.attrs["thresholds"],
        keel_bundle::Attr::F64s(vec![13.0, 2.0])
    );
    let svc = w
        .graph
        .children
        .iter()
        .find(|n| n.op == "spark.linear")
        .unwrap();
    assert!(matches!(&svc.attrs["model"], keel_bundle::Attr::Str(s) if s == "svc"));
}

/// VectorSlicer `names` resolve on a vector a VectorAssembler built from scalar columns
/// (Spark names each feature after its column), after the explicit indices.
#[test]
fn vector_slicer_names_on_assembled_scalars() {
    let (_tmp, dir) = scratch_of("wine_svc");
    edit_metadata(&stage(&dir, "07_"), |m| {
        m["paramMap"]["inputCol"] = J::from("raw");
        m["paramMap"]["indices"] = J::from(vec![4]);
        m["paramMap"]["names"] = J::from(vec!["f0", "f2"]);
    });
    let b = convert(&dir, &Options::default()).unwrap();
    let sel = b.graph.children.iter().find(|n| n.op == "select").unwrap();
    assert_eq!(sel.attrs["indices"], keel_bundle::Attr::I64s(vec![4, 0, 2]));
    assert_eq!(sel.inputs[0].columns, ["raw"]);
}

/// GLM, MLP, FM and isotonic parameter values the importer cannot reproduce are refused,
/// naming the stage and the value.
#[test]
fn unsupported_glm_mlp_fm_isotonic_values_are_refused() {
    let refused = |prefix: &str, edit: &dyn Fn(&mut J), needle: &str| {
        let (_tmp, dir) = scratch_of("diabetes_glm_mlp_fm");
        let s = stage(&dir, prefix);
        edit_metadata(&s, |m| edit(m));
        let e = err(&dir);
        let text = e.to_string();
        assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
        assert!(text.contains(needle), "{text}");
        assert!(
            text.contains(&*s.file_name().unwrap().to_string_lossy()),
            "{text}"
        );
    };
    refused(
        "02_",
        &|m| m["paramMap"]["link"] = J::from("softplus"),
        "link='softplus'",
    );
    refused(
        "02_",
        &|m| m["paramMap"]["family"] = J::from("negbinomial"),
        "family='negbinomial'",
    );
    // Spark's offset is a numeric scalar column.
    refused(
        "04_",
        &|m| m["paramMap"]["offsetCol"] = J::from("features"),
        "offsetCol `features` must be a numeric column",
    );
    refused(
        "07_",
        &|m| m["paramMap"]["layers"] = J::from(vec![4, 5, 1]),
        "output layer of 1 unit",
    );
    refused(
        "08_",
        &|m| m["paramMap"]["featureIndex"] = J::from(4),
        "featureIndex=4",
    );
    // FMClassificationModel's rawPrediction is its own output port: it cannot be dropped.
    refused(
        "06_",
        &|m| m["paramMap"]["rawPredictionCol"] = J::from(""),
        "rawPredictionCol=''",
    );
}

/// GLM, MLP, FM and isotonic stages carry the exporter's attributes: the GLM family and link
/// Spark resolves (tweedie's power link with its power) and its offset port, the FM task, the
/// isotonic feature index only on a vector input.
#[test]
fn glm_mlp_fm_isotonic_attributes() {
    use keel_bundle::Attr;
    let b = convert(
        &fixture("diabetes_glm_mlp_fm").join("model"),
        &Options::default(),
    )
    .unwrap();
    let ops: Vec<&str> = b.graph.children.iter().map(|n| n.op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "spark.vector_assembler",
            "spark.standard_scaler",
            "spark.glm",
            "spark.glm",
            "spark.glm",
            "spark.fm",
            "spark.fm",
            "spark.mlp",
            "spark.isotonic",
            "spark.isotonic",
        ]
    );
    let node = |i: usize| &b.graph.children[i];
    let s = |a: &Attr| match a {
        Attr::Str(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(s(&node(2).attrs["family"]), "gamma");
    assert_eq!(s(&node(2).attrs["link"]), "log");
    assert!(!node(2).attrs.contains_key("link_power"));
    assert_eq!(s(&node(3).attrs["family"]), "tweedie");
    assert_eq!(s(&node(3).attrs["link"]), "power");
    assert_eq!(node(3).attrs["link_power"], Attr::F64(0.25));
    let ports: Vec<&str> = node(3).outputs.iter().map(|o| o.port.as_str()).collect();
    assert_eq!(ports, ["link_prediction", "prediction"]);
    // Poisson's default link; the offset column binds the op's `offset` port, and a NULL
    // offset gives a NULL prediction.
    assert_eq!(s(&node(4).attrs["link"]), "log");
    let offset = node(4).inputs.iter().find(|b| b.port == "offset").unwrap();
    assert_eq!(offset.columns, ["f2"]);
    let glm_out = |c: &str| b.manifest.outputs.iter().find(|f| f.name == c).unwrap();
    assert!(glm_out("glm_poisson_offset").nullable);
    assert!(!glm_out("glm_gamma").nullable);
    assert_eq!(s(&node(5).attrs["task"]), "regression");
    assert_eq!(s(&node(6).attrs["task"]), "classification");
    assert_eq!(node(7).attrs["layers"], Attr::I64s(vec![4, 5, 3]));
    assert_eq!(node(8).attrs["feature_index"], Attr::I64(1));
    assert!(!node(9).attrs.contains_key("feature_index"));
    // Isotonic on a double column: a NULL input gives a NULL prediction.
    let anti = b
        .manifest
        .outputs
        .iter()
        .find(|f| f.name == "iso_s5_anti")
        .unwrap();
    assert!(anti.nullable);
}

fn hasher_schema() -> Options {
    Options {
        sample_schema: Some(
            "colour STRING, amount DOUBLE, stars INT, member BOOLEAN, k DOUBLE, x DOUBLE, flag DOUBLE"
                .into(),
        ),
        name: None,
    }
}

// -- the text stages and VectorIndexerModel -----------------------------------------------------

/// Replaces stage `prefix`'s data with one parquet file holding `batch`.
fn write_data(dir: &Path, prefix: &str, batch: &RecordBatch) -> PathBuf {
    let data = stage(dir, prefix).join("data");
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("part-00000-x.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    file
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

/// A `categoryMaps` column: feature -> (value, index) pairs.
fn category_maps(maps: &[(i32, &[(f64, i32)])]) -> ArrayRef {
    use arrow_array::builder::{Float64Builder, Int32Builder, MapBuilder};
    let inner = MapBuilder::new(None, Float64Builder::new(), Int32Builder::new());
    let mut b = MapBuilder::new(None, Int32Builder::new(), inner);
    for (f, pairs) in maps {
        b.keys().append_value(*f);
        for (v, i) in *pairs {
            b.values().keys().append_value(*v);
            b.values().values().append_value(*i);
        }
        b.values().append(true).unwrap();
    }
    b.append(true).unwrap();
    Arc::new(b.finish())
}

/// Malformed fitted data of the text stages and VectorIndexerModel gives a typed error naming
/// the stage folder and the field: a missing column, a column of the wrong type, inconsistent
/// category maps.
#[test]
fn text_stage_malformed_data_is_named() {
    let check = |case: &str, prefix: &str, b: RecordBatch, options: &Options, needle: &str| {
        let (_tmp, dir) = scratch_of(case);
        write_data(&dir, prefix, &b);
        let s = stage(&dir, prefix);
        let e = match convert(&dir, options) {
            Ok(_) => panic!("converted malformed data ({needle})"),
            Err(e) => e,
        };
        let text = e.to_string();
        assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
        assert!(text.contains(needle), "{text}");
        assert!(
            text.contains(&*s.file_name().unwrap().to_string_lossy()),
            "{text}"
        );
    };
    let strs = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
    // CountVectorizerModel without its `vocabulary` column.
    check(
        "text_cv_nb_w2v",
        "1_",
        batch(vec![("vocab", strs(&["a"]))]),
        &Options::default(),
        "no `vocabulary` field",
    );
    // Word2VecModel whose `word` column holds numbers, then one missing `vector`.
    check(
        "text_cv_nb_w2v",
        "3_",
        batch(vec![
            ("word", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
            (
                "vector",
                Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
            ),
        ]),
        &Options::default(),
        "`word` is F(1.0), not a string",
    );
    check(
        "text_cv_nb_w2v",
        "3_",
        batch(vec![("word", strs(&["a"]))]),
        &Options::default(),
        "no `vector` field",
    );
    // IDFModel whose `idf` is a plain number, not a vector.
    check(
        "text_tfidf_lr",
        "4_",
        batch(vec![(
            "idf",
            Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        )]),
        &Options::default(),
        "`idf` is not a struct",
    );
    // VectorIndexerModel: `categoryMaps` of the wrong type, indices that skip one, a feature
    // outside the vector.
    let n = || Arc::new(arrow_array::Int32Array::from(vec![3])) as ArrayRef;
    let schema = hasher_schema();
    check(
        "hasher_indexer_tree",
        "3_",
        batch(vec![("numFeatures", n()), ("categoryMaps", strs(&["x"]))]),
        &schema,
        "`categoryMaps` is not a map",
    );
    check(
        "hasher_indexer_tree",
        "3_",
        batch(vec![
            ("numFeatures", n()),
            ("categoryMaps", category_maps(&[(0, &[(0.0, 0), (1.0, 2)])])),
        ]),
        &schema,
        "the category indices of feature 0 are not 0..1",
    );
    check(
        "hasher_indexer_tree",
        "3_",
        batch(vec![
            ("numFeatures", n()),
            ("categoryMaps", category_maps(&[(5, &[(0.0, 0)])])),
        ]),
        &schema,
        "categoryMaps names feature 5, outside the 3 features",
    );
    check(
        "hasher_indexer_tree",
        "3_",
        batch(vec![("categoryMaps", category_maps(&[(0, &[(0.0, 0)])]))]),
        &schema,
        "no `numFeatures` field",
    );
}

/// A VectorIndexerModel whose 0.0 is not category 0 would score differently for dense and
/// sparse vectors in Spark: refused; a valid hand-written map converts to the exporter's
/// attributes.
#[test]
fn vector_indexer_maps() {
    let (_tmp, dir) = scratch_of("hasher_indexer_tree");
    let n = || Arc::new(arrow_array::Int32Array::from(vec![3])) as ArrayRef;
    write_data(
        &dir,
        "3_",
        &batch(vec![
            ("numFeatures", n()),
            ("categoryMaps", category_maps(&[(2, &[(1.0, 0), (0.0, 1)])])),
        ]),
    );
    let e = convert(&dir, &hasher_schema()).err().unwrap();
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("maps 0.0 to index [1]"),
        "{e}"
    );

    let b = convert(
        &fixture("hasher_indexer_tree").join("model"),
        &hasher_schema(),
    )
    .unwrap();
    let vi = b
        .graph
        .children
        .iter()
        .find(|n| n.op == "spark.vector_indexer")
        .unwrap();
    assert_eq!(vi.attrs["features"], keel_bundle::Attr::I64s(vec![0, 2]));
    assert_eq!(
        vi.attrs["categories"],
        keel_bundle::Attr::List(vec![
            keel_bundle::Attr::F64s(vec![0.0, 1.0, 2.0, 3.0]),
            keel_bundle::Attr::F64s(vec![0.0, 1.0]),
        ])
    );
    assert!(matches!(&vi.attrs["handle_invalid"], keel_bundle::Attr::Str(s) if s == "keep"));
    let fh = b
        .graph
        .children
        .iter()
        .find(|n| n.op == "spark.feature_hasher")
        .unwrap();
    // `stars` is an int column listed in categoricalCols; `colour` and `member` are not
    // numeric; `amount` is hashed by name.
    assert_eq!(
        fh.attrs["categorical"],
        keel_bundle::Attr::I64s(vec![1, 0, 1, 1])
    );
    assert_eq!(fh.attrs["num_features"], keel_bundle::Attr::I64(32));
}

/// Parameter values and pipeline shapes the text stages cannot reproduce are refused, naming
/// the stage and the value, before anything is written.
#[test]
fn text_stage_unsupported_values_are_refused() {
    let refused =
        |case: &str, prefix: &str, options: &Options, edit: &dyn Fn(&mut J), needle: &str| {
            let (_tmp, dir) = scratch_of(case);
            let s = stage(&dir, prefix);
            edit_metadata(&s, |m| edit(m));
            let e = match convert(&dir, options) {
                Ok(_) => panic!("converted ({needle})"),
                Err(e) => e,
            };
            let text = e.to_string();
            assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
            assert!(text.contains(needle), "{text}");
            assert!(
                text.contains(&*s.file_name().unwrap().to_string_lossy()),
                "{text}"
            );
        };
    let none = Options::default();
    refused(
        "text_tfidf_lr",
        "0_",
        &none,
        &|m| m["paramMap"]["pattern"] = J::from("\\w+$"),
        "pattern=\"\\\\w+$\"",
    );
    refused(
        "text_tfidf_lr",
        "0_",
        &none,
        &|m| m["paramMap"]["pattern"] = J::from("(?i)a"),
        "pattern=",
    );
    refused(
        "text_tfidf_lr",
        "1_",
        &none,
        &|m| m["defaultParamMap"]["locale"] = J::from("tr_TR"),
        "locale='tr_TR'",
    );
    refused(
        "text_tfidf_lr",
        "3_",
        &none,
        &|m| m["sparkVersion"] = J::from("2.4.8"),
        "sparkVersion='2.4.8'",
    );
    // A double column hashed as `name=value` would need Java's Double.toString.
    refused(
        "hasher_indexer_tree",
        "0_",
        &hasher_schema(),
        &|m| m["paramMap"]["categoricalCols"] = J::from(vec!["stars", "amount"]),
        "categorical column `amount` is floating-point",
    );
    // Without a schema, FeatureHasher cannot tell numeric columns from strings.
    refused(
        "hasher_indexer_tree",
        "0_",
        &none,
        &|_| {},
        "--sample-schema",
    );
    refused(
        "hasher_indexer_tree",
        "3_",
        &hasher_schema(),
        &|m| m["paramMap"]["handleInvalid"] = J::from("skip"),
        "handleInvalid='skip'",
    );
    // Tokens read by a stage that takes none, and text where tokens are needed.
    refused(
        "text_cv_nb_w2v",
        "2_",
        &none,
        &|m| m["paramMap"]["featuresCol"] = J::from("words"),
        "`words`, an array<string> column",
    );
    refused(
        "text_cv_nb_w2v",
        "3_",
        &none,
        &|m| m["paramMap"]["inputCol"] = J::from("text"),
        "must be an array<string>, found utf8",
    );
}

/// FeatureHasher's default 2^18 features assembled into a vector that VectorIndexer (whose op
/// reads dense features) would have to densify: refused naming the reading stage.
#[test]
fn wide_sparse_block_into_a_dense_reader_is_refused() {
    let (_tmp, dir) = scratch_of("hasher_indexer_tree");
    // Drop the linear regression (stage 1) so the hashed block feeds only the assembler.
    let lr = stage(&dir, "1_");
    std::fs::remove_dir_all(&lr).unwrap();
    for (from, to) in [("2_", "1_"), ("3_", "2_"), ("4_", "3_")] {
        let s = stage(&dir, from);
        let name = s
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replacen(from, to, 1);
        std::fs::rename(&s, s.with_file_name(name)).unwrap();
    }
    edit_metadata(&dir, |m| {
        m["paramMap"]["stageUids"].as_array_mut().unwrap().remove(1);
    });
    edit_metadata(&stage(&dir, "0_"), |m| {
        m["paramMap"].as_object_mut().unwrap().remove("numFeatures");
    });
    edit_metadata(&stage(&dir, "1_"), |m| {
        m["paramMap"]["inputCols"] = J::from(vec!["k", "hashed"])
    });
    let e = convert(&dir, &hasher_schema()).err().unwrap();
    let text = e.to_string();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(
        text.contains("reads `raw`, a sparse vector of 262145 features")
            && text.contains("VectorIndexerModel"),
        "{text}"
    );
}

/// A token column as the pipeline's output is declared `list<utf8>` (its values are compared
/// with Spark's by the live saved-model tests); a sparse block wider than the runtime densifies
/// (HashingTF's default 2^18 features) cannot be an output.
#[test]
fn token_outputs_are_lists_and_wide_sparse_outputs_are_refused() {
    let (_tmp, dir) = scratch_of("text_tfidf_lr");
    edit_metadata(&dir, |m| {
        let uids = m["paramMap"]["stageUids"].as_array().unwrap()[..3].to_vec();
        m["paramMap"]["stageUids"] = J::Array(uids);
    });
    let bundle = convert(&dir, &Options::default()).unwrap();
    let outputs = &bundle.manifest.outputs;
    assert_eq!(
        outputs
            .iter()
            .map(|f| (f.name.as_str(), f.dtype.as_str()))
            .collect::<Vec<_>>(),
        vec![("bigrams", "list<utf8>")]
    );
    assert_eq!(bundle.manifest.inputs[0].dtype.as_str(), "utf8");

    let (_tmp2, dir2) = scratch_of("text_tfidf_lr");
    edit_metadata(&dir2, |m| {
        let uids = m["paramMap"]["stageUids"].as_array().unwrap()[..4].to_vec();
        m["paramMap"]["stageUids"] = J::Array(uids);
    });
    edit_metadata(&stage(&dir2, "3_"), |m| {
        m["paramMap"].as_object_mut().unwrap().remove("numFeatures");
    });
    let e = err(&dir2);
    assert!(
        e.to_string()
            .contains("output `tf` is a sparse vector of 262144 features"),
        "{e}"
    );
}

/// A pipeline PySpark's own writer saved (class `pyspark.ml.pipeline.PipelineModel`, as when a
/// stage is Python-only) is read stage by stage: an unknown inner stage is refused by its own
/// class and place, not as the pipeline.
#[test]
fn python_pipeline_names_the_inner_stage() {
    let (_tmp, dir) = scratch();
    edit_metadata(&dir, |m| {
        m["class"] = J::from("pyspark.ml.pipeline.PipelineModel");
        m["paramMap"]["language"] = J::from("Python");
    });
    edit_metadata(&stage(&dir, "7_"), |m| {
        m["class"] = J::from("pyspark.ml.classification.OneVsRestModel")
    });
    let e = err(&dir);
    let text = e.to_string();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(
        text.contains("pyspark.ml.classification.OneVsRestModel") && text.contains("stages[7]"),
        "{text}"
    );
    // Its supported stages convert as from Spark's own writer.
    let (_tmp2, dir2) = scratch();
    edit_metadata(&dir2, |m| {
        m["class"] = J::from("pyspark.ml.pipeline.PipelineModel")
    });
    convert(&dir2, &Options::default()).unwrap();
}
