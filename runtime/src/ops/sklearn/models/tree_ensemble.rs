//! `sklearn.tree_ensemble`: scikit-learn's decision trees and their ensembles
//! (DecisionTreeClassifier/Regressor, RandomForestClassifier/Regressor,
//! ExtraTreesClassifier/Regressor, GradientBoostingClassifier/Regressor).
//!
//! Ports: `X` (numeric) -> regression: `prediction` (f64 scalar for one target, a vector for
//! several); classification: `label`, `probability` (see `classes.rs`).
//!
//! Attributes (all trees of the model flattened, tree after tree; node arrays are indexed by
//! the global node number, child indices are local to their tree as in `tree_.children_left`):
//!
//! | attribute | kind | meaning |
//! |---|---|---|
//! | `n_features` | i64 | width of `X` the model was fitted on |
//! | `tree_nodes` | i64s \[T\] | number of nodes of each tree |
//! | `feature` | ints \[N\] | `tree_.feature` |
//! | `threshold` | floats \[N\] | `tree_.threshold` (f64, exactly as fitted) |
//! | `left`, `right` | ints \[N\] | `tree_.children_left/right` (-1 marks a leaf) |
//! | `missing_go_to_left` | ints/bool \[N\] | `tree_.missing_go_to_left` |
//! | `value` | floats \[N, w\] | per node, the `w` values a leaf adds (`tree_.value` flattened) |
//! | `n_targets` | i64 | `K`, the width of the accumulated raw output |
//! | `tree_target` | i64s \[T\], optional | the first of the `w` raw columns a tree adds to (default 0) |
//! | `aggregation` | str | `average` (forests and single trees: sum over trees, then divide by T) or `sum` (gradient boosting: `baseline + learning_rate * sum`) |
//! | `learning_rate` | f64 | `sum` only |
//! | `baseline` | f64s \[K\] | `sum` only: `_raw_predict_init`, the init estimator's raw prediction |
//! | `allow_nan` | bool | whether NaN reaches the trees (forests, trees) or is refused (gradient boosting) |
//! | `task` | str | `regression` or `classification` |
//! | `link` | str | classification: `average` (probabilities are the averaged leaf values, label = argmax), `logistic` (binary log-loss: `p = expit(raw)`, label = `raw >= 0`), `half_logistic` (exponential loss: `p = expit(2 raw)`, label = `raw >= 0`), `softmax` (multiclass log-loss, label = argmax of raw); regression: `identity` |
//! | `classes` | | classification only, see `classes.rs` |
//!
//! Quirks of scikit-learn kept here, to the bit:
//! - `check_array(dtype=float32)` converts X to float32 *before* checking it is finite, so a
//!   value too large for float32 (1e300) is refused as infinite, as scikit-learn refuses it.
//! - Trees compare `X_f32 <= threshold_f64` (the float widened to double). For an f32 `x`,
//!   `f64(x) <= t` holds exactly when `x <= t'`, `t'` the largest f32 (or infinity) not above
//!   `t`: so thresholds are rounded *down* to f32 once at load and the walk compares in f32
//!   (proven by `f32_threshold_is_equivalent` below).
//! - NaN goes to the child named by `missing_go_to_left`, as `Tree._apply_dense` does, also
//!   for trees fitted without missing values (scikit-learn then sends NaN to the child that
//!   saw more samples, which is what the recorded flag says).
//! - Classifier leaves carry `tree_.value` unchanged: since scikit-learn 1.4 it holds each
//!   leaf's class fractions (normalised when fitted) and `predict_proba` returns them as is.
//! - Forests sum the per-tree predictions in estimator order starting from 0.0, then divide by
//!   the number of trees (`ForestClassifier.predict_proba`, `ForestRegressor.predict`);
//!   gradient boosting adds `learning_rate * value` stage by stage to the init prediction
//!   (`predict_stages`). Each row keeps that order here although trees are walked tree-major
//!   over blocks of rows (so a tree stays in cache).
//!
//! Layout and walk: each tree's nodes are renumbered in preorder into one array of 16-byte
//! nodes (f32 threshold, feature with the missing-goes-left flag in its top bit, left, right);
//! a leaf is a node whose children are itself, and leaf values live in a separate array.
//! `build` proves every index in range (so scoring never goes out of bounds) and that the
//! children form a tree, and records each tree's depth. A walk is then a fixed number of
//! branch-free steps, and 8 walks advance in lock step (8 rows through one tree for batches,
//! one row through 8 trees for batches of fewer than 8 rows), so their memory latencies
//! overlap and no branch is mispredicted.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::sklearn::models::classes::{Classes, argmax_rows, expit, softmax_rows};
use crate::value::{Matrix, Value, gather};
use arrow_array::Float64Array;
use keel_bundle::DType;
use std::sync::Arc;

/// In `Node::feat`: NaN goes to the left child.
const MISS_LEFT: u32 = 1 << 31;
/// Rows walked together through one tree before moving to the next tree.
pub(crate) const BLOCK: usize = 128;
/// Walks advanced in lock step: independent walks overlap their memory latency and branch-free
/// steps leave nothing to mispredict.
const LANES: usize = 8;

/// One node: 16 bytes, so four share a cache line. A leaf is a node whose children are itself
/// (a walk that reached it stays there), so walks take a fixed number of branch-free steps.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Node {
    thr: f32,
    feat: u32,
    left: u32,
    right: u32,
}

/// The largest f32 (or infinity) that is not above `t`: the threshold that makes an f32
/// comparison `x <= t'` agree with scikit-learn's `f64(x) <= t` for every f32 `x`.
pub(crate) fn f32_at_or_below(t: f64) -> f32 {
    // `as` rounds to nearest, so the result is one of the two f32 neighbours of `t`; step down
    // when it is the one above.
    let f = t as f32;
    if f64::from(f) > t { f.next_down() } else { f }
}

/// The topology of all trees, renumbered in preorder (left subtree first, so an internal
/// node's left child is the next node): every child's number is larger than its parent's.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Per tree, the new number of its root.
    pub roots: Vec<u32>,
    /// Per tree, the internal nodes on its longest root-to-leaf path (the steps a walk takes).
    pub depths: Vec<u32>,
    /// Per new node: its global index in the attribute arrays and, for an internal node, the
    /// new numbers of its left and right children.
    pub nodes: Vec<(usize, Option<(u32, u32)>)>,
}

/// Reads `tree_nodes` and checks it against the length of the node arrays.
pub(crate) fn tree_sizes(ctx: &BuildCtx<'_>, total: usize) -> Result<Vec<usize>, Error> {
    let counts = ctx.i64s("tree_nodes")?;
    if counts.is_empty() {
        return Err(ctx.err("`tree_nodes` is empty: the model has no trees"));
    }
    let mut sizes = Vec::with_capacity(counts.len());
    for (t, &c) in counts.iter().enumerate() {
        match usize::try_from(c) {
            Ok(c) if c > 0 => sizes.push(c),
            _ => return Err(ctx.err(format!("`tree_nodes`: tree {t} has {c} nodes"))),
        }
    }
    let sum = sizes.iter().try_fold(0usize, |a, &c| a.checked_add(c));
    if sum != Some(total) {
        return Err(ctx.err(format!(
            "`tree_nodes` adds up to {sum:?} nodes, but the node arrays hold {total}"
        )));
    }
    Ok(sizes)
}

/// Checks that attribute `key` has `want` elements.
pub(crate) fn check_len(
    ctx: &BuildCtx<'_>,
    key: &str,
    got: usize,
    want: usize,
) -> Result<(), Error> {
    if got == want {
        Ok(())
    } else {
        Err(ctx.err(format!("`{key}` has {got} values, expected {want}")))
    }
}

/// Walks every tree from its root and renumbers it (see [`Layout`]). Refuses, naming the tree
/// and node, a child index outside its tree, a node reached twice (a cycle or a shared
/// subtree), and more nodes than a u32 can number. Nodes no path reaches are dropped.
pub(crate) fn layout(
    ctx: &BuildCtx<'_>,
    sizes: &[usize],
    left: &[i64],
    right: &[i64],
    is_leaf: &dyn Fn(usize) -> bool,
) -> Result<Layout, Error> {
    let mut out = Layout::default();
    let mut base = 0usize;
    // (local node, depth, parent's new number and side to patch; None for the root)
    type Pending = (usize, u32, Option<(usize, bool)>);
    let mut stack: Vec<Pending> = Vec::new();
    for (t, &size) in sizes.iter().enumerate() {
        let mut seen = vec![false; size];
        stack.clear();
        stack.push((0, 0, None));
        let mut depth = 0;
        let root = u32::try_from(out.nodes.len()).map_err(|_| ctx.err("too many nodes"))?;
        while let Some((local, d, parent)) = stack.pop() {
            if std::mem::replace(&mut seen[local], true) {
                return Err(ctx.err(format!(
                    "tree {t}: node {local} is reached twice (the children arrays do not form a tree)"
                )));
            }
            let g = base + local;
            let me = out.nodes.len();
            let id = u32::try_from(me).map_err(|_| ctx.err("too many nodes"))?;
            if is_leaf(g) {
                out.nodes.push((g, None));
                depth = depth.max(d);
            } else {
                let child = |key: &str, c: i64| -> Result<usize, Error> {
                    usize::try_from(c).ok().filter(|&c| c < size).ok_or_else(|| {
                        ctx.err(format!(
                            "tree {t}, node {local}: `{key}` = {c} is outside the tree's {size} nodes"
                        ))
                    })
                };
                let l = child("left", left[g])?;
                let r = child("right", right[g])?;
                out.nodes.push((g, Some((0, 0))));
                // Right first, so the left child is popped next and numbered `me + 1`.
                stack.push((r, d + 1, Some((me, false))));
                stack.push((l, d + 1, Some((me, true))));
            }
            if let Some((p, side)) = parent
                && let Some((pl, pr)) = &mut out.nodes[p].1
            {
                *(if side { pl } else { pr }) = id;
            }
        }
        out.roots.push(root);
        out.depths.push(depth);
        base += size;
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Regression, or forest probabilities (the averaged leaf values).
    Identity,
    Logistic,
    HalfLogistic,
    Softmax,
}

#[derive(Debug)]
struct TreeEnsemble {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    /// Per tree, the steps from its root to its deepest leaf.
    depths: Vec<u32>,
    /// Per group of `LANES` trees, the largest of their depths.
    group_depths: Vec<u32>,
    /// First raw column each tree adds to.
    targets: Vec<usize>,
    /// `w` values per node, read at leaves (already multiplied by the learning rate for
    /// boosting).
    leaf_values: Vec<f64>,
    w: usize,
    k: usize,
    /// Initial raw values (the baseline for boosting, zeros for forests).
    init: Vec<f64>,
    /// Forests divide the sum by the number of trees.
    divide_by: Option<f64>,
    allow_nan: bool,
    names: Vec<String>,
    classes: Option<Classes>,
    link: Link,
    label: bool,
    probability: bool,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let n_features = ctx.usize("n_features")?;
    if n_features == 0 {
        return Err(ctx.err("`n_features` is 0"));
    }
    let names = ctx.expect_width("X", n_features)?;
    let feature = ctx.i64s("feature")?;
    let n = feature.len();
    let threshold = ctx.f64s("threshold")?;
    let left = ctx.i64s("left")?;
    let right = ctx.i64s("right")?;
    let missing = ctx.i64s("missing_go_to_left")?;
    check_len(ctx, "threshold", threshold.len(), n)?;
    check_len(ctx, "left", left.len(), n)?;
    check_len(ctx, "right", right.len(), n)?;
    check_len(ctx, "missing_go_to_left", missing.len(), n)?;
    let sizes = tree_sizes(ctx, n)?;
    let n_trees = sizes.len();
    let k = ctx.usize("n_targets")?;
    if k == 0 {
        return Err(ctx.err("`n_targets` is 0"));
    }
    let value = ctx.f64s("value")?;
    if n == 0 || value.len() % n != 0 {
        return Err(ctx.err(format!("`value` has {} values for {n} nodes", value.len())));
    }
    let w = value.len() / n;
    if w == 0 || w > k {
        return Err(ctx.err(format!("`value` has {w} values per node for {k} targets")));
    }
    // Each tree adds its `w` values to `w` of the targets, so more targets than the trees
    // write is no model scikit-learn makes; refusing it also keeps a hostile `n_targets` from
    // sizing the allocations below (found by fuzzing, `fuzz/`; regression test in
    // runtime/tests/fuzz_regressions.rs).
    if n_trees.checked_mul(w).is_none_or(|written| k > written) {
        return Err(ctx.err(format!(
            "`n_targets` is {k}, more than the {n_trees} trees of {w} values write"
        )));
    }
    let targets = match ctx.opt_attr("tree_target") {
        None => vec![0; n_trees],
        Some(_) => {
            let t = ctx.i64s("tree_target")?;
            check_len(ctx, "tree_target", t.len(), n_trees)?;
            t.iter()
                .map(|&t| {
                    usize::try_from(t).ok().filter(|&t| t.checked_add(w).is_some_and(|end| end <= k)).ok_or_else(|| {
                        ctx.err(format!("`tree_target` {t} is outside the {k} targets (trees add {w} values)"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        }
    };

    // A node is a leaf when its left child is -1, as `_apply_dense` reads it; scikit-learn
    // always sets both children then, and so must a bundle.
    for (g, (&l, &r)) in left.iter().zip(&right).enumerate() {
        if (l == -1) != (r == -1) {
            return Err(ctx.err(format!(
                "node {g}: one child is -1 (a leaf) and the other is {}",
                l.max(r)
            )));
        }
    }
    let lay = layout(ctx, &sizes, &left, &right, &|g| left[g] == -1)?;

    let (scale, init, divide_by) = match ctx.str("aggregation")? {
        "average" => (None, vec![0.0; k], Some(n_trees as f64)),
        "sum" => {
            let lr = ctx.f64("learning_rate")?;
            let baseline = ctx.f64s("baseline")?;
            check_len(ctx, "baseline", baseline.len(), k)?;
            (Some(lr), baseline, None)
        }
        other => return Err(ctx.err(format!("unknown aggregation `{other}`"))),
    };

    let mut nodes = Vec::with_capacity(lay.nodes.len());
    let mut leaf_values = vec![0.0; lay.nodes.len() * w];
    for (id, &(g, children)) in lay.nodes.iter().enumerate() {
        let Some((l, r)) = children else {
            // scikit-learn computes `scale * value` (predict_stages) before adding; the
            // product is the same number whenever it is taken.
            for (o, &v) in leaf_values[id * w..(id + 1) * w]
                .iter_mut()
                .zip(&value[g * w..(g + 1) * w])
            {
                *o = scale.map_or(v, |s| s * v);
            }
            let me = u32::try_from(id).map_err(|_| ctx.err("too many nodes"))?;
            nodes.push(Node {
                thr: 0.0,
                feat: 0,
                left: me,
                right: me,
            });
            continue;
        };
        let f = usize::try_from(feature[g])
            .ok()
            .filter(|&f| f < n_features)
            .ok_or_else(|| {
                ctx.err(format!(
                    "node {g}: `feature` = {} is outside the {n_features} input features",
                    feature[g]
                ))
            })?;
        let miss_left = match missing[g] {
            0 => 0,
            1 => MISS_LEFT,
            other => return Err(ctx.err(format!("node {g}: `missing_go_to_left` = {other}"))),
        };
        nodes.push(Node {
            thr: f32_at_or_below(threshold[g]),
            feat: u32::try_from(f)
                .ok()
                .filter(|&f| f < MISS_LEFT)
                .ok_or_else(|| ctx.err("feature index too large"))?
                | miss_left,
            left: l,
            right: r,
        });
    }
    // Per group of LANES consecutive trees, the steps its deepest tree needs (walks of one row
    // advance a group of trees in lock step).
    let group_depths = lay
        .depths
        .chunks(LANES)
        .map(|c| c.iter().copied().max().unwrap_or(0))
        .collect();

    let allow_nan = ctx.bool("allow_nan")?;
    let (outputs, classes, link, label, probability) = match ctx.str("task")? {
        "regression" => {
            if ctx.str("link")? != "identity" {
                return Err(ctx.err("regression takes link `identity`"));
            }
            let out = if k == 1 {
                ctx.scalar_out("prediction", DType::F64)?
            } else {
                ctx.vector_out(
                    "prediction",
                    (0..k).map(|i| format!("prediction[{i}]")).collect(),
                )?
            };
            (vec![out], None, Link::Identity, false, false)
        }
        "classification" => {
            let classes = Classes::from_ctx(ctx)?;
            let c = classes.len();
            let link = match ctx.str("link")? {
                "average" if divide_by.is_some() && k == c && w == c => Link::Identity,
                "logistic" if divide_by.is_none() && k == 1 && c == 2 => Link::Logistic,
                "half_logistic" if divide_by.is_none() && k == 1 && c == 2 => Link::HalfLogistic,
                "softmax" if divide_by.is_none() && k == c && c > 2 => Link::Softmax,
                other => {
                    return Err(ctx.err(format!(
                        "link `{other}` does not fit {c} classes, {k} targets and aggregation `{}`",
                        ctx.str("aggregation")?
                    )));
                }
            };
            let (outputs, ports) = classes.outputs(ctx, k)?;
            if ports.decision {
                return Err(ctx.err("this op writes no `decision` output"));
            }
            (outputs, Some(classes), link, ports.label, ports.probability)
        }
        other => return Err(ctx.err(format!("unknown task `{other}`"))),
    };

    Ok(Built {
        kernel: Box::new(TreeEnsemble {
            nodes,
            roots: lay.roots,
            depths: lay.depths,
            group_depths,
            targets,
            leaf_values,
            w,
            k,
            init,
            divide_by,
            allow_nan,
            names,
            classes,
            link,
            label,
            probability,
        }),
        outputs,
    })
}

/// One step of a walk: from node `i` to the child `x` goes to (a leaf goes to itself).
#[inline(always)]
fn step(nodes: &[Node], i: u32, x: &[f32]) -> u32 {
    let nd = &nodes[i as usize];
    let v = x[(nd.feat & !MISS_LEFT) as usize];
    // `v <= thr` is false for NaN, so NaN goes left only when the flag says so. Non-short-
    // circuit `|` and `&` keep the step free of branches.
    let go_left = (v <= nd.thr) | (v.is_nan() & (nd.feat & MISS_LEFT != 0));
    // A conditional move: the direction is data-dependent, so a branch mispredicts often.
    std::hint::select_unpredictable(go_left, nd.left, nd.right)
}

/// Advances `L` independent walks `steps` times; `steps` is at least the depth of every tree
/// involved, so each walk ends on its leaf.
#[inline(always)]
fn walk<const L: usize>(nodes: &[Node], mut at: [u32; L], xs: [&[f32]; L], steps: u32) -> [u32; L] {
    for _ in 0..steps {
        for (a, x) in at.iter_mut().zip(xs) {
            *a = step(nodes, *a, x);
        }
    }
    at
}

/// Converts X to f32 as `check_array(dtype=float32)` does, then checks it the way scikit-learn
/// does after the conversion: infinities (including numbers too large for f32) are refused,
/// NaN is refused unless the trees route it.
pub(crate) fn to_f32(m: &Matrix, names: &[String], allow_nan: bool) -> Result<Vec<f32>, Error> {
    let mut out = Vec::with_capacity(m.data.len());
    let mut bad = false;
    for &v in &m.data {
        let f = v as f32;
        bad |= !f.is_finite();
        out.push(f);
    }
    if bad {
        for (i, (&f, &v)) in out.iter().zip(&m.data).enumerate() {
            if f.is_finite() || (allow_nan && f.is_nan()) {
                continue;
            }
            let (row, col) = (i / m.cols.max(1), i % m.cols.max(1));
            let column = names.get(col).cloned().unwrap_or_else(|| format!("x{col}"));
            return Err(if f.is_nan() {
                Error::Missing {
                    column,
                    row,
                    node: String::new(),
                }
            } else {
                Error::NonFinite {
                    column,
                    row,
                    // Debug prints 1e300 rather than 301 digits.
                    value: format!("{v:?}"),
                    node: String::new(),
                }
            });
        }
    }
    Ok(out)
}

impl TreeEnsemble {
    /// Adds leaf `leaf`'s values to the raw row `acc` at tree `t`'s target.
    #[inline(always)]
    fn add(&self, acc: &mut [f64], t: usize, leaf: u32) {
        let (w, leaf) = (self.w, leaf as usize);
        let target = self.targets[t];
        if w == 1 {
            acc[target] += self.leaf_values[leaf];
        } else {
            for (a, v) in acc[target..target + w]
                .iter_mut()
                .zip(&self.leaf_values[leaf * w..leaf * w + w])
            {
                *a += v;
            }
        }
    }

    /// The raw accumulated values, `rows x k`, in scikit-learn's order per row: for every row,
    /// tree 0's values are added first, then tree 1's, and so on.
    fn raw(&self, x: &[f32], rows: usize, n: usize) -> Matrix {
        let k = self.k;
        let mut acc = Matrix::zeros(rows, k);
        for row in acc.data.chunks_exact_mut(k) {
            row.copy_from_slice(&self.init);
        }
        if rows < LANES {
            // Few rows: each row walks LANES trees at once, adding their leaves in tree order.
            for (xr, ar) in x.chunks_exact(n).zip(acc.data.chunks_exact_mut(k)) {
                let groups = self.roots.chunks(LANES).zip(&self.group_depths);
                for (g, (roots, &steps)) in groups.enumerate() {
                    if let Ok(roots) = <[u32; LANES]>::try_from(roots) {
                        let leaves = walk(&self.nodes, roots, [xr; LANES], steps);
                        for (j, leaf) in leaves.into_iter().enumerate() {
                            self.add(ar, g * LANES + j, leaf);
                        }
                    } else {
                        for (j, &root) in roots.iter().enumerate() {
                            let [leaf] = walk(&self.nodes, [root], [xr], steps);
                            self.add(ar, g * LANES + j, leaf);
                        }
                    }
                }
            }
        } else {
            // Many rows: tree-major over blocks of rows, so a tree stays in cache; LANES rows
            // walk each tree at once.
            let mut start = 0;
            while start < rows {
                let end = (start + BLOCK).min(rows);
                let xs = &x[start * n..end * n];
                let accs = &mut acc.data[start * k..end * k];
                for (t, (&root, &steps)) in self.roots.iter().zip(&self.depths).enumerate() {
                    let mut xc = xs.chunks_exact(n * LANES);
                    let mut ac = accs.chunks_exact_mut(k * LANES);
                    for (xb, ab) in (&mut xc).zip(&mut ac) {
                        let rows: [&[f32]; LANES] =
                            std::array::from_fn(|l| &xb[l * n..(l + 1) * n]);
                        let leaves = walk(&self.nodes, [root; LANES], rows, steps);
                        for (ar, leaf) in ab.chunks_exact_mut(k).zip(leaves) {
                            self.add(ar, t, leaf);
                        }
                    }
                    for (xr, ar) in xc
                        .remainder()
                        .chunks_exact(n)
                        .zip(ac.into_remainder().chunks_exact_mut(k))
                    {
                        let [leaf] = walk(&self.nodes, [root], [xr], steps);
                        self.add(ar, t, leaf);
                    }
                }
                start = end;
            }
        }
        if let Some(d) = self.divide_by {
            acc.data.iter_mut().for_each(|v| *v /= d);
        }
        acc
    }
}

/// `[1 - p, p]` rows from the positive-class probabilities.
pub(crate) fn binary_proba(p1: impl Iterator<Item = f64>, rows: usize) -> Matrix {
    let mut p = Matrix::zeros(rows, 2);
    for (r, e) in p.data.chunks_exact_mut(2).zip(p1) {
        r[0] = 1.0 - e;
        r[1] = e;
    }
    p
}

impl Kernel for TreeEnsemble {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let m = gather(inputs);
        let x = to_f32(&m, &self.names, self.allow_nan)?;
        debug_assert_eq!(m.rows, rows);
        let raw = self.raw(&x, m.rows, m.cols);
        let Some(classes) = &self.classes else {
            return Ok(vec![if self.k == 1 {
                Value::Array(Arc::new(Float64Array::from(raw.data)))
            } else {
                Value::Matrix(raw)
            }]);
        };
        let idx: Vec<usize> = match self.link {
            Link::Logistic | Link::HalfLogistic => {
                raw.data.iter().map(|&v| usize::from(v >= 0.0)).collect()
            }
            Link::Identity | Link::Softmax => argmax_rows(&raw),
        };
        let mut out = Vec::with_capacity(2);
        if self.label {
            out.push(Value::Array(classes.labels(&idx)));
        }
        if self.probability {
            let p = match self.link {
                Link::Identity => raw,
                Link::Logistic => binary_proba(raw.data.iter().map(|&v| expit(v)), raw.rows),
                Link::HalfLogistic => {
                    binary_proba(raw.data.iter().map(|&v| expit(2.0 * v)), raw.rows)
                }
                Link::Softmax => {
                    let mut p = raw;
                    softmax_rows(&mut p);
                    p
                }
            };
            out.push(Value::Matrix(p));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so the test needs no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    /// The claim the walk relies on: for every f32 `x` (NaN aside, which both sides send the
    /// same way) `f64(x) <= t` iff `x <= f32_at_or_below(t)`. Checked on random doubles of
    /// every magnitude, doubles near f32 values, and the edges (overflow, subnormals, zeros,
    /// infinities), against random floats and every float next to the rounded threshold.
    #[test]
    fn f32_threshold_is_equivalent() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut ts: Vec<f64> = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            2.5,
            f64::from(f32::MAX),
            f64::from(f32::MAX) * (1.0 + 1e-12),
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from(f32::MIN_POSITIVE),
            f64::from(f32::from_bits(1)),
            f64::from(f32::from_bits(1)) / 3.0,
            -f64::from(f32::from_bits(1)) / 3.0,
            f64::MIN_POSITIVE,
        ];
        for _ in 0..20_000 {
            let t = f64::from_bits(rng.next());
            if !t.is_nan() {
                ts.push(t);
            }
            // Doubles between two neighbouring floats, and exactly on floats.
            let f = f32::from_bits(rng.next() as u32);
            if f.is_finite() {
                let d = f64::from(f);
                ts.push(d);
                ts.push(d + d.abs() * 1e-9);
                ts.push(d - d.abs() * 1e-9);
                ts.push(f64::from_bits(d.to_bits() + 1));
            }
        }
        for &t in &ts {
            let r = f32_at_or_below(t);
            let mut xs = vec![
                r,
                r.next_up(),
                r.next_down(),
                t as f32,
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ];
            xs.extend((0..8).map(|_| f32::from_bits(rng.next() as u32)));
            for x in xs {
                if x.is_nan() {
                    continue;
                }
                assert_eq!(f64::from(x) <= t, x <= r, "x={x:e} t={t:e} t'={r:e}");
            }
        }
    }

    #[test]
    fn to_f32_refuses_what_float32_cannot_hold() {
        let m = Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 1e300]);
        let names = vec!["a".to_string(), "b".to_string()];
        match to_f32(&m, &names, true) {
            Err(Error::NonFinite {
                column, row, value, ..
            }) => {
                assert_eq!((column.as_str(), row, value.as_str()), ("b", 1, "1e300"));
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
        let m = Matrix::from_vec(1, 2, vec![f64::NAN, 2.0]);
        assert!(to_f32(&m, &names, true).is_ok());
        assert!(matches!(
            to_f32(&m, &names, false),
            Err(Error::Missing { row: 0, .. })
        ));
    }
}
