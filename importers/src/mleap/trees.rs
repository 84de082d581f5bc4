//! MLeap's trees (`tree.json`: one JSON node per line, pre-order, left subtree first; or
//! `tree.pb`, decoded to the same JSON nodes by `proto.rs`) flattened into
//! `spark.tree_ensemble`'s node arrays.
//!
//! A categorical split stores `categories` with `isLeft`: the left categories when true, the
//! right ones when false (MLeap keeps whichever side Spark's `CategoricalSplit` stored). keel
//! takes the left categories, so for `isLeft: false` they are the complement within
//! `0..numCategories`. Valid category indices go the same way in both; an index outside
//! `0..numCategories` follows keel's (Spark's) smaller-side rule.

use super::ImportError;
use super::attrs::f64_of;
use serde_json::Value;

/// The nodes of a `tree.json` file: one JSON document per non-empty line.
pub(crate) fn json_lines(entry: &str, text: &[u8]) -> Result<Vec<Value>, ImportError> {
    let text =
        std::str::from_utf8(text).map_err(|_| ImportError::malformed(entry, "not UTF-8 text"))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| ImportError::Json {
                entry: entry.to_string(),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

/// Deepest tree accepted (Spark caps `maxDepth` at 30).
const MAX_DEPTH: usize = 64;
/// Most categories of one categorical split.
const MAX_CATEGORIES: i64 = 1 << 20;

/// The node arrays of all trees, appended tree after tree.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    pub tree_nodes: Vec<i64>,
    pub feature: Vec<i64>,
    pub threshold: Vec<f64>,
    pub left: Vec<i64>,
    pub right: Vec<i64>,
    pub num_categories: Vec<i64>,
    pub category_offsets: Vec<i64>,
    pub categories: Vec<f64>,
    pub leaf_values: Vec<f64>,
}

impl Nodes {
    /// Empty arrays (the offsets start at 0).
    pub(crate) fn new() -> Nodes {
        Nodes {
            category_offsets: vec![0],
            ..Nodes::default()
        }
    }

    /// Appends the tree whose pre-order nodes are `lines` (entry `entry`), checking feature
    /// indices against `n_features`; each leaf holds `width` values (1 for a regression tree,
    /// the class statistics of a classification tree).
    pub(crate) fn add_tree(
        &mut self,
        entry: &str,
        lines: &[Value],
        n_features: usize,
        width: usize,
    ) -> Result<(), ImportError> {
        let start = self.feature.len();
        let end = self.node(entry, lines, 0, start, n_features, width, 0)?;
        if end != lines.len() {
            return Err(ImportError::malformed(
                entry,
                format!("{} lines after the tree's last node", lines.len() - end),
            ));
        }
        self.tree_nodes.push(lines.len() as i64);
        Ok(())
    }

    /// Flattens the subtree whose root is line `i`; returns the line after it.
    #[allow(clippy::too_many_arguments)] // the recursion's state, passed down as is
    fn node(
        &mut self,
        entry: &str,
        lines: &[Value],
        i: usize,
        start: usize,
        n_features: usize,
        width: usize,
        depth: usize,
    ) -> Result<usize, ImportError> {
        let bad = |m: String| ImportError::malformed(entry, format!("node {i}: {m}"));
        if depth > MAX_DEPTH {
            return Err(bad(format!("deeper than {MAX_DEPTH} levels")));
        }
        let line = lines
            .get(i)
            .ok_or_else(|| bad("the tree ends before this node".into()))?;
        let me = self.feature.len();
        debug_assert_eq!(me - start, i);
        self.left.push(-1);
        self.right.push(-1);
        match line.get("type").and_then(Value::as_str) {
            Some("leaf") => {
                let values = line
                    .get("values")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("a leaf without `values`".into()))?;
                if values.len() != width {
                    return Err(bad(format!(
                        "a leaf holds {} values, expected {width}",
                        values.len()
                    )));
                }
                for v in values {
                    let v = f64_of(v).ok_or_else(|| bad("a leaf value is not a number".into()))?;
                    self.leaf_values.push(v);
                }
                self.feature.push(-1);
                self.threshold.push(0.0);
                self.num_categories.push(-1);
                self.category_offsets.push(self.categories.len() as i64);
                Ok(i + 1)
            }
            Some("internal") => {
                let split = line
                    .get("split")
                    .ok_or_else(|| bad("an internal node without `split`".into()))?;
                let feature = split
                    .get("featureIndex")
                    .and_then(Value::as_i64)
                    .filter(|&f| f >= 0 && (f as u64) < n_features as u64)
                    .ok_or_else(|| {
                        bad(format!("`featureIndex` missing or outside 0..{n_features}"))
                    })?;
                self.feature.push(feature);
                match split.get("type").and_then(Value::as_str) {
                    Some("continuous") => {
                        let t = split
                            .get("threshold")
                            .and_then(f64_of)
                            .ok_or_else(|| bad("a continuous split without `threshold`".into()))?;
                        self.threshold.push(t);
                        self.num_categories.push(-1);
                    }
                    Some("categorical") => {
                        let n = split
                            .get("numCategories")
                            .and_then(Value::as_i64)
                            .filter(|&n| n > 0 && n <= MAX_CATEGORIES)
                            .ok_or_else(|| bad("`numCategories` missing or out of range".into()))?;
                        let is_left = split
                            .get("isLeft")
                            .and_then(Value::as_bool)
                            .ok_or_else(|| bad("a categorical split without `isLeft`".into()))?;
                        let cats = split
                            .get("categories")
                            .and_then(Value::as_array)
                            .ok_or_else(|| bad("a categorical split without `categories`".into()))?
                            .iter()
                            .map(f64_of)
                            .collect::<Option<Vec<f64>>>()
                            .ok_or_else(|| bad("a category is not a number".into()))?;
                        self.threshold.push(0.0);
                        self.num_categories.push(n);
                        if is_left {
                            self.categories.extend(cats);
                        } else {
                            self.categories
                                .extend((0..n).map(|c| c as f64).filter(|c| !cats.contains(c)));
                        }
                    }
                    other => {
                        return Err(bad(format!("unknown split type {other:?}")));
                    }
                }
                self.leaf_values.extend(std::iter::repeat_n(0.0, width));
                self.category_offsets.push(self.categories.len() as i64);
                let left = i + 1;
                let right = self.node(entry, lines, left, start, n_features, width, depth + 1)?;
                let end = self.node(entry, lines, right, start, n_features, width, depth + 1)?;
                self.left[me] = left as i64;
                self.right[me] = right as i64;
                Ok(end)
            }
            other => Err(bad(format!("unknown node type {other:?}"))),
        }
    }
}
