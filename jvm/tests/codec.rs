//! The JVM engine's batch codec without a JVM: Arrow IPC messages in Spark's layout go in,
//! answers in Spark's layout come out, checked against Spark's own outputs recorded in
//! fixtures/spark (the live Spark tests in exporters/tests/test_spark_runtime.py run the same
//! path inside real executors). Plus the typed errors for malformed plans, bytes and rows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int8Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch, StringArray};
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteOptions, write_message};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use keel_jvm::codec::{JvmError, Scorer, encode, vector_udt_type};
use keel_runtime::tolerance::Tolerance;
use serde_json::Value as Json;

fn fixture(case: &str) -> (Vec<u8>, Json) {
    let dir = format!("{}/../fixtures/spark/{case}", env!("CARGO_MANIFEST_DIR"));
    let bundle = std::fs::read(format!("{dir}/model.keel")).expect("fixture bundle");
    let io = std::fs::read_to_string(format!("{dir}/io.json")).expect("fixture io.json");
    (bundle, serde_json::from_str(&io).expect("io.json"))
}

fn schema_message(schema: &Schema) -> Vec<u8> {
    let options = IpcWriteOptions::default();
    let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut DictionaryTracker::new(false),
        &options,
    );
    let mut out = Vec::new();
    write_message(&mut out, encoded, &options).expect("schema message");
    out
}

/// Reads an answer message as Spark would, with the output schema it planned.
fn decode(schema: SchemaRef, message: Vec<u8>) -> RecordBatch {
    let mut decoder = StreamDecoder::new();
    let mut head = Buffer::from_vec(schema_message(&schema));
    assert!(decoder.decode(&mut head).expect("schema").is_none());
    let mut body = Buffer::from_vec(message);
    decoder
        .decode(&mut body)
        .expect("answer decodes")
        .expect("a batch")
}

fn floats(v: &Json) -> Vec<Option<f64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| match x {
            Json::Number(n) => n.as_f64(),
            Json::String(s) => s.parse().ok(),
            _ => None,
        })
        .collect()
}

/// The iris multinomial pipeline's four inputs, an `id` column kept in front and the
/// reference outputs Spark recorded.
fn iris() -> (Vec<u8>, Json, RecordBatch) {
    let (bundle, io) = fixture("iris_logreg_multinomial");
    let names = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
    let rows = io["inputs"][names[0]].as_array().expect("rows").len();
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(0..rows as i64))];
    for n in names {
        fields.push(Field::new(n, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from(floats(&io["inputs"][n]))));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    (bundle, io, batch)
}

const IRIS_SPEC: &str =
    r#"{"keep": 5, "inputs": [1, 2, 3, 4], "outputs": ["probability", "prediction"]}"#;

#[test]
fn answers_match_spark_in_sparks_layout() {
    let (bundle, io, batch) = iris();
    let scorer = Scorer::new(&bundle, &schema_message(&batch.schema()), IRIS_SPEC).expect("load");
    let (answer, rows) = scorer
        .score_message(encode(&batch).expect("encode"))
        .expect("score");
    assert_eq!(rows, batch.num_rows());

    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("probability", vector_udt_type(), true));
    fields.push(Field::new("prediction", DataType::Float64, true));
    let out = decode(Arc::new(Schema::new(fields)), answer);

    // Kept columns come back as they went.
    for i in 0..5 {
        assert_eq!(
            out.column(i).as_ref(),
            batch.column(i).as_ref(),
            "kept column {i}"
        );
    }
    // Probability as a dense VectorUDT: type 1, size and indices null, values = Spark's.
    let proba = out.column(5).as_struct();
    let kind = proba.column(0).as_primitive::<Int8Type>();
    assert!(kind.iter().all(|k| k == Some(1)));
    assert_eq!(proba.column(1).null_count(), rows);
    assert_eq!(proba.column(2).null_count(), rows);
    let values = proba.column(3).as_list::<i32>();
    let tol = Tolerance::by_name("probability").expect("tolerance");
    let want = io["outputs"]["probability"].as_array().expect("rows");
    for (r, want_row) in want.iter().enumerate() {
        let got = values.value(r);
        let got = got.as_primitive::<Float64Type>();
        let want_row = floats(want_row);
        assert_eq!(got.len(), want_row.len());
        for (g, w) in got.values().iter().zip(&want_row) {
            let w = w.expect("reference value");
            assert!(tol.accepts(*g, w), "row {r}: keel {g} vs Spark {w}");
        }
    }
    let prediction = out.column(6).as_primitive::<Float64Type>();
    assert_eq!(
        prediction.iter().collect::<Vec<_>>(),
        floats(&io["outputs"]["prediction"])
    );
}

#[test]
fn outputs_only_and_empty_batches() {
    let (bundle, _, batch) = iris();
    let spec = r#"{"keep": 0, "inputs": [1, 2, 3, 4], "outputs": ["prediction"]}"#;
    let scorer = Scorer::new(&bundle, &schema_message(&batch.schema()), spec).expect("load");
    let out = scorer.score_batch(&batch).expect("score");
    assert_eq!(out.num_columns(), 1);
    assert_eq!(out.num_rows(), batch.num_rows());
    // An empty partition's batch answers with zero rows of the planned types.
    let empty = scorer.score_batch(&batch.slice(0, 0)).expect("empty");
    assert_eq!((empty.num_rows(), empty.num_columns()), (0, 1));
    assert_eq!(empty.column(0).data_type(), &DataType::Float64);
}

/// A hand-built bundle with one vector input `v` (f64[3]) and Spark's L1 `Normalizer` on it:
/// no fixture has a vector input (exported pipelines start from raw columns).
fn normalizer_bundle() -> Vec<u8> {
    use keel_bundle::{Attr, Bundle, DType, Encoding, Field as KField, Manifest, Node};
    let norm = Node::new("norm", "spark.normalizer")
        .with_input("X", ["v"])
        .with_output("Y", ["n"])
        .with_attr("p", Attr::F64(1.0));
    let manifest = Manifest::new(
        "normalizer",
        "root",
        vec![KField::vector("v", DType::F64, 3)],
        vec![KField::vector("n", DType::F64, 3)],
    );
    Bundle::new(manifest, Node::pipeline("root", vec![norm]), Vec::new())
        .expect("bundle")
        .to_bytes(Encoding::Json)
        .expect("bytes")
}

#[test]
fn vector_inputs_arrive_as_arrays_and_wrong_lengths_name_the_row() {
    let bundle = normalizer_bundle();
    let rows = vec![
        Some(vec![Some(1.0), Some(3.0), Some(4.0)]),
        Some(vec![Some(1.0), Some(1.0)]),
    ];
    let list = ListArray::from_iter_primitive::<Float64Type, _, _>(rows);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "v",
        list.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(list)]).expect("batch");
    let spec = r#"{"keep": 0, "inputs": [0], "outputs": ["n"]}"#;
    let scorer = Scorer::new(&bundle, &schema_message(&schema), spec).expect("load");
    let err = scorer
        .score_message(encode(&batch).expect("encode"))
        .expect_err("row 1 is one value short");
    assert!(matches!(err, JvmError::VectorWidth { row: 1, .. }), "{err}");
    // Rows count from the batch's start within the partition.
    let err = err.offset_rows(1000);
    let text = err.to_string();
    assert!(
        text.contains("row 1001, column `v`: expected a vector of 3 values, found 2"),
        "{text}"
    );
    // The exception Spark sees leads with the code the Python engine's BadValueError has.
    assert_eq!(err.code(), "bad_value");
    assert_eq!(err.exception_message(), format!("[bad_value] {text}"));
    // The good row scores: an array<double> became the bundle's vector, and the answer a
    // VectorUDT (the L1 norm of (1, 3, 4) is 8).
    let out = scorer.score_batch(&batch.slice(0, 1)).expect("score");
    let values = out
        .column(0)
        .as_struct()
        .column(3)
        .as_list::<i32>()
        .value(0);
    assert_eq!(
        values.as_primitive::<Float64Type>().values().to_vec(),
        vec![1.0 / 8.0, 3.0 / 8.0, 4.0 / 8.0]
    );
}

#[test]
fn a_refused_row_is_keels_error_counted_within_the_partition() {
    let (bundle, io) = fixture("mixed_onehot_droplast_error");
    let model = keel_runtime::Model::from_bytes(&bundle).expect("bundle");
    let input = model.input_schema();
    let rows = io["inputs"]["age"].as_array().expect("rows").len();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut fields = Vec::new();
    for f in input.fields() {
        let values = &io["inputs"][f.name()];
        let col: ArrayRef = match f.data_type() {
            DataType::Utf8 => {
                let mut v: Vec<Option<String>> = values
                    .as_array()
                    .expect("rows")
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect();
                if f.name() == "room" {
                    v[7] = Some("castle".into());
                }
                Arc::new(StringArray::from(v))
            }
            DataType::Int64 => Arc::new(Int64Array::from(
                values
                    .as_array()
                    .expect("rows")
                    .iter()
                    .map(Json::as_i64)
                    .collect::<Vec<_>>(),
            )),
            _ => Arc::new(Float64Array::from(floats(values))),
        };
        fields.push(Field::new(f.name(), col.data_type().clone(), true));
        columns.push(col);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    assert_eq!(batch.num_rows(), rows);
    let spec = format!(
        r#"{{"keep": 0, "inputs": [{}], "outputs": ["features"]}}"#,
        (0..input.fields().len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let scorer = Scorer::new(&bundle, &schema_message(&batch.schema()), &spec).expect("load");
    let err = scorer
        .score_message(encode(&batch).expect("encode"))
        .expect_err("an unseen room with handleInvalid=error");
    let text = err.offset_rows(500).exception_message();
    assert!(
        text.starts_with("[unknown_category] row 507")
            && text.contains("`room`")
            && text.contains("castle"),
        "{text}"
    );
}

#[test]
fn malformed_plans_and_bytes_are_typed_errors() {
    let (bundle, _, batch) = iris();
    let schema = schema_message(&batch.schema());
    let cases = [
        ("not json", "bad scoring plan"),
        (
            r#"{"keep": 0, "inputs": [1, 2], "outputs": []}"#,
            "2 input columns given for a bundle with 4 inputs",
        ),
        (
            r#"{"keep": 0, "inputs": [1, 2, 3, 9], "outputs": []}"#,
            "input column index 9 beyond the frame's 5 columns",
        ),
        (
            r#"{"keep": 0, "inputs": [1, 2, 3, 4], "outputs": ["price"]}"#,
            "the bundle has no output `price`",
        ),
        (
            r#"{"keep": 6, "inputs": [1, 2, 3, 4], "outputs": []}"#,
            "more kept columns than the frame has",
        ),
    ];
    for (spec, want) in cases {
        let err = Scorer::new(&bundle, &schema, spec).err().expect(spec);
        assert!(matches!(err, JvmError::Spec(_)), "{spec}: {err}");
        assert!(
            err.exception_message().starts_with("[jvm_spec] "),
            "{spec}: {err}"
        );
        assert!(err.to_string().contains(want), "{spec}: {err}");
    }
    // A bundle that is not one; a schema message that is not one.
    let err = Scorer::new(b"PK\x03\x04 not a zip", &schema, IRIS_SPEC)
        .err()
        .expect("bundle");
    assert!(matches!(err, JvmError::Runtime(_)), "{err}");
    assert!(Scorer::new(&bundle, b"\xff\xff\xff\xff\x04\x00\x00\x00abcd", IRIS_SPEC).is_err());

    let scorer = Scorer::new(&bundle, &schema, IRIS_SPEC).expect("load");
    let good = encode(&batch).expect("encode");
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        (
            "garbage",
            vec![0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        ),
        ("two batches", [good.clone(), good.clone()].concat()),
    ] {
        let err = scorer.score_message(bytes).expect_err(what);
        assert!(matches!(err, JvmError::Ipc(_)), "{what}: {err}");
    }
    // A message of another schema (one column, where five were announced).
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)])),
        vec![Arc::new(Float64Array::from(vec![1.0]))],
    )
    .expect("batch");
    assert!(
        scorer
            .score_message(encode(&other).expect("encode"))
            .is_err()
    );
}

/// Spark's `array<bigint>` of `rows`.
fn int64_lists(rows: &[Vec<i64>]) -> ListArray {
    ListArray::from_iter_primitive::<Int64Type, _, _>(
        rows.iter()
            .map(|r| Some(r.iter().map(|&x| Some(x)).collect::<Vec<_>>())),
    )
}

/// DLRM's inputs as Spark sends them: `dense` an `array<double>` (f32[4] in the bundle) and
/// `sparse` an `array<array<bigint>>` (i64[3, 3]), from fixtures/pytorch/dlrm.
fn dlrm_batch(io: &Json, bad_inner_row: Option<usize>) -> RecordBatch {
    let dense: Vec<Option<Vec<Option<f64>>>> = io["inputs"]["dense"]["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| Some(floats(r)))
        .collect();
    let dense = ListArray::from_iter_primitive::<Float64Type, _, _>(dense);
    let rows: Vec<Vec<Vec<i64>>> =
        serde_json::from_value(io["inputs"]["sparse"]["data"].clone()).expect("sparse ids");
    let mut inner = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        for (k, ids) in row.iter().enumerate() {
            let mut ids = ids.clone();
            if bad_inner_row == Some(r) && k == 1 {
                ids.pop();
            }
            inner.push(ids);
        }
    }
    let inner = int64_lists(&inner);
    let item = Arc::new(Field::new("element", inner.data_type().clone(), true));
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(rows.iter().map(Vec::len));
    let sparse = ListArray::try_new(item, offsets, Arc::new(inner), None).expect("nested");
    let schema = Schema::new(vec![
        Field::new("dense", dense.data_type().clone(), true),
        Field::new("sparse", sparse.data_type().clone(), true),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(dense), Arc::new(sparse)]).expect("batch")
}

fn dlrm() -> (Vec<u8>, Json) {
    let dir = format!("{}/../fixtures/pytorch/dlrm", env!("CARGO_MANIFEST_DIR"));
    let bundle = std::fs::read(format!("{dir}/model.keel")).expect("fixture bundle");
    let io = std::fs::read_to_string(format!("{dir}/io.json")).expect("fixture io.json");
    (bundle, serde_json::from_str(&io).expect("io.json"))
}

#[test]
fn tensor_inputs_read_sparks_nested_arrays_and_outputs_are_float_arrays() {
    let (bundle, io) = dlrm();
    let batch = dlrm_batch(&io, None);
    let spec = r#"{"keep": 0, "inputs": [0, 1], "outputs": ["output"]}"#;
    let scorer = Scorer::new(&bundle, &schema_message(&batch.schema()), spec).expect("load");
    let (answer, rows) = scorer
        .score_message(encode(&batch).expect("encode"))
        .expect("score");
    assert_eq!(rows, batch.num_rows());
    // Spark's array<float> (ArrowUtils: a List whose child is `element`, containsNull false):
    // the answer decodes with exactly that schema.
    let spark = DataType::List(Arc::new(Field::new("element", DataType::Float32, false)));
    let out = decode(
        Arc::new(Schema::new(vec![Field::new("output", spark.clone(), true)])),
        answer,
    );
    assert_eq!(
        scorer
            .score_batch(&batch.slice(0, 0))
            .expect("empty")
            .schema()
            .field(0)
            .data_type(),
        &spark
    );
    let tol = Tolerance::by_name("onnx_f32").expect("tolerance");
    let got = out.column(0).as_list::<i32>();
    let want: Vec<Vec<f64>> =
        serde_json::from_value(io["outputs"]["output"].clone()).expect("reference");
    for (r, want_row) in want.iter().enumerate() {
        let row = got.value(r);
        let row = row.as_primitive::<Float32Type>();
        assert_eq!(row.len(), want_row.len());
        for (g, w) in row.values().iter().zip(want_row) {
            assert!(
                tol.accepts(f64::from(*g), *w),
                "row {r}: keel {g} vs PyTorch {w}"
            );
        }
    }

    // A row whose second id list is one short: the runtime's tensor_shape error, naming the
    // column, the row within the partition and the axis.
    let bad = dlrm_batch(&io, Some(5));
    let err = scorer
        .score_message(encode(&bad).expect("encode"))
        .expect_err("row 5 is short")
        .offset_rows(100);
    assert_eq!(err.code(), "tensor_shape");
    let text = err.exception_message();
    assert!(
        text.starts_with(
            "[tensor_shape] row 105, column `sparse`: expected shape i64[3, 3], found 2 elements on axis 1"
        ),
        "{text}"
    );
}

/// `image.to_tensor` reading Spark's image struct parts (inputs `image.data`, `image.height`,
/// `image.width`, `image.nChannels`: what `keel.images.preprocess(source="spark")` writes and
/// the driver feeds from the struct's fields), or encoded bytes (input `content`), centre
/// cropped to 2 x 2 and scaled by 1/255: output `pixels`, f32[3, 2, 2].
fn image_bundle(raw: bool) -> Vec<u8> {
    use keel_bundle::{Attr, Bundle, DType, Encoding, Field as KField, Manifest, Node};
    let mut node = Node::new("prep", "image.to_tensor")
        .with_output("Y", ["pixels"])
        .with_attr("crop", Attr::I64s(vec![2, 2]));
    let inputs = if raw {
        for (port, part) in [
            ("data", "data"),
            ("height", "height"),
            ("width", "width"),
            ("channels", "nChannels"),
        ] {
            node = node.with_input(port, [format!("image.{part}")]);
        }
        vec![
            KField::scalar("image.data", DType::Binary, true),
            KField::scalar("image.height", DType::I32, true),
            KField::scalar("image.width", DType::I32, true),
            KField::scalar("image.nChannels", DType::I32, true),
        ]
    } else {
        node = node.with_input("bytes", ["content"]);
        vec![KField::scalar("content", DType::Binary, true)]
    };
    let manifest = Manifest::new(
        "images",
        "root",
        inputs,
        vec![KField::tensor("pixels", DType::F32, vec![3, 2, 2])],
    );
    Bundle::new(manifest, Node::pipeline("root", vec![node]), Vec::new())
        .expect("bundle")
        .to_bytes(Encoding::Json)
        .expect("bytes")
}

/// A binary column as Spark sends it: Arrow `Binary`, or `LargeBinary` under
/// `spark.sql.execution.arrow.useLargeVarTypes`.
fn binary(rows: &[&[u8]], large: bool) -> ArrayRef {
    if large {
        Arc::new(arrow_array::LargeBinaryArray::from_iter_values(rows))
    } else {
        Arc::new(arrow_array::BinaryArray::from_iter_values(rows))
    }
}

#[test]
fn spark_image_parts_and_file_bytes_reach_the_runtime_binary_or_large_binary() {
    use arrow_array::Int32Array;
    // A 2 x 2 image in Spark's layout: row-major, BGR.
    let good: &[u8] = &[10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120];
    let short: &[u8] = &good[..11];
    let scorer_for = |bundle: &[u8], batch: &RecordBatch, spec: &str| {
        Scorer::new(bundle, &schema_message(&batch.schema()), spec).expect("load")
    };
    for large in [false, true] {
        let data = binary(&[good, short], large);
        let ints = || -> ArrayRef { Arc::new(Int32Array::from(vec![2, 2])) };
        let fields = vec![
            Field::new("id", DataType::Int64, false),
            Field::new("__keel_input_0", data.data_type().clone(), true),
            Field::new("__keel_input_1", DataType::Int32, true),
            Field::new("__keel_input_2", DataType::Int32, true),
            Field::new("__keel_input_3", DataType::Int32, true),
        ];
        let columns = vec![
            Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef,
            data,
            ints(),
            ints(),
            Arc::new(Int32Array::from(vec![3, 3])),
        ];
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
        let bundle = image_bundle(true);
        let spec = r#"{"keep": 1, "inputs": [1, 2, 3, 4], "outputs": ["pixels"]}"#;
        let scorer = scorer_for(&bundle, &batch, spec);
        // The good row: RGB planes of the 2 x 2 image, as Spark's array<array<array<float>>>.
        let out = scorer.score_batch(&batch.slice(0, 1)).expect("score");
        assert_eq!(out.column(0).as_primitive::<Int64Type>().value(0), 7);
        let planes = out.column(1).as_list::<i32>().value(0);
        let planes = planes.as_list::<i32>();
        let mut got = Vec::new();
        for c in 0..3 {
            let rows = planes.value(c);
            let rows = rows.as_list::<i32>();
            for y in 0..2 {
                let row = rows.value(y);
                got.extend(row.as_primitive::<Float32Type>().values().iter().copied());
            }
        }
        let want: Vec<f32> = [30, 60, 90, 120, 20, 50, 80, 110, 10, 40, 70, 100]
            .iter()
            .map(|&v| (f64::from(v) * (1.0 / 255.0)) as f32)
            .collect();
        assert_eq!(got, want, "large_binary: {large}");
        // The short row: the runtime's bad_value, naming the input and the partition's row.
        let err = scorer
            .score_message(encode(&batch).expect("encode"))
            .expect_err("row 1 is 1 byte short")
            .offset_rows(10);
        assert_eq!(err.code(), "bad_value");
        let text = err.exception_message();
        assert!(
            text.starts_with("[bad_value] row 11, column `image.data`"),
            "{text}"
        );

        // Encoded file bytes (binaryFile's `content`): a PNG scores, bytes that are no image
        // are the same typed error.
        let png = std::fs::read(format!(
            "{}/../fixtures/images/rgb.png",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("png");
        let content = binary(&[&png, b"GIF89a junk"], large);
        let schema = Schema::new(vec![Field::new(
            "content",
            content.data_type().clone(),
            true,
        )]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![content]).expect("batch");
        let bundle = image_bundle(false);
        let scorer = scorer_for(
            &bundle,
            &batch,
            r#"{"keep": 0, "inputs": [0], "outputs": ["pixels"]}"#,
        );
        assert_eq!(
            scorer
                .score_batch(&batch.slice(0, 1))
                .expect("png")
                .num_rows(),
            1
        );
        let err = scorer
            .score_message(encode(&batch).expect("encode"))
            .expect_err("junk");
        let text = err.exception_message();
        assert!(
            text.starts_with("[bad_value] row 1, column `content`"),
            "{text}"
        );
    }
}
