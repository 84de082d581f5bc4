//! Planning rules for Spark's text ops and sparse blocks, on hand-built bundles: a sparse block
//! wider than `DENSIFY_LIMIT` is refused by name where an op reads dense features or where it
//! is an output; a narrower one is densified for such an op; a NULL text is a typed error
//! naming the column and row (Spark fails the task); a malformed filled matrix is refused at
//! load. Parity of the values with Spark is proven by the `text_*` fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use keel_bundle::{Attr, Bundle, DType, Field, Manifest, Node};
use keel_runtime::{DENSIFY_LIMIT, Error, Model, Options};
use std::sync::Arc;

fn node(name: &str, op: &str, x: &[&str], y: (&str, &[&str]), attrs: Vec<(&str, Attr)>) -> Node {
    attrs.into_iter().fold(
        Node::new(name, op)
            .with_input("X", x.iter().copied())
            .with_output(y.0, y.1.iter().copied()),
        |n, (k, v)| n.with_attr(k, v),
    )
}

fn plan(children: Vec<Node>, outputs: Vec<Field>) -> Result<Model, Error> {
    let manifest = Manifest::new(
        "t",
        "root",
        vec![Field::scalar("text", DType::Utf8, true)],
        outputs,
    );
    Model::from_bundle(
        &Bundle::new(manifest, Node::pipeline("root", children), Vec::new())?,
        &Options::default(),
    )
}

fn tokenize_and_hash(n: i64) -> Vec<Node> {
    vec![
        node(
            "tok",
            "spark.tokenizer",
            &["text"],
            ("Y", &["words"]),
            vec![],
        ),
        node(
            "tf",
            "spark.hashing_tf",
            &["words"],
            ("Y", &["tf"]),
            vec![
                ("num_features", Attr::I64(n)),
                ("binary", Attr::Bool(false)),
            ],
        ),
    ]
}

fn score(model: &Model, texts: &[Option<&str>]) -> Result<RecordBatch, Error> {
    let col: ArrayRef = Arc::new(StringArray::from(texts.to_vec()));
    model.score(&RecordBatch::try_new(model.input_schema(), vec![col]).unwrap())
}

fn rows(batch: &RecordBatch, col: &str) -> Vec<Vec<f64>> {
    let a = batch.column_by_name(col).unwrap().as_fixed_size_list();
    (0..a.len())
        .map(|i| a.value(i).as_primitive::<Float64Type>().values().to_vec())
        .collect()
}

#[test]
fn wide_sparse_block_into_a_dense_op_is_refused_by_name() {
    let mut nodes = tokenize_and_hash(1 << 18);
    nodes.push(node(
        "norm",
        "spark.normalizer",
        &["tf"],
        ("Y", &["n"]),
        vec![("p", Attr::F64(1.0))],
    ));
    let e = plan(nodes, vec![Field::vector("n", DType::F64, 1 << 18)]).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Plan { .. }), "{msg}");
    assert!(
        msg.contains("`tf`") && msg.contains(&DENSIFY_LIMIT.to_string()),
        "{msg}"
    );
}

#[test]
fn wide_sparse_output_is_refused() {
    let e = plan(
        tokenize_and_hash(1 << 18),
        vec![Field::vector("tf", DType::F64, 1 << 18)],
    )
    .unwrap_err();
    assert!(e.to_string().contains("sparse vector of 262144"), "{e}");
}

#[test]
fn narrow_sparse_block_is_densified_for_a_dense_op() {
    let mut nodes = tokenize_and_hash(16);
    nodes.push(node(
        "norm",
        "spark.normalizer",
        &["tf"],
        ("Y", &["n"]),
        vec![("p", Attr::F64(1.0))],
    ));
    let model = plan(
        nodes,
        vec![
            Field::vector("tf", DType::F64, 16),
            Field::vector("n", DType::F64, 16),
        ],
    )
    .unwrap();
    let out = score(&model, &[Some("a b a"), Some(""), Some("c")]).unwrap();
    let (tf, n) = (rows(&out, "tf"), rows(&out, "n"));
    for (t, n) in tf.iter().zip(&n) {
        // Three tokens per row at most, all counted: the L1-normalised row is tf / sum(tf).
        let sum: f64 = t.iter().sum();
        assert!(sum >= 1.0, "{t:?}");
        for (a, b) in t.iter().zip(n) {
            assert_eq!(a / sum, *b);
        }
    }
    // "" is one empty token (Java's split), which is hashed and counted.
    assert_eq!(tf[1].iter().sum::<f64>(), 1.0);
    assert_eq!(tf[0].iter().sum::<f64>(), 3.0);
}

#[test]
fn null_text_names_column_and_row() {
    let model = plan(
        tokenize_and_hash(8),
        vec![Field::vector("tf", DType::F64, 8)],
    )
    .unwrap();
    let e = score(&model, &[Some("ok"), None]).unwrap_err();
    assert!(
        matches!(&e, Error::Missing { column, row: 1, .. } if column == "text"),
        "{e}"
    );
}

#[test]
fn malformed_filled_matrix_is_refused() {
    let filled = |index: Vec<i64>| {
        Attr::List(vec![
            Attr::F64s(vec![1.0]),
            Attr::I64s(index),
            Attr::F64s(vec![2.0, 3.0]),
        ])
    };
    for (index, needle) in [
        (vec![3, 1], "not increasing"),
        (vec![1, 99], "out of range"),
        (vec![1], "indices for"),
    ] {
        let mut nodes = tokenize_and_hash(8);
        nodes.push(node(
            "idf",
            "spark.idf",
            &["tf"],
            ("Y", &["w"]),
            vec![("idf", filled(index))],
        ));
        let e = plan(nodes, vec![Field::vector("w", DType::F64, 8)]).unwrap_err();
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
}

#[test]
fn unsupported_regex_is_refused_at_load() {
    let nodes = vec![node(
        "tok",
        "spark.regex_tokenizer",
        &["text"],
        ("Y", &["words"]),
        vec![
            ("pattern", Attr::Str(r"\bword".into())),
            ("gaps", Attr::Bool(true)),
            ("min_token_length", Attr::I64(1)),
            ("to_lowercase", Attr::Bool(true)),
        ],
    )];
    let e = plan(nodes, vec![]).unwrap_err();
    assert!(e.to_string().contains("escape"), "{e}");
}
