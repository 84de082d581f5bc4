//! Inputs the fuzz targets (`fuzz/`, FUZZING.md) found to crash the planner or a kernel, each
//! kept as a test named after what broke: the fixture it started from, the mutation, and the
//! answer keel must give instead (a typed error at load, never a panic).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_bundle::{Attr, Bundle, Node};
use keel_runtime::{Model, Options};
use std::path::PathBuf;

fn fixture(path: &str) -> Bundle {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(path);
    Bundle::from_bytes(&std::fs::read(&p).unwrap()).unwrap_or_else(|e| panic!("{p:?}: {e}"))
}

/// The first node (pre-order) running `op`.
fn node_mut<'a>(n: &'a mut Node, op: &str) -> Option<&'a mut Node> {
    if n.op == op {
        return Some(n);
    }
    n.children.iter_mut().find_map(|c| node_mut(c, op))
}

/// `spark.tree_ensemble` multiplied its node count by the bundle's `num_classes` unchecked:
/// a huge class count overflowed (a panic under overflow checks, a wrapped length check
/// without them) before the leaf values were checked. Found by the `graph` target.
#[test]
fn tree_ensemble_num_classes_overflowing_the_leaf_count_is_refused() {
    // A random forest classifier keeps one statistic per class in each leaf.
    let mut bundle = fixture("spark/wine_rf_classifier/model.keel");
    let node = node_mut(&mut bundle.graph, "spark.tree_ensemble").expect("a tree ensemble node");
    assert!(
        node.attrs.contains_key("num_classes"),
        "{:?}",
        node.attrs.keys()
    );
    node.attrs.insert("num_classes".into(), Attr::I64(i64::MAX));
    // Before the fix this panicked (tests build with overflow checks) instead of answering.
    let err = Model::from_bundle(&bundle, &Options::default()).unwrap_err();
    assert!(matches!(err, keel_runtime::Error::Plan { .. }), "{err}");
}

/// `sklearn.tree_ensemble` allocated its `n_targets` starting values (averaged forests)
/// before anything bounded the count: `n_targets` = 2^31 asked for 16 GiB at load. The count
/// is now refused when it exceeds what the trees write. Found by the `graph` target.
#[test]
fn tree_ensemble_n_targets_beyond_what_the_trees_write_is_refused_before_allocating() {
    let mut bundle = fixture("sklearn/diabetes_extra_trees/model.keel");
    let node = node_mut(&mut bundle.graph, "sklearn.tree_ensemble").expect("a tree ensemble node");
    assert!(
        node.attrs.contains_key("n_targets"),
        "{:?}",
        node.attrs.keys()
    );
    node.attrs.insert("n_targets".into(), Attr::I64(1 << 31));
    let err = Model::from_bundle(&bundle, &Options::default()).unwrap_err();
    assert!(err.to_string().contains("n_targets"), "{err}");
}
