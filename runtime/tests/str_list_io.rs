//! `list<utf8>` inputs and outputs (SPEC.md section 2) on hand-built bundles: every Arrow
//! spelling of a list of strings is admitted and brought to `List<Utf8>`; row and element nulls
//! reach the ops as they are (a null list fails where Spark's stage would, naming the column
//! and row; a null token is kept by `StopWordsRemover` as in Spark); any other type is a typed
//! error naming the column; outputs are `List<Utf8>`. Parity of the values with Spark is proven
//! by the `lists_*` fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::builder::{LargeListBuilder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Int64Array, ListArray, NullArray, RecordBatch};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field as ArrowField};
use keel_bundle::{Attr, Bundle, Field, Manifest, Node};
use keel_runtime::{Error, Model, Options, str_list_type};
use std::sync::Arc;

/// `tokens` (list<utf8>) -> StopWordsRemover(["the"]) -> `kept` (list<utf8>), with the input
/// also returned unchanged as an output.
fn model(nullable: bool) -> Model {
    let remover = Node::new("swr", "spark.stop_words_remover")
        .with_input("X", ["tokens"])
        .with_output("Y", ["kept"])
        .with_attr("stop_words", Attr::Strs(vec!["the".into()]))
        .with_attr("case_sensitive", Attr::Bool(false))
        .with_attr("locale", Attr::Str("en_US".into()));
    let manifest = Manifest::new(
        "t",
        "root",
        vec![Field::str_list("tokens", nullable)],
        vec![
            Field::str_list("kept", false),
            Field::str_list("tokens", nullable),
        ],
    );
    let bundle = Bundle::new(manifest, Node::pipeline("root", vec![remover]), Vec::new()).unwrap();
    Model::from_bundle(&bundle, &Options::default()).unwrap()
}

type Rows<'a> = Vec<Option<Vec<Option<&'a str>>>>;

fn list(rows: &Rows<'_>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        match r {
            Some(items) => {
                for t in items {
                    b.values().append_option(*t);
                }
                b.append(true);
            }
            None => b.append_null(),
        }
    }
    Arc::new(b.finish())
}

fn score(m: &Model, col: ArrayRef) -> Result<RecordBatch, Error> {
    let field = ArrowField::new("tokens", col.data_type().clone(), true);
    let batch =
        RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(vec![field])), vec![col]).unwrap();
    m.score(&batch)
}

fn read(col: &ArrayRef) -> Vec<Option<Vec<Option<String>>>> {
    assert_eq!(col.data_type(), &str_list_type());
    let l = col.as_list::<i32>();
    (0..l.len())
        .map(|i| {
            l.is_valid(i).then(|| {
                l.value(i)
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.map(String::from))
                    .collect()
            })
        })
        .collect()
}

fn owned(rows: &Rows<'_>) -> Vec<Option<Vec<Option<String>>>> {
    rows.iter()
        .map(|r| {
            r.as_ref()
                .map(|v| v.iter().map(|s| s.map(String::from)).collect())
        })
        .collect()
}

#[test]
fn list_inputs_and_outputs_round_trip() {
    let m = model(true);
    assert_eq!(m.output_schema().field(0).data_type(), &str_list_type());
    assert_eq!(m.input_schema().field(0).data_type(), &str_list_type());
    let rows: Rows = vec![
        Some(vec![Some("The"), Some("cat"), None, Some("the")]),
        Some(vec![]),
        Some(vec![Some("a")]),
    ];
    let out = score(&m, list(&rows)).unwrap();
    // Case-insensitive removal of "the"; the null token is kept (Spark: null is no stop word).
    assert_eq!(
        read(out.column(0)),
        owned(&vec![
            Some(vec![Some("cat"), None]),
            Some(vec![]),
            Some(vec![Some("a")])
        ])
    );
    assert_eq!(read(out.column(1)), owned(&rows));
}

#[test]
fn every_arrow_spelling_of_a_string_list_is_admitted() {
    let m = model(true);
    let want = owned(&vec![Some(vec![Some("x"), Some("the")]), Some(vec![])]);
    // LargeList<LargeUtf8>.
    let mut b = LargeListBuilder::new(arrow_array::builder::LargeStringBuilder::new());
    b.values().append_value("x");
    b.values().append_value("the");
    b.append(true);
    b.append(true);
    let out = score(&m, Arc::new(b.finish())).unwrap();
    assert_eq!(read(out.column(1)), want);
    // List<Utf8> with a non-nullable item field named `element` (as Parquet and Spark write).
    let values = arrow_array::StringArray::from(vec!["x", "the"]);
    let l = ListArray::new(
        Arc::new(ArrowField::new("element", DataType::Utf8, false)),
        OffsetBuffer::new(vec![0, 2, 2].into()),
        Arc::new(values),
        None,
    );
    let out = score(&m, Arc::new(l)).unwrap();
    assert_eq!(read(out.column(1)), want);
    // A sliced list keeps its rows.
    let big = list(&vec![
        Some(vec![Some("drop")]),
        Some(vec![Some("x"), Some("the")]),
        Some(vec![]),
    ]);
    let out = score(&m, big.slice(1, 2)).unwrap();
    assert_eq!(read(out.column(1)), want);
    // List<Null>: what Arrow infers for lists that are all empty.
    let l = ListArray::new(
        Arc::new(ArrowField::new("item", DataType::Null, true)),
        OffsetBuffer::new(vec![0, 0, 0].into()),
        Arc::new(NullArray::new(0)),
        None,
    );
    let out = score(&m, Arc::new(l)).unwrap();
    assert_eq!(
        read(out.column(0)),
        owned(&vec![Some(vec![]), Some(vec![])])
    );
}

#[test]
fn a_null_list_is_refused_naming_column_and_row() {
    let rows: Rows = vec![Some(vec![Some("a")]), None];
    // Declared nullable: the stage refuses it, as Spark's StopWordsRemover fails on null.
    match score(&model(true), list(&rows)) {
        Err(Error::Missing { column, row, .. }) => {
            assert_eq!((column.as_str(), row), ("tokens", 1));
        }
        other => panic!("{other:?}"),
    }
    // Declared not nullable: refused by the input schema.
    match score(&model(false), list(&rows)) {
        Err(Error::Missing { column, row, node }) => {
            assert_eq!((column.as_str(), row), ("tokens", 1));
            assert!(node.contains("input schema"), "{node}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_types_are_refused_naming_the_column() {
    let m = model(true);
    let ints = ListArray::new(
        Arc::new(ArrowField::new("item", DataType::Int64, true)),
        OffsetBuffer::new(vec![0, 1].into()),
        Arc::new(Int64Array::from(vec![3])),
        None,
    );
    let plain = Arc::new(arrow_array::StringArray::from(vec!["a b"])) as ArrayRef;
    for col in [Arc::new(ints) as ArrayRef, plain] {
        match score(&m, col) {
            Err(e @ Error::ColumnType { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("tokens") && text.contains("list<utf8>"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A bundle whose `tokens` input (list<utf8>) is read by `op` on port `X` and whose one output
/// `out` is declared as `out_field`.
fn plan_with(op: &str, attrs: Vec<(&str, Attr)>, out_field: Field) -> Result<Model, Error> {
    let node = attrs.into_iter().fold(
        Node::new("n", op)
            .with_input("X", ["tokens"])
            .with_output("Y", ["out"]),
        |n, (k, v)| n.with_attr(k, v),
    );
    let manifest = Manifest::new(
        "t",
        "root",
        vec![Field::str_list("tokens", true)],
        vec![out_field],
    );
    Model::from_bundle(
        &Bundle::new(manifest, Node::pipeline("root", vec![node]), Vec::new())?,
        &Options::default(),
    )
}

#[test]
fn misused_list_columns_are_refused_at_load() {
    // A list input where an op reads a string column, or numbers: a plan error naming it.
    let err = plan_with("spark.tokenizer", vec![], Field::str_list("out", false)).unwrap_err();
    assert!(
        matches!(err, Error::Plan { .. }) && err.to_string().contains("tokens"),
        "{err}"
    );
    let err = plan_with(
        "sklearn.standard_scaler",
        vec![
            ("mean", Attr::F64s(vec![0.0])),
            ("scale", Attr::F64s(vec![1.0])),
        ],
        Field::scalar("out", keel_bundle::DType::F64, false),
    )
    .unwrap_err();
    assert!(err.to_string().contains("tokens"), "{err}");
    // An output declared list<utf8> that the graph writes as another kind, and the reverse.
    let err = plan_with(
        "spark.hashing_tf",
        vec![
            ("num_features", Attr::I64(8)),
            ("binary", Attr::Bool(false)),
        ],
        Field::str_list("out", false),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`out`"), "{err}");
    let err = plan_with(
        "spark.ngram",
        vec![("n", Attr::I64(2))],
        Field::scalar("out", keel_bundle::DType::Utf8, false),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`out`"), "{err}");
}
