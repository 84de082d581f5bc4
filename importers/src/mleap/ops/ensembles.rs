//! The tree models: `decision_tree_regression`/`_classifier` (the tree in the node folder),
//! `random_forest_regression`/`_classifier` and `gbt_regression`/`_classifier` (trees in the
//! folders the `trees` attribute lists, each with its own `model` document), all to
//! `spark.tree_ensemble`. Classification trees and forests keep each leaf's class statistics
//! (`num_classes` values); regression trees, and every GBT tree, one prediction.

use super::{classifier_outputs, push_thresholds, vector_in};
use crate::mleap::ImportError;
use crate::mleap::context::{Kind, OpNode, State, one_component};
use crate::mleap::trees::Nodes;
use keel_bundle::Attr;

/// Any of the six tree ops: the ensemble kind and task come from the op's name.
pub(super) fn tree_ensemble(n: &OpNode<'_>, st: &mut State) -> Result<(), ImportError> {
    let (model, dir) = (n.model, n.dir);
    let n_features = model.i64("num_features")?;
    let features = usize::try_from(n_features)
        .ok()
        .filter(|&f| f > 0 && f < (1 << 24))
        .ok_or_else(|| {
            ImportError::malformed(&model.entry, format!("num_features {n_features}"))
        })?;
    let op = model.op.as_str();
    let classification = op.ends_with("_classifier");
    let ensemble = if op.starts_with("decision_tree") {
        "tree"
    } else if op.starts_with("random_forest") {
        "forest"
    } else {
        "gbt"
    };
    let classes = if classification {
        let k = model.i64("num_classes")?;
        let k = usize::try_from(k)
            .ok()
            .filter(|k| (2..(1 << 16)).contains(k))
            .ok_or_else(|| ImportError::malformed(&model.entry, format!("num_classes {k}")))?;
        if ensemble == "gbt" && k != 2 {
            return Err(ImportError::unsupported(
                dir,
                format!("gbt_classifier with {k} classes (Spark's GBT classifier is binary)"),
            ));
        }
        Some(k)
    } else {
        None
    };
    let width = match classes {
        Some(k) if ensemble != "gbt" => k,
        _ => 1,
    };
    // The op of each tree of an ensemble: GBT trees are regression trees.
    let tree_op = if classification && ensemble != "gbt" {
        "decision_tree_classifier"
    } else {
        "decision_tree_regression"
    };
    let mut nodes = Nodes::new();
    let mut weights = Vec::new();
    if ensemble == "tree" {
        let (entry, lines) = n.rd.tree(dir)?;
        nodes.add_tree(&entry, &lines, features, width)?;
    } else {
        let names = model.strs("trees")?;
        if names.is_empty() {
            return Err(ImportError::malformed(
                &model.entry,
                "an ensemble without trees",
            ));
        }
        if model.has("tree_weights") || ensemble == "gbt" {
            weights = model.f64s("tree_weights")?;
            if weights.len() != names.len() {
                return Err(ImportError::malformed(
                    &model.entry,
                    format!("{} tree weights for {} trees", weights.len(), names.len()),
                ));
            }
            // Spark's forests average the trees and ignore the weights, which Spark always
            // sets to 1; other weights would mean some other model.
            if ensemble == "forest" && weights.iter().any(|&x| x != 1.0) {
                return Err(ImportError::unsupported(
                    dir,
                    format!("{op} with tree weights other than 1.0"),
                ));
            }
        }
        for t in &names {
            one_component(
                t,
                format!("{dir}/{t}"),
                "a tree name must be one path component",
            )?;
            let tdir = format!("{dir}/{t}");
            let tm = n.rd.model(&tdir)?;
            if tm.op != tree_op {
                return Err(ImportError::unsupported(
                    &tm.entry,
                    format!("a tree of op `{}` in a {op} (expected {tree_op})", tm.op),
                ));
            }
            let (entry, lines) = n.rd.tree(&tdir)?;
            nodes.add_tree(&entry, &lines, features, width)?;
        }
    }
    let input = n.shape.input("features", dir)?;
    vector_in(st, dir, &input, features)?;
    let mut attrs = vec![
        ("tree_nodes", st.i64_tensor(&nodes.tree_nodes)),
        ("feature", st.i64_tensor(&nodes.feature)),
        (
            "threshold",
            st.f64_tensor(&[nodes.threshold.len()], &nodes.threshold),
        ),
        ("left", st.i64_tensor(&nodes.left)),
        ("right", st.i64_tensor(&nodes.right)),
        ("num_categories", st.i64_tensor(&nodes.num_categories)),
        ("category_offsets", st.i64_tensor(&nodes.category_offsets)),
        ("categories", Attr::F64s(nodes.categories.clone())),
        (
            "leaf_values",
            st.f64_tensor(
                &[nodes.leaf_values.len() / width.max(1), width],
                &nodes.leaf_values,
            ),
        ),
        ("n_features", Attr::I64(n_features)),
        ("ensemble", Attr::Str(ensemble.into())),
        (
            "task",
            Attr::Str(
                if classification {
                    "classification"
                } else {
                    "regression"
                }
                .into(),
            ),
        ),
    ];
    if ensemble == "gbt" {
        attrs.push(("tree_weights", Attr::F64s(weights)));
    }
    let outputs = match classes {
        Some(k) => {
            attrs.push(("num_classes", Attr::I64(k as i64)));
            push_thresholds(model, k, &mut attrs)?;
            classifier_outputs(n.shape, dir, k)?
        }
        None => vec![("prediction", n.shape.output("prediction", dir)?, Kind::F64)],
    };
    st.stage(n, "spark.tree_ensemble", vec![input], outputs, attrs)
}
