//! `spark.tree_ensemble`: Spark ML's decision trees and their ensembles:
//! `DecisionTreeClassificationModel`/`RegressionModel`, `RandomForestClassificationModel`/
//! `RegressionModel`, `GBTClassificationModel`/`RegressionModel`.
//!
//! Ports: `X` (a vector) -> `prediction` (f64) and, for classifiers, `probability` and
//! `raw_prediction` (vectors; see `spark/common.rs`).
//!
//! Attributes (all trees flattened tree after tree; child indices are local to their tree):
//!
//! | attribute | kind | meaning |
//! |---|---|---|
//! | `n_features` | i64 | the width of the feature vector |
//! | `tree_nodes` | i64s `[T]` | nodes per tree (preorder from the root, which is node 0) |
//! | `feature` | i64s `[N]` | split feature, -1 at a leaf |
//! | `threshold` | f64s `[N]` | a continuous split's threshold |
//! | `left`, `right` | i64s `[N]` | children, -1 at a leaf |
//! | `num_categories` | i64s `[N]` | a categorical split's `numCategories`, -1 for a continuous split or leaf |
//! | `category_offsets` | i64s `[N + 1]` | node `i`'s left categories are `categories[offsets[i]..offsets[i + 1]]` |
//! | `categories` | f64s | the `leftCategories` of the categorical splits |
//! | `leaf_values` | f64s `[N, w]` | at leaves: the impurity statistics (`w` = classes) of a classification tree or forest, else the prediction (`w` = 1) |
//! | `ensemble` | str | `tree`, `forest` or `gbt` |
//! | `task` | str | `classification` or `regression` |
//! | `num_classes` | i64 | classification only (2 for GBT) |
//! | `tree_weights` | f64s `[T]` | `gbt` only |
//! | `thresholds` | f64s, optional | a classifier's `thresholds` |
//!
//! Spark's arithmetic, kept exactly:
//! - Splits compare the double feature itself: `x <= threshold` goes left (no float32 cast as
//!   in scikit-learn); `NaN` therefore goes right.
//! - A categorical split (`CategoricalSplit`) stores the left categories but tests membership
//!   in the smaller side: when `|left| <= numCategories / 2` a value goes left iff it is a
//!   left category, otherwise iff it is *not* a right category. The two agree on categories
//!   `0..numCategories`, and differ for any other value (an unseen index, `NaN`, 1.5): that
//!   goes right in the first case and left in the second, as here.
//! - Single classification tree: `rawPrediction` is the leaf's statistics (class counts),
//!   `probability` those divided by their sum (left as is when the sum is 0).
//! - Random forest classification: `rawPrediction[c] = sum over trees of stats[c] / total`
//!   (skipping a leaf whose total is 0), in tree order; `probability` is that normalised.
//! - Forest regression: the sum of the tree predictions in order, divided by the number of
//!   trees. GBT: `m = sum of weight[t] * prediction[t]` (BLAS `ddot`; its order may differ by an
//!   ulp, hence `F64_ACCUMULATED` in fixtures); a GBT classifier's `rawPrediction` is
//!   `[-m, m]` and its probability `p0 = 1 / (1 + exp(-2 * (-m)))`, `p1 = 1 - p0` (log loss).
//! - A classifier's `prediction` is the argmax of `rawPrediction` (first maximum), or with
//!   `thresholds` the argmax of `probability / thresholds`.
//!
//! Layout and walk (speed): the nodes of all trees are renumbered in preorder (a left child is
//! the next node) into one array of 16-byte nodes (threshold, feature with a categorical flag,
//! right child), categorical splits of up to 64 categories as a bit mask inline, larger ones in a
//! side table. A leaf is flagged, never goes left and is its own right child, so a walk that
//! reaches it stays, and every walk can take its tree's depth in steps without testing for
//! leaves; a one-value leaf keeps its value in the node (no second, cache-missing lookup). Continuous
//! steps are branch-free (a select), and `LANES` (8) rows walk a tree in lock step, so their
//! memory latencies overlap and no data-dependent branch is mispredicted. A batch is walked
//! tree-major over blocks of `BLOCK` (128) rows, so one tree's nodes stay in cache while the
//! block's rows walk it; each row still adds its trees' values in tree order, so the sums are
//! Spark's to the bit.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::sklearn::models::tree_ensemble::{check_len, layout, tree_sizes};
use crate::ops::spark::common::{
    Out, classifier_values, f64s_of_len, normalize, predictor_outputs, thresholds,
};
use crate::value::{Matrix, Value, gather};
use arrow_array::Float64Array;
use std::sync::Arc;

/// Rows per block of the tree-major walk.
const BLOCK: usize = 128;
/// Walk modes, by the most general split a model has: thresholds and 2-category splits only;
/// also inline masks; also categorical splits held in the side table.
const THRESHOLDS: u8 = 0;
const MASKS: u8 = 1;
const GENERAL: u8 = 2;
/// Rows walking a tree in lock step.
const LANES: usize = 8;
/// Flag in `SNode::feat` marking a categorical split (the feature is in the low bits).
const CATEGORICAL: u32 = 1 << 31;
/// Flag in `SNode::feat` marking a categorical split of at most 64 categories held inline: its
/// left set is a bit mask in `thr`'s bits, `numCategories` in bits 21..28, the feature in bits
/// 0..21 and Spark's `isLeft` in bit 30 (one-hot and binary features are 2-category splits: the common case).
const SMALL: u32 = 1 << 29;
const IS_LEFT: u32 = 1 << 30;
/// Features below this fit the node layout (the feature index is in bits 0..21); `build`
/// refuses wider feature indices.
const SMALL_FEATURES: u32 = 1 << 21;
const SMALL_N_SHIFT: u32 = 21;
/// Flag in `SNode::feat` marking a leaf: its walk stays (its right child is itself and it
/// never goes left), and with one value per leaf `thr` holds that value, so the walk's last
/// load already brought it into cache.
const LEAF: u32 = 1 << 28;
/// Flag in `SNode::feat` (without [`CATEGORICAL`]) marking a 2-category split: with one left
/// category `c` of two, Spark sends a value left iff it equals `c` (any other value, unseen or
/// NaN, goes right: `isLeft` holds for 1 <= 2 / 2), so the node is `x == thr`. One-hot and
/// binary features give these; they cost the walk no more than a threshold.
const EQUALS: u32 = 1 << 30;

/// One node: 16 bytes, so a tree of a thousand nodes fits in L1/L2.
#[derive(Debug, Clone, Copy)]
struct SNode {
    /// A continuous split's threshold; for a categorical split, its index in
    /// `SparkTrees::categorical` (as a whole f64).
    thr: f64,
    /// The feature, with [`CATEGORICAL`] for a categorical split; 0 at a leaf.
    feat: u32,
    /// The right child (the left child is the next node); itself at a leaf.
    right: u32,
}

/// A categorical split's sets.
#[derive(Debug)]
struct CatSplit {
    /// The left categories.
    left: Vec<f64>,
    n: f64,
    /// Spark's `isLeft`: whether membership is tested in the left set.
    is_left: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ensemble {
    Tree,
    Forest,
    Gbt,
}

#[derive(Debug)]
struct SparkTrees {
    nodes: Vec<SNode>,
    /// The categorical splits of more than 64 categories (the others are inline).
    categorical: Vec<CatSplit>,
    /// Whether a split uses an inline category mask (see `walk`).
    has_masks: bool,
    roots: Vec<u32>,
    /// Per tree, the steps a walk from the root takes to reach any leaf.
    depths: Vec<u32>,
    /// `w` values per node (read at leaves) when `w > 1`; a single value lives in its leaf's
    /// `thr` instead, and this is empty.
    leaf_values: Vec<f64>,
    w: usize,
    n_features: usize,
    ensemble: Ensemble,
    /// Number of classes for a classifier.
    classes: Option<usize>,
    weights: Vec<f64>,
    thresholds: Option<Vec<f64>>,
    outs: Vec<Out>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let n_features = ctx.usize("n_features")?;
    if n_features == 0 {
        return Err(ctx.err("`n_features` is 0"));
    }
    ctx.expect_width("X", n_features)?;
    let feature = ctx.i64s("feature")?;
    let n = feature.len();
    let threshold = ctx.f64s("threshold")?;
    let left = ctx.i64s("left")?;
    let right = ctx.i64s("right")?;
    let ncat = ctx.i64s("num_categories")?;
    let offsets = ctx.i64s("category_offsets")?;
    let cats = if ctx.opt_attr("categories").is_some() {
        ctx.f64s("categories")?
    } else {
        Vec::new()
    };
    check_len(ctx, "threshold", threshold.len(), n)?;
    check_len(ctx, "left", left.len(), n)?;
    check_len(ctx, "right", right.len(), n)?;
    check_len(ctx, "num_categories", ncat.len(), n)?;
    check_len(ctx, "category_offsets", offsets.len(), n + 1)?;
    let sizes = tree_sizes(ctx, n)?;
    for (g, (&l, &r)) in left.iter().zip(&right).enumerate() {
        if (l == -1) != (r == -1) {
            return Err(ctx.err(format!(
                "node {g}: one child is -1 (a leaf) and the other is {}",
                l.max(r)
            )));
        }
    }
    let lay = layout(ctx, &sizes, &left, &right, &|g| left[g] == -1)?;

    let ensemble = match ctx.str("ensemble")? {
        "tree" => Ensemble::Tree,
        "forest" => Ensemble::Forest,
        "gbt" => Ensemble::Gbt,
        other => return Err(ctx.err(format!("unknown ensemble `{other}`"))),
    };
    if ensemble == Ensemble::Tree && sizes.len() != 1 {
        return Err(ctx.err(format!("a single tree has {} trees", sizes.len())));
    }
    let classes = match ctx.str("task")? {
        "regression" => None,
        "classification" => {
            let c = ctx.usize("num_classes")?;
            if c < 2 || (ensemble == Ensemble::Gbt && c != 2) {
                return Err(ctx.err(format!("{c} classes do not fit this ensemble")));
            }
            Some(c)
        }
        other => return Err(ctx.err(format!("unknown task `{other}`"))),
    };
    // Leaves of classification trees and forests hold the class statistics.
    let w = match (classes, ensemble) {
        (Some(c), Ensemble::Tree | Ensemble::Forest) => c,
        _ => 1,
    };
    let leaf_values = ctx.f64s("leaf_values")?;
    // `num_classes` comes from the bundle: a hostile one must not overflow the count (found
    // by fuzzing, `fuzz/`; regression test in runtime/tests/fuzz_regressions.rs).
    let per_tree = n
        .checked_mul(w)
        .ok_or_else(|| ctx.err(format!("{w} classes for {n} nodes overflow")))?;
    check_len(ctx, "leaf_values", leaf_values.len(), per_tree)?;
    let weights = match ensemble {
        Ensemble::Gbt => f64s_of_len(ctx, "tree_weights", sizes.len())?,
        _ => Vec::new(),
    };
    let thresholds = match classes {
        Some(c) => thresholds(ctx, c)?,
        None => None,
    };

    let mut nodes = Vec::with_capacity(lay.nodes.len());
    let mut categorical = Vec::new();
    // Whether any split needs the inline-mask step (categorical, 3..=64 categories).
    let mut has_masks = false;
    // One value per leaf is kept in the node itself (see `SNode::thr`).
    let mut values = if w > 1 {
        vec![0.0; lay.nodes.len() * w]
    } else {
        Vec::new()
    };
    for (id, &(g, children)) in lay.nodes.iter().enumerate() {
        let Some((l, r)) = children else {
            if w > 1 {
                values[id * w..(id + 1) * w].copy_from_slice(&leaf_values[g * w..(g + 1) * w]);
            }
            // A leaf loops to itself (see the module doc); its feature bits read feature 0,
            // which exists (n_features > 0).
            nodes.push(SNode {
                thr: if w == 1 { leaf_values[g] } else { f64::NAN },
                feat: LEAF,
                right: u32::try_from(id).map_err(|_| ctx.err("too many nodes"))?,
            });
            continue;
        };
        // `layout` numbers in preorder: the left child is the next node, which the walk uses.
        if l as usize != id + 1 {
            return Err(ctx.err(format!("node {g}: the layout is not preorder")));
        }
        let f = u32::try_from(feature[g])
            .ok()
            .filter(|&f| (f as usize) < n_features && f < SMALL_FEATURES)
            .ok_or_else(|| {
                ctx.err(format!(
                    "node {g}: `feature` = {} is outside the {n_features} features",
                    feature[g]
                ))
            })?;
        let node = if ncat[g] < 0 {
            if threshold[g].is_nan() {
                return Err(ctx.err(format!("node {g}: threshold is NaN")));
            }
            SNode {
                thr: threshold[g],
                feat: f,
                right: r,
            }
        } else {
            let (a, b) = (offsets[g], offsets[g + 1]);
            let range = usize::try_from(a)
                .ok()
                .zip(usize::try_from(b).ok())
                .filter(|(a, b)| a <= b && *b <= cats.len())
                .ok_or_else(|| ctx.err(format!("node {g}: category offsets {a}..{b}")))?;
            let set = cats[range.0..range.1].to_vec();
            let nc = ncat[g];
            if set
                .iter()
                .any(|&c| !(c >= 0.0 && c < nc as f64 && c.fract() == 0.0))
            {
                return Err(ctx.err(format!(
                    "node {g}: left categories must be whole numbers in [0, {nc})"
                )));
            }
            let is_left = (set.len() as i64) <= nc / 2;
            if nc == 2 && set.len() == 1 {
                SNode {
                    thr: set[0],
                    feat: f | EQUALS,
                    right: r,
                }
            } else if nc <= 64 && f < SMALL_FEATURES {
                has_masks = true;
                // Validated above: every left category is a whole number in [0, nc).
                let mask = set.iter().fold(0u64, |m, &c| m | (1u64 << (c as u32)));
                SNode {
                    thr: f64::from_bits(mask),
                    feat: f
                        | CATEGORICAL
                        | SMALL
                        | if is_left { IS_LEFT } else { 0 }
                        | ((nc as u32) << SMALL_N_SHIFT),
                    right: r,
                }
            } else {
                categorical.push(CatSplit {
                    is_left,
                    left: set,
                    n: nc as f64,
                });
                SNode {
                    thr: (categorical.len() - 1) as f64,
                    feat: f | CATEGORICAL,
                    right: r,
                }
            }
        };
        nodes.push(node);
    }

    let (outputs, outs) = predictor_outputs(ctx, classes, classes.is_some())?;
    Ok(Built {
        kernel: Box::new(SparkTrees {
            nodes,
            categorical,
            has_masks,
            roots: lay.roots,
            depths: lay.depths,
            leaf_values: values,
            w,
            n_features,
            ensemble,
            classes,
            weights,
            thresholds,
            outs,
        }),
        outputs,
    })
}

/// Spark's `CategoricalSplit.shouldGoLeft` (see the module doc).
#[inline]
fn categorical_left(x: f64, left: &[f64], n: f64, is_left: bool) -> bool {
    if left.contains(&x) {
        true
    } else if x >= 0.0 && x < n && x.fract() == 0.0 {
        // A right category.
        false
    } else {
        !is_left
    }
}

/// [`categorical_left`] for an inline split ([`SMALL`]): a category `0..n` goes left iff its
/// bit is set in the mask; anything else (NaN, fractions, unseen indices) by `isLeft`.
/// Branch-free (non-short-circuit `&`/`|`), so the walk can compute it for every node.
#[inline(always)]
fn small_categorical_left(v: f64, nd: SNode) -> bool {
    let n = i64::from((nd.feat >> SMALL_N_SHIFT) & 0x7f);
    let k = v as i64;
    let in_range = (k as f64 == v) & (v >= 0.0) & (k < n);
    let bit = (nd.thr.to_bits() >> (k & 63)) & 1 == 1;
    (in_range & bit) | (!in_range & (nd.feat & IS_LEFT == 0))
}

/// Whether value `v` goes left at a node that is not a side-table categorical split: a
/// threshold, a 2-category split ([`EQUALS`]), an inline mask (only when `MODE` allows them)
/// or a leaf (never). Branch-free: every decision is computed and one is kept with masks.
#[inline(always)]
fn goes_left<const MODE: u8>(nd: SNode, v: f64) -> bool {
    let is_cat = nd.feat & CATEGORICAL != 0;
    // EQUALS shares its bit with IS_LEFT, which only counts under CATEGORICAL.
    let is_eq = (nd.feat & EQUALS != 0) & !is_cat;
    let mut go_left = ((v <= nd.thr) & !is_eq) | ((v == nd.thr) & is_eq);
    if MODE != THRESHOLDS {
        go_left = (go_left & !is_cat) | (small_categorical_left(v, nd) & is_cat);
    }
    go_left & (nd.feat & LEAF == 0)
}

impl SparkTrees {
    /// One step of a walk from node `i` for row `x`. `build` proved every feature is below
    /// the row's width and every child inside the array. With `GENERAL` false (no split holds
    /// its categories out of line) the step has no branch: the continuous and the inline
    /// categorical decisions are both computed and one is picked with masks, so a walk costs a
    /// chain of loads and selects and nothing is mispredicted.
    #[inline(always)]
    fn step<const MODE: u8>(&self, i: u32, x: &[f64]) -> u32 {
        let nd = self.nodes[i as usize];
        if MODE == GENERAL && nd.feat & (CATEGORICAL | SMALL) == CATEGORICAL {
            let c = &self.categorical[nd.thr as usize];
            let left = categorical_left(
                x[(nd.feat & !CATEGORICAL) as usize],
                &c.left,
                c.n,
                c.is_left,
            );
            return if left { i + 1 } else { nd.right };
        }
        let go_left = goes_left::<MODE>(nd, x[(nd.feat & (SMALL_FEATURES - 1)) as usize]);
        // A conditional move, not a branch: LLVM turned the earlier mask arithmetic back into
        // a branch on `go_left`, which a tree walk mispredicts about half the time (perf
        // showed it costing most of the walk).
        std::hint::select_unpredictable(go_left, i + 1, nd.right)
    }

    /// Calls `f(row, tree, leaf)` for every row of `x` and every tree: tree-major over blocks
    /// of rows, so a tree stays in cache, [`LANES`] rows at a time; for each row the trees come
    /// in order.
    fn walk(&self, x: &Matrix, f: impl FnMut(usize, usize, usize)) {
        if !self.categorical.is_empty() {
            self.walk_with::<GENERAL>(x, f)
        } else if self.has_masks {
            self.walk_with::<MASKS>(x, f)
        } else {
            self.walk_with::<THRESHOLDS>(x, f)
        }
    }

    fn walk_with<const MODE: u8>(&self, x: &Matrix, mut f: impl FnMut(usize, usize, usize)) {
        let n = self.n_features;
        let mut start = 0;
        while start < x.rows {
            let end = (start + BLOCK).min(x.rows);
            let block = &x.data[start * n..end * n];
            for (t, (&root, &depth)) in self.roots.iter().zip(&self.depths).enumerate() {
                let mut groups = block.chunks_exact(n * LANES);
                let mut row = start;
                for group in groups.by_ref() {
                    let xs: [&[f64]; LANES] = std::array::from_fn(|l| &group[l * n..(l + 1) * n]);
                    let mut at = [root; LANES];
                    for _ in 0..depth {
                        for (a, x) in at.iter_mut().zip(xs) {
                            *a = self.step::<MODE>(*a, x);
                        }
                    }
                    for a in at {
                        f(row, t, a as usize);
                        row += 1;
                    }
                }
                for x in groups.remainder().chunks_exact(n) {
                    let mut a = root;
                    for _ in 0..depth {
                        a = self.step::<MODE>(a, x);
                    }
                    f(row, t, a as usize);
                    row += 1;
                }
            }
            start = end;
        }
    }

    /// A leaf's class statistics (classification trees and forests, `w > 1` only).
    fn values(&self, leaf: usize) -> &[f64] {
        &self.leaf_values[leaf * self.w..(leaf + 1) * self.w]
    }
}

impl Kernel for SparkTrees {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        if x.cols != self.n_features {
            return Err(Error::Plan {
                node: String::new(),
                op: "spark.tree_ensemble".into(),
                message: format!("received {} features, expected {}", x.cols, self.n_features),
            });
        }
        let n_trees = self.roots.len() as f64;
        let Some(c) = self.classes else {
            let mut pred = vec![0.0; x.rows];
            match self.ensemble {
                Ensemble::Tree | Ensemble::Forest => {
                    self.walk(&x, |r, _, leaf| pred[r] += self.nodes[leaf].thr);
                    if self.ensemble == Ensemble::Forest {
                        pred.iter_mut().for_each(|p| *p /= n_trees);
                    }
                }
                Ensemble::Gbt => {
                    self.walk(&x, |r, t, leaf| {
                        pred[r] += self.nodes[leaf].thr * self.weights[t];
                    });
                }
            }
            return Ok(vec![Value::Array(Arc::new(Float64Array::from(pred)))]);
        };
        let mut raw = Matrix::zeros(rows, c);
        match self.ensemble {
            Ensemble::Tree => self.walk(&x, |r, _, leaf| {
                raw.row_mut(r).copy_from_slice(self.values(leaf));
            }),
            Ensemble::Forest => self.walk(&x, |r, _, leaf| {
                let stats = self.values(leaf);
                let total: f64 = stats.iter().sum();
                if total != 0.0 {
                    raw.row_mut(r)
                        .iter_mut()
                        .zip(stats)
                        .for_each(|(v, s)| *v += s / total);
                }
            }),
            Ensemble::Gbt => {
                let mut m = vec![0.0; x.rows];
                self.walk(&x, |r, t, leaf| {
                    m[r] += self.nodes[leaf].thr * self.weights[t];
                });
                for (r, m) in raw.data.chunks_exact_mut(c).zip(m) {
                    r[0] = -m;
                    r[1] = m;
                }
            }
        }
        let mut prob = raw.clone();
        for r in prob.data.chunks_exact_mut(c) {
            if self.ensemble == Ensemble::Gbt {
                r[0] = 1.0 / (1.0 + (-2.0 * r[0]).exp());
                r[1] = 1.0 - r[0];
            } else {
                normalize(r);
            }
        }
        classifier_values(
            raw,
            prob,
            self.thresholds.as_deref(),
            &self.outs,
            "spark.tree_ensemble",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorical_membership_follows_the_smaller_side() {
        // 4 categories, left {1}: tested in the left set, unseen values go right.
        assert!(categorical_left(1.0, &[1.0], 4.0, true));
        assert!(!categorical_left(2.0, &[1.0], 4.0, true));
        assert!(!categorical_left(4.0, &[1.0], 4.0, true));
        assert!(!categorical_left(f64::NAN, &[1.0], 4.0, true));
        // left {0, 1, 3}: tested in the right set {2}, so unseen values go left.
        assert!(categorical_left(3.0, &[0.0, 1.0, 3.0], 4.0, false));
        assert!(!categorical_left(2.0, &[0.0, 1.0, 3.0], 4.0, false));
        assert!(categorical_left(4.0, &[0.0, 1.0, 3.0], 4.0, false));
        assert!(categorical_left(1.5, &[0.0, 1.0, 3.0], 4.0, false));
        assert!(categorical_left(-0.0, &[0.0, 1.0, 3.0], 4.0, false));
    }

    #[test]
    fn inline_categorical_splits_agree_with_the_set_rule() {
        let sets: [(&[f64], i64); 5] = [
            (&[1.0], 4),
            (&[0.0, 1.0, 3.0], 4),
            (&[0.0], 2),
            (&[1.0], 2),
            (&[0.0, 5.0, 63.0], 64),
        ];
        let values = [
            0.0,
            -0.0,
            1.0,
            2.0,
            3.0,
            4.0,
            5.0,
            63.0,
            64.0,
            65.0,
            1.5,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            1e300,
            i64::MAX as f64,
        ];
        for (set, n) in sets {
            let is_left = (set.len() as i64) <= n / 2;
            let mask = set.iter().fold(0u64, |m, &c| m | (1u64 << (c as u32)));
            let nd = SNode {
                thr: f64::from_bits(mask),
                feat: 7
                    | CATEGORICAL
                    | SMALL
                    | if is_left { IS_LEFT } else { 0 }
                    | ((n as u32) << SMALL_N_SHIFT),
                right: 0,
            };
            for v in values {
                let want = categorical_left(v, set, n as f64, is_left);
                assert_eq!(
                    small_categorical_left(v, nd),
                    want,
                    "{set:?} of {n}, value {v}"
                );
                assert_eq!(goes_left::<MASKS>(nd, v), want, "{set:?} of {n}, value {v}");
            }
        }
        // 2-category splits as equality nodes, under the fastest walk mode.
        for c in [0.0, 1.0] {
            let nd = SNode {
                thr: c,
                feat: 7 | EQUALS,
                right: 0,
            };
            for v in values {
                let want = categorical_left(v, &[c], 2.0, true);
                assert_eq!(
                    goes_left::<THRESHOLDS>(nd, v),
                    want,
                    "{{{c}}} of 2, value {v}"
                );
                assert_eq!(goes_left::<MASKS>(nd, v), want, "{{{c}}} of 2, value {v}");
            }
        }
        // Thresholds keep `x <= t` (NaN right); a leaf never goes left.
        let t = SNode {
            thr: 1.5,
            feat: 3,
            right: 0,
        };
        let leaf = SNode {
            thr: 2.0,
            feat: LEAF,
            right: 0,
        };
        for v in values {
            assert_eq!(goes_left::<THRESHOLDS>(t, v), v <= 1.5);
            assert!(!goes_left::<MASKS>(leaf, v) && !goes_left::<THRESHOLDS>(leaf, v));
        }
    }
}
