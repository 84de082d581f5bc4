//! The tree models (DecisionTree, RandomForest and GBT, classification and regression) to
//! `spark.tree_ensemble`: each tree's saved `NodeData` rows flattened into the op's node arrays
//! in preorder, as the Python exporter flattens a live model (exporters/keel/spark/_trees.py).

use super::{exact_vector, first, predictor_outputs, thresholds};
use crate::spark_ml::Error;
use crate::spark_ml::columns::Ctx;
use crate::spark_ml::data::{as_f64, as_i64, as_struct, f64_list, field, usize_of};
use crate::spark_ml::read::{self, V};
use crate::spark_ml::stage::Stage;
use keel_bundle::Attr;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The flattened node arrays of an ensemble (see `spark.tree_ensemble` in runtime/docs/ops.md).
#[derive(Default)]
struct Nodes {
    tree_nodes: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<f64>,
    left: Vec<i64>,
    right: Vec<i64>,
    num_categories: Vec<i64>,
    category_offsets: Vec<i64>,
    categories: Vec<f64>,
    leaf_values: Vec<f64>,
}

impl Nodes {
    /// Appends one tree (its saved `NodeData` rows by id), numbering nodes in preorder from 0.
    fn add_tree(
        &mut self,
        by_id: &HashMap<i64, &BTreeMap<String, V>>,
        stats: bool,
        width: usize,
        st: &Stage,
    ) -> Result<(), Error> {
        let start = self.feature.len();
        let mut seen = HashSet::new();
        let mut stack: Vec<(i64, Option<(usize, bool)>)> = vec![(0, None)];
        while let Some((id, parent)) = stack.pop() {
            if !seen.insert(id) {
                return Err(st.malformed(format!("tree node {id} is reached twice")));
            }
            let n = by_id
                .get(&id)
                .ok_or_else(|| st.malformed(format!("tree node {id} is missing")))?;
            let me = self.feature.len() - start;
            if let Some((p, is_right)) = parent {
                let slot = if is_right {
                    &mut self.right
                } else {
                    &mut self.left
                };
                slot[start + p] = me as i64;
            }
            self.left.push(-1);
            self.right.push(-1);
            let lc = as_i64(field(n, "leftChild", st)?, "leftChild", st)?;
            let rc = as_i64(field(n, "rightChild", st)?, "rightChild", st)?;
            if lc < 0 {
                self.feature.push(-1);
                self.threshold.push(0.0);
                self.num_categories.push(-1);
                if stats {
                    let v = f64_list(field(n, "impurityStats", st)?, "impurityStats", st)?;
                    if v.len() != width {
                        return Err(st.malformed(format!(
                            "a leaf holds {} class statistics for {width} classes",
                            v.len()
                        )));
                    }
                    self.leaf_values.extend(v);
                } else {
                    self.leaf_values
                        .push(as_f64(field(n, "prediction", st)?, "prediction", st)?);
                }
            } else {
                let split = as_struct(field(n, "split", st)?, "split", st)?;
                self.feature.push(as_i64(
                    field(split, "featureIndex", st)?,
                    "featureIndex",
                    st,
                )?);
                let vals = f64_list(field(split, "leftCategoriesOrThreshold", st)?, "split", st)?;
                let nc = as_i64(field(split, "numCategories", st)?, "numCategories", st)?;
                if nc < 0 {
                    let [t] = vals.as_slice() else {
                        return Err(st.malformed("a continuous split needs one threshold"));
                    };
                    self.threshold.push(*t);
                    self.num_categories.push(-1);
                } else {
                    self.threshold.push(0.0);
                    self.num_categories.push(nc);
                    self.categories.extend(vals);
                }
                self.leaf_values.extend(std::iter::repeat_n(0.0, width));
                // Right pushed first so the left subtree is numbered next (preorder).
                stack.push((rc, Some((me, true))));
                stack.push((lc, Some((me, false))));
            }
            self.category_offsets.push(self.categories.len() as i64);
        }
        self.tree_nodes.push((self.feature.len() - start) as i64);
        Ok(())
    }
}

/// The six tree models (decision tree, random forest and GBT; classification or regression):
/// the ensemble kind and task come from the class name.
pub(super) fn tree_ensemble(
    ctx: &mut Ctx<'_>,
    st: &Stage,
    node: String,
    reads: &[String],
    _writes: &[String],
) -> Result<(), Error> {
    if let Some(leaf) = st.col_param("leafCol")? {
        return Err(st.unsupported(format!("leafCol='{leaf}' is not supported")));
    }
    let short = st.short();
    let classification = short.ends_with("ClassificationModel");
    let ensemble = if short.starts_with("DecisionTree") {
        "tree"
    } else if short.starts_with("RandomForest") {
        "forest"
    } else {
        "gbt"
    };
    let meta_int = |k: &str| st.meta.get(k).and_then(Value::as_i64);
    let n_features = usize_of(
        meta_int("numFeatures").ok_or_else(|| st.malformed("metadata has no `numFeatures`"))?,
        "numFeatures",
        st,
    )?;
    let n_classes = if classification {
        Some(usize_of(
            meta_int("numClasses").unwrap_or(2),
            "numClasses",
            st,
        )?)
    } else {
        None
    };
    // Classification trees and forests vote with their leaves' class statistics; regression
    // trees and every GBT tree predict one number.
    let stats = classification && ensemble != "gbt";
    let width = if stats { n_classes.unwrap_or(2) } else { 1 };
    let rows = st.data()?;
    // A single tree saves NodeData rows; an ensemble saves (treeID, nodeData) rows.
    let mut by_tree: BTreeMap<i64, HashMap<i64, &BTreeMap<String, V>>> = BTreeMap::new();
    for r in &rows {
        let (tree, n) = if ensemble == "tree" {
            (0, r)
        } else {
            (
                as_i64(field(r, "treeID", st)?, "treeID", st)?,
                as_struct(field(r, "nodeData", st)?, "nodeData", st)?,
            )
        };
        let id = as_i64(field(n, "id", st)?, "id", st)?;
        if by_tree.entry(tree).or_default().insert(id, n).is_some() {
            return Err(st.malformed(format!("tree {tree} repeats node id {id}")));
        }
    }
    let mut weights = Vec::new();
    if ensemble != "tree" {
        let (tpath, meta_rows) = read::table(&st.dir, "treesMetadata")?;
        let mut w: Vec<(i64, f64)> = meta_rows
            .iter()
            .map(|r| {
                Ok((
                    as_i64(field(r, "_1", st)?, "treeID", st)?,
                    as_f64(field(r, "_3", st)?, "weight", st)?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        w.sort_by_key(|p| p.0);
        let ids: Vec<i64> = w.iter().map(|p| p.0).collect();
        let trees: Vec<i64> = by_tree.keys().copied().collect();
        if ids != trees {
            return Err(Error::Malformed {
                path: tpath,
                message: format!("tree ids {ids:?} do not match the node data's {trees:?}"),
            });
        }
        weights = w.into_iter().map(|p| p.1).collect();
    }
    if by_tree.is_empty() {
        return Err(st.malformed("the model holds no tree"));
    }
    let mut nodes = Nodes {
        category_offsets: vec![0],
        ..Nodes::default()
    };
    for t in by_tree.values() {
        nodes.add_tree(t, stats, width, st)?;
    }
    let x = exact_vector(ctx, st, first(st, reads)?, n_features)?;
    let mut attrs = BTreeMap::new();
    let Nodes {
        tree_nodes,
        feature,
        threshold,
        left,
        right,
        num_categories,
        category_offsets,
        categories,
        leaf_values,
    } = nodes;
    attrs.insert(
        "tree_nodes".into(),
        ctx.i64s(&format!("{node}/tree_nodes"), tree_nodes),
    );
    attrs.insert(
        "feature".into(),
        ctx.i64s(&format!("{node}/feature"), feature),
    );
    attrs.insert(
        "threshold".into(),
        ctx.f64s(&format!("{node}/threshold"), threshold),
    );
    attrs.insert("left".into(), ctx.i64s(&format!("{node}/left"), left));
    attrs.insert("right".into(), ctx.i64s(&format!("{node}/right"), right));
    attrs.insert(
        "num_categories".into(),
        ctx.i64s(&format!("{node}/num_categories"), num_categories),
    );
    attrs.insert(
        "category_offsets".into(),
        ctx.i64s(&format!("{node}/category_offsets"), category_offsets),
    );
    attrs.insert(
        "categories".into(),
        ctx.f64s(&format!("{node}/categories"), categories),
    );
    attrs.insert(
        "leaf_values".into(),
        ctx.f64s(&format!("{node}/leaf_values"), leaf_values),
    );
    attrs.insert("n_features".into(), Attr::I64(n_features as i64));
    attrs.insert("ensemble".into(), Attr::Str(ensemble.into()));
    attrs.insert(
        "task".into(),
        Attr::Str(
            if classification {
                "classification"
            } else {
                "regression"
            }
            .into(),
        ),
    );
    if let Some(k) = n_classes {
        attrs.insert("num_classes".into(), Attr::I64(k as i64));
        thresholds(ctx, st, &node, &mut attrs)?;
    }
    if ensemble == "gbt" {
        attrs.insert(
            "tree_weights".into(),
            ctx.f64s(&format!("{node}/tree_weights"), weights),
        );
    }
    let ports = predictor_outputs(ctx, st, n_classes, classification)?;
    ctx.stage("spark.tree_ensemble", node, &[x], ports, attrs, st);
    Ok(())
}
