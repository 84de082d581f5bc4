"""Converters for Spark ML's decision trees, random forests and gradient-boosted trees,
classification and regression (op ``spark.tree_ensemble``).

Tree weights come from the models' Python API. The nodes come from Spark's own persistence:
the model is saved to a temporary local folder (``model.write().save``: one parquet row per node
with its split, ``prediction`` and ``impurityStats``, all IEEE doubles as Spark holds them) and
read back with ``spark.read.parquet``, a few seconds even for hundreds of deep trees. Where that
folder cannot be read back whole (a cluster whose executors write to their own local disks:
checked against each tree's ``numNodes``), the nodes are read from the Java model through py4j
instead, one call per node and field (exact too, through ``Double.toString``, but about a
millisecond per node).
"""

from __future__ import annotations

import os

from pyspark.ml.classification import (
    DecisionTreeClassificationModel,
    GBTClassificationModel,
    RandomForestClassificationModel,
)
from pyspark.ml.regression import DecisionTreeRegressionModel, GBTRegressionModel, RandomForestRegressionModel

from keel.spark._core import Ctx, converter, param, require, stage_doc
from keel.spark._predictors import _features, _outputs, _predictor_io, _thresholds


def _jvm():
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:
        raise RuntimeError("exporting Spark trees needs the active SparkContext that holds the model")
    return sc._jvm


def _doubles(jvm, arr) -> list[float]:
    text = jvm.java.util.Arrays.toString(arr)
    inner = text.strip()[1:-1].strip()
    return [float(x) for x in inner.split(",")] if inner else []


def _saved_trees(stage, n_trees: int) -> "list[dict[int, tuple]] | None":
    """The nodes of each tree by id, from the model saved by Spark to a temporary local folder,
    or None when that folder cannot be read back whole. A node is ``(leftChild, rightChild,
    featureIndex, leftCategoriesOrThreshold, numCategories, prediction, impurityStats)``."""
    import shutil
    import tempfile
    import warnings

    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        return None
    tmp = tempfile.mkdtemp(prefix="keel-spark-trees-")
    try:
        folder = os.path.join(tmp, "model")
        stage.write().save("file://" + folder)
        df = spark.read.parquet("file://" + os.path.join(folder, "data"))
        single = "treeID" not in df.columns
        node = "" if single else "nodeData."
        cols = [
            f"{node}id", f"{node}leftChild", f"{node}rightChild", f"{node}split.featureIndex",
            f"{node}split.leftCategoriesOrThreshold", f"{node}split.numCategories",
            f"{node}prediction", f"{node}impurityStats",
        ]
        if not single:
            cols.append("treeID")
        trees: list[dict[int, tuple]] = [{} for _ in range(n_trees)]
        for r in df.select(*cols).collect():
            t = 0 if single else int(r[8])
            if not 0 <= t < n_trees:
                return None
            trees[t][int(r[0])] = tuple(r[1:8])
        # A cluster whose executors wrote to their own disks leaves parts missing here.
        java_trees = [stage._java_obj] if single else [t._java_obj for t in stage.trees]
        if any(len(nodes) != int(jt.numNodes()) for nodes, jt in zip(trees, java_trees)):
            return None
        return trees
    except Exception as e:  # noqa: BLE001 - any failure falls back to the exact py4j walk
        warnings.warn(f"reading the trees through a saved copy failed ({e}); reading them node by node")
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _Nodes:
    """The flattened node arrays of the trees of one model (see the op's attribute table)."""

    def __init__(self) -> None:
        self.tree_nodes: list[int] = []
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.left: list[int] = []
        self.right: list[int] = []
        self.num_categories: list[int] = []
        self.category_offsets: list[int] = [0]
        self.categories: list[float] = []
        self.leaf_values: list[float] = []

    def add_tree(self, jvm, root, stats: bool, width: int, path: str) -> None:
        """Appends one tree, numbering its nodes in preorder from 0 (the root)."""
        start = len(self.feature)
        stack = [(root, None, False)]
        while stack:
            jnode, parent, is_right = stack.pop()
            me = len(self.feature) - start
            if parent is not None:
                (self.right if is_right else self.left)[start + parent] = me
            kind = jnode.getClass().getSimpleName()
            self.left.append(-1)
            self.right.append(-1)
            if kind == "LeafNode":
                self.feature.append(-1)
                self.threshold.append(0.0)
                self.num_categories.append(-1)
                if stats:
                    v = _doubles(jvm, jnode.impurityStats().stats())
                    require(len(v) == width, f"a leaf holds {len(v)} class statistics for {width} classes", path)
                    self.leaf_values.extend(v)
                else:
                    self.leaf_values.append(float(jnode.prediction()))
            elif kind == "InternalNode":
                split = jnode.split()
                skind = split.getClass().getSimpleName()
                self.feature.append(int(split.featureIndex()))
                if skind == "ContinuousSplit":
                    self.threshold.append(float(split.threshold()))
                    self.num_categories.append(-1)
                elif skind == "CategoricalSplit":
                    self.threshold.append(0.0)
                    self.num_categories.append(int(split.numCategories()))
                    self.categories.extend(_doubles(jvm, split.leftCategories()))
                else:
                    require(False, f"tree split {skind} is not supported", path)
                self.leaf_values.extend([0.0] * width)
                # Right pushed first so the left subtree is numbered next (preorder).
                stack.append((jnode.rightChild(), me, True))
                stack.append((jnode.leftChild(), me, False))
            else:
                require(False, f"tree node {kind} is not supported", path)
            self.category_offsets.append(len(self.categories))
        self.tree_nodes.append(len(self.feature) - start)

    def add_saved_tree(self, saved: "dict[int, tuple]", stats: bool, width: int, path: str) -> None:
        """Appends one tree read by :func:`_saved_trees`, numbering its nodes in preorder from
        0 (the root, Spark's id 0), as :meth:`add_tree` does."""
        start = len(self.feature)
        stack = [(0, None, False)]
        seen = 0
        while stack:
            nid, parent, is_right = stack.pop()
            nd = saved.get(nid)
            require(nd is not None and seen < len(saved), f"the saved tree has no node {nid} (or a cycle)", path)
            seen += 1
            left, right, feat, cats, ncat, prediction, impurity = nd
            me = len(self.feature) - start
            if parent is not None:
                (self.right if is_right else self.left)[start + parent] = me
            self.left.append(-1)
            self.right.append(-1)
            if left == -1:
                self.feature.append(-1)
                self.threshold.append(0.0)
                self.num_categories.append(-1)
                if stats:
                    v = [float(x) for x in impurity]
                    require(len(v) == width, f"a leaf holds {len(v)} class statistics for {width} classes", path)
                    self.leaf_values.extend(v)
                else:
                    self.leaf_values.append(float(prediction))
            else:
                self.feature.append(int(feat))
                if int(ncat) == -1:
                    require(len(cats) == 1, "a continuous split without one threshold", path)
                    self.threshold.append(float(cats[0]))
                    self.num_categories.append(-1)
                else:
                    self.threshold.append(0.0)
                    self.num_categories.append(int(ncat))
                    self.categories.extend(float(c) for c in cats)
                self.leaf_values.extend([0.0] * width)
                stack.append((int(right), me, True))
                stack.append((int(left), me, False))
            self.category_offsets.append(len(self.categories))
        self.tree_nodes.append(len(self.feature) - start)

    def attrs(self, ctx: Ctx, node: str) -> dict:
        b = ctx.b
        return {
            "tree_nodes": b.a_i64s(f"{node}/tree_nodes", self.tree_nodes),
            "feature": b.a_i64s(f"{node}/feature", self.feature),
            "threshold": b.a_f64s(f"{node}/threshold", self.threshold),
            "left": b.a_i64s(f"{node}/left", self.left),
            "right": b.a_i64s(f"{node}/right", self.right),
            "num_categories": b.a_i64s(f"{node}/num_categories", self.num_categories),
            "category_offsets": b.a_i64s(f"{node}/category_offsets", self.category_offsets),
            "categories": b.a_f64s(f"{node}/categories", self.categories),
            "leaf_values": b.a_f64s(f"{node}/leaf_values", self.leaf_values),
        }


_CLASSIFIERS = (DecisionTreeClassificationModel, RandomForestClassificationModel, GBTClassificationModel)


@converter(
    DecisionTreeClassificationModel, DecisionTreeRegressionModel,
    RandomForestClassificationModel, RandomForestRegressionModel,
    GBTClassificationModel, GBTRegressionModel,
    io=_predictor_io, predictor=True,
)
def _trees(ctx: Ctx, stage, path: str) -> None:
    leaf_col = param(stage, "leafCol")
    require(not leaf_col, f"leafCol='{leaf_col}' is not supported", path)
    jvm = _jvm()
    classification = isinstance(stage, _CLASSIFIERS)
    if isinstance(stage, (DecisionTreeClassificationModel, DecisionTreeRegressionModel)):
        ensemble, jtrees = "tree", [stage._java_obj]
    elif isinstance(stage, (RandomForestClassificationModel, RandomForestRegressionModel)):
        ensemble, jtrees = "forest", [t._java_obj for t in stage.trees]
    else:
        ensemble, jtrees = "gbt", [t._java_obj for t in stage.trees]
    n_classes = int(stage.numClasses) if classification else None
    # Classification trees and forests vote with their leaves' class statistics; regression
    # trees and every GBT tree (regression trees) predict one number.
    stats = classification and ensemble != "gbt"
    width = n_classes if stats else 1
    nodes = _Nodes()
    saved = _saved_trees(stage, len(jtrees))
    if saved is not None:
        for tree in saved:
            nodes.add_saved_tree(tree, stats, width, path)
    else:
        for jt in jtrees:
            nodes.add_tree(jvm, jt.rootNode(), stats, width, path)
    node = ctx.node(stage)
    n_features = int(stage.numFeatures)
    X = _features(ctx, stage, path, n_features)
    attrs = nodes.attrs(ctx, node)
    attrs.update(
        {
            "n_features": ctx.b.a_i64(n_features),
            "ensemble": ctx.b.a_str(ensemble),
            "task": ctx.b.a_str("classification" if classification else "regression"),
        }
    )
    if classification:
        attrs["num_classes"] = ctx.b.a_i64(n_classes)
        attrs.update(_thresholds(ctx, stage, node, n_classes))
    if ensemble == "gbt":
        weights = [float(w) for w in stage.treeWeights]
        require(len(weights) == len(jtrees), "tree weights do not match the trees", path)
        attrs["tree_weights"] = ctx.b.a_f64s(f"{node}/tree_weights", weights)
    ports = _outputs(ctx, stage, path, n_classes, classification)
    ctx.b.stage("spark.tree_ensemble", node, {"X": [X]}, ports, attrs, doc=stage_doc(stage, path))
