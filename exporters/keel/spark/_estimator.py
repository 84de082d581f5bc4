"""``KeelNetEstimator``: fits a feature pipeline and a tabular network together on Spark and
returns a :class:`~keel.spark.KeelModel` scoring the raw columns with one keel bundle.

``fit(df)`` runs:

1. **one statistics pass** (``mapInArrow``): each partition summarises its rows (numeric
   sums and missing counts, category counts, labels) and the driver merges the summaries and
   fits the feature stages (string indexing with an unseen slot, mean imputation, standard
   scaling), as keel's trainer defines them;
2. **one barrier job** (``mapInArrow(barrier=True)``, one task per worker): each task
   computes its rows' features with keel's own ops, then all tasks train the network over
   keel's TCP ring allreduce, with the GIL released (see ``_training_job``);
3. the trained bundle (feature stages + network) is written under ``bundleDir`` and
   returned as a ``KeelModel`` whose ``transform`` appends ``prediction`` and, for
   classification, ``probability``.

Rows go to validation by a hash of a row id and the seed (``validationFraction``). In
``deterministic`` mode the rows are also assigned to shards by that hash and repartitioned
by shard, so the model's bytes do not depend on ``numWorkers`` (16 shards; ``numWorkers``
at most 16). Faults: rank 0 checkpoints to the driver; a failed barrier job is resubmitted
(up to ``maxRestarts`` times) and continues from the last checkpoint.

Barrier jobs run one at a time in a driver process (a lock), so concurrent fits (a
``CrossValidator`` with ``parallelism`` > 1) queue instead of each holding part of the
cluster's slots and waiting for the rest forever.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import uuid
from typing import Any

from pyspark import StorageLevel
from pyspark.ml import Estimator
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from keel._train import Progress, job_config
from keel.errors import ColumnTypeError, MissingColumnError
from keel.spark._training_job import DEFAULT_TIMEOUT_S, Coordinator, barrier_task, stats_task
from keel.spark_runtime import KeelModel

# Shards in deterministic mode (trainer/src/train.rs: DEFAULT_SHARDS).
_SHARDS = 16
# One barrier job at a time per driver process.
_BARRIER_LOCK = threading.Lock()


def _param(name: str, doc: str, conv: Any) -> Param[Any]:
    return Param(Params._dummy(), name, doc, typeConverter=conv)


_PARAMS: dict[str, tuple[str, Any, Any]] = {
    # name: (doc, converter, default)
    "numericCols": ("numeric feature columns", TypeConverters.toListString, []),
    "categoricalCols": ("categorical feature columns (strings or integers)", TypeConverters.toListString, []),
    "labelCol": ("the label column", TypeConverters.toString, "label"),
    "task": ("classification or regression", TypeConverters.toString, "classification"),
    "hiddenLayers": ("widths of the hidden layers", TypeConverters.toListInt, [64, 32]),
    "embeddingDim": ("width of each categorical column's embedding", TypeConverters.toInt, 8),
    "activation": ("relu, gelu, tanh, sigmoid or silu", TypeConverters.toString, "relu"),
    "layerNorm": ("a LayerNorm after each hidden layer", TypeConverters.toBoolean, False),
    "dropout": ("dropout probability after each hidden layer", TypeConverters.toFloat, 0.0),
    "loss": ("cross_entropy, binary_cross_entropy, mse or poisson (empty: by task)", TypeConverters.toString, ""),
    "optimizer": ("sgd, adam or adamw", TypeConverters.toString, "adam"),
    "learningRate": ("the base learning rate", TypeConverters.toFloat, 1e-3),
    "weightDecay": ("weight decay (L2 for sgd and adam, decoupled for adamw)", TypeConverters.toFloat, 0.0),
    "momentum": ("sgd's momentum", TypeConverters.toFloat, 0.9),
    "clipGradNorm": ("clip the gradient's 2-norm to this (0: no clipping)", TypeConverters.toFloat, 0.0),
    "lrSchedule": ("constant, step, exponential or cosine, per epoch", TypeConverters.toString, "constant"),
    "batchSize": ("rows per optimizer step across all workers", TypeConverters.toInt, 256),
    "epochs": ("passes over the training rows", TypeConverters.toInt, 10),
    "seed": ("seeds the initial weights, shuffles, dropout and the validation split", TypeConverters.toInt, 0),
    "numWorkers": ("barrier tasks (0: the cluster's task slots, at most 16)", TypeConverters.toInt, 0),
    "threadsPerWorker": ("threads per task (0: spark.task.cpus)", TypeConverters.toInt, 0),
    "checkpointInterval": ("steps between checkpoints to the driver (0: each epoch)", TypeConverters.toInt, 0),
    "maxRestarts": ("times a failed barrier job is resubmitted from the last checkpoint", TypeConverters.toInt, 2),
    "validationFraction": ("share of rows held out for validation", TypeConverters.toFloat, 0.1),
    "earlyStoppingPatience": ("stop after this many epochs without a better validation loss (0: never)",
                              TypeConverters.toInt, 0),
    "deterministic": ("results independent of workers and threads (repartitions by shard)",
                      TypeConverters.toBoolean, False),
    "bundleDir": ("folder the trained bundle is written to (empty: a temporary folder)", TypeConverters.toString, ""),
    "timeout": ("seconds a worker waits for a peer before failing", TypeConverters.toFloat, DEFAULT_TIMEOUT_S),
    "progress": ("print a line per epoch on the driver (default: when interactive)", TypeConverters.toString, "auto"),
}


class KeelNetEstimator(Estimator[KeelModel]):
    """Fits feature stages and a tabular network on Spark; ``fit(df)`` returns a
    :class:`~keel.spark.KeelModel` over the trained bundle (see the module doc).

    Params (all real PySpark Params, so ``ParamGridBuilder``, ``CrossValidator`` and
    ``TrainValidationSplit`` work): ``numericCols``, ``categoricalCols``, ``labelCol``,
    ``task``, ``hiddenLayers``, ``embeddingDim``, ``activation``, ``layerNorm``, ``dropout``,
    ``loss``, ``optimizer``, ``learningRate``, ``weightDecay``, ``momentum``,
    ``clipGradNorm``, ``lrSchedule``, ``batchSize``, ``epochs``, ``seed``, ``numWorkers``,
    ``threadsPerWorker``, ``checkpointInterval``, ``maxRestarts``, ``validationFraction``,
    ``earlyStoppingPatience``, ``deterministic``, ``bundleDir``, ``timeout``, ``progress``.
    """

    __module__ = "keel.spark"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self._setDefault(**{name: default for name, (_, _, default) in _PARAMS.items()})
        self.setParams(**kwargs)
        # The last fit's coordinator figures (tests and the closing summary read them).
        self.lastFitInfo: dict[str, Any] = {}

    def setParams(self, **kwargs: Any) -> KeelNetEstimator:
        unknown = set(kwargs) - set(_PARAMS)
        if unknown:
            raise TypeError(f"KeelNetEstimator: unknown param(s) {', '.join(sorted(unknown))} "
                            f"(known: {', '.join(_PARAMS)})")
        return self._set(**{k: v for k, v in kwargs.items() if v is not None})

    def _job(self, spark_task_cpus: int) -> dict[str, Any]:
        g = self.getOrDefault
        loss = g("loss") or None
        if g("task") == "regression" and loss is None:
            loss = "mse"
        patience = g("earlyStoppingPatience") or None
        return job_config(
            label=g("labelCol"), numeric=g("numericCols"), categorical=g("categoricalCols"),
            task=g("task"), hidden_layers=g("hiddenLayers"), embedding_dim=g("embeddingDim"),
            activation=g("activation"), layer_norm=g("layerNorm"), dropout=g("dropout"), loss=loss,
            optimizer=g("optimizer"), learning_rate=g("learningRate"), weight_decay=g("weightDecay"),
            momentum=g("momentum"), clip_grad_norm=g("clipGradNorm") or None, lr_schedule=g("lrSchedule"),
            batch_size=g("batchSize"), epochs=g("epochs"), seed=g("seed"),
            validation_fraction=g("validationFraction"), early_stopping_patience=patience,
            deterministic=g("deterministic"), threads=g("threadsPerWorker") or spark_task_cpus,
            checkpoint_interval=g("checkpointInterval"),
        )

    def _fit(self, dataset: DataFrame) -> KeelModel:
        spark = dataset.sparkSession
        sc = spark.sparkContext
        task_cpus = int(sc.getConf().get("spark.task.cpus", "1"))
        job = self._job(task_cpus)
        columns = job["numeric_cols"] + job["categorical_cols"] + [job["label_col"]]
        missing = [c for c in columns if c not in dataset.columns]
        if missing:
            raise MissingColumnError(
                f"KeelNetEstimator: column(s) {', '.join(missing)} not in the DataFrame "
                f"(it has {', '.join(dataset.columns)})")
        _check_types(dataset, job)
        slots = sc.defaultParallelism
        workers = self.getOrDefault("numWorkers") or min(slots, _SHARDS)
        if workers > slots:
            raise ValueError(f"KeelNetEstimator: numWorkers={workers} but the cluster has {slots} task slots; "
                             f"a barrier job needs all its tasks running at once")
        if workers > _SHARDS:
            raise ValueError(f"KeelNetEstimator: numWorkers={workers}: at most {_SHARDS}")
        seed = job["seed"]
        job["shards"] = _SHARDS
        fraction = job["validation_fraction"]
        # A row's key is a hash of its content and the seed, so the validation split and the
        # shards do not depend on how the input happens to be partitioned or ordered.
        frame = dataset.select(*columns).withColumn("_keel_row", F.xxhash64(F.lit(seed), *columns))
        frame = frame.withColumn(
            "_keel_valid", F.pmod("_keel_row", F.lit(1_000_000)) < F.lit(int(fraction * 1_000_000)))
        if job["deterministic"]:
            # Whole shards per task, each in a total order (rows equal in every column are
            # interchangeable), so each shard's rows, and their sums, are the same on any
            # number of workers.
            frame = (frame.withColumn("_keel_shard", F.pmod(F.xxhash64(F.lit(seed + 1), "_keel_row"), F.lit(_SHARDS)).cast("int"))
                     .repartition(workers, "_keel_shard").sortWithinPartitions("_keel_shard", "_keel_row", *columns))
        elif frame.rdd.getNumPartitions() != workers:
            # A shuffle, not coalesce: a barrier stage may not narrow its parent's partitions.
            frame = frame.repartition(workers)
        job_json = json.dumps(job)
        # Both jobs read the same rows: kept after the first (the shuffle and the source read
        # happen once), recomputed from the lineage only where an executor was lost.
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)

        # 1. Statistics: one pass, one summary per partition, merged on the driver.
        # In deterministic mode one summary per shard, merged in shard order: floating-point
        # sums then come out the same whichever worker held which shard.
        rows = frame.mapInArrow(stats_task(job_json, job["deterministic"]), "shard int, stats string").collect()
        summaries = [r["stats"] for r in sorted(rows, key=lambda r: r["shard"])]
        # Imported here, not at the top: `import keel.spark` (the exporters) must not load the
        # native module.
        from keel._api import _native_module

        _native = _native_module()
        plan_json = _native.fit_features(job_json, summaries)

        # 2. The barrier job, resubmitted from the last checkpoint when it fails.
        bar = Progress(job["epochs"], enabled=None if self.getOrDefault("progress") == "auto"
                       else self.getOrDefault("progress") == "true")
        secret = secrets.token_bytes(32)
        job_id = uuid.uuid4().hex
        host = sc.getConf().get("spark.driver.host", "127.0.0.1")
        coordinator = Coordinator(host, secret, bar.epoch)
        restarts = 0
        try:
            with _BARRIER_LOCK:
                while True:
                    task = barrier_task(job_json, plan_json, secret, job_id, coordinator.address,
                                        float(self.getOrDefault("timeout")))
                    try:
                        frame.mapInArrow(task, "rank int, rows long", barrier=True).collect()
                        break
                    except Exception:
                        if restarts >= self.getOrDefault("maxRestarts") or coordinator.result is not None:
                            if coordinator.result is not None:
                                break
                            raise
                        restarts += 1
        finally:
            coordinator.close()
            frame.unpersist()
        if coordinator.result is None:
            raise RuntimeError("KeelNetEstimator: the barrier job finished without a model from rank 0")
        self.lastFitInfo = {"restarts": restarts, "checkpoints": coordinator.checkpoints,
                            "resumes": coordinator.resumes, "history": coordinator.history,
                            "workers": workers}

        folder = self.getOrDefault("bundleDir") or tempfile.mkdtemp(prefix="keel-train-")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{self.uid}-{job_id[:8]}.keel")
        with open(path, "wb") as f:
            f.write(coordinator.result)
        model = KeelModel(path)
        return model


def _check_types(dataset: DataFrame, job: dict[str, Any]) -> None:
    """Refuses, before any Spark job, a feature or label column whose Spark type the trainer
    cannot read, naming it."""
    from pyspark.sql import types as T

    numeric = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
    integral = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    types = {f.name: f.dataType for f in dataset.schema.fields}

    def refuse(column: str, expected: str) -> None:
        raise ColumnTypeError(f"KeelNetEstimator: column `{column}` is {types[column].simpleString()}; "
                              f"expected {expected}", column=column)

    for c in job["numeric_cols"]:
        if not isinstance(types[c], numeric):
            refuse(c, "a number (numericCols)")
    for c in job["categorical_cols"]:
        if not isinstance(types[c], (T.StringType, *integral)):
            refuse(c, "a string or an integer (categoricalCols)")
    label = job["label_col"]
    allowed = numeric if job["task"] == "regression" else (*numeric, T.StringType)
    if not isinstance(types[label], allowed):
        refuse(label, "a number" + ("" if job["task"] == "regression" else " or a string") + " (labelCol)")


def _install_params() -> None:
    """Each entry of ``_PARAMS`` as a class-level ``Param`` (what PySpark's ``Params``
    discovers, copies per instance and lets ``ParamGridBuilder`` name), with its ``getX`` /
    ``setX`` accessors."""
    for name, (doc, conv, _) in _PARAMS.items():
        setattr(KeelNetEstimator, name, _param(name, doc, conv))
        cap = name[0].upper() + name[1:]

        def getter(self: KeelNetEstimator, _n: str = name) -> Any:
            return self.getOrDefault(_n)

        def setter(self: KeelNetEstimator, value: Any, _n: str = name) -> KeelNetEstimator:
            return self._set(**{_n: value})

        getter.__doc__ = f"Gets {name}: {doc}."
        setter.__doc__ = f"Sets {name}: {doc}."
        setattr(KeelNetEstimator, f"get{cap}", getter)
        setattr(KeelNetEstimator, f"set{cap}", setter)


_install_params()
