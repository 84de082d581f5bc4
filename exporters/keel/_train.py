"""Training a feature + network bundle on one machine: :func:`train`.

``keel.train(frame, label="y", numeric=[...], categorical=[...])`` fits the feature stages
(string indexing with an unseen slot, mean imputation, standard scaling) and a tabular
network (numeric features and one embedding per categorical column into dense layers) with
keel's Rust trainer, on all cores, and returns the :class:`keel.Bundle` that scores the raw
columns: the same bundle ``keel serve``, Spark, the browser and the CLI score. The features
are computed during training by the very ops the bundle scores with.

The options are shared with ``keel train`` on the command line and with
:class:`keel.spark.KeelNetEstimator`; :func:`job_config` turns them into the JSON job the
native trainer reads, checking names and values first. Progress (one line per epoch: losses,
validation metrics, rows/s) goes to stderr, as a bar in a terminal or a notebook.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keel._api import Bundle, load

_TASKS = ("classification", "regression")
_ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "silu")
_LOSSES = ("cross_entropy", "binary_cross_entropy", "mse", "poisson")
_OPTIMIZERS = ("sgd", "adam", "adamw")
_SCHEDULES = ("constant", "step", "exponential", "cosine")


def job_config(
    *,
    label: str,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    task: str = "classification",
    hidden_layers: Sequence[int] = (64, 32),
    embedding_dim: int = 8,
    activation: str = "relu",
    layer_norm: bool = False,
    dropout: float = 0.0,
    loss: str | None = None,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    clip_grad_norm: float | None = None,
    lr_schedule: str = "constant",
    batch_size: int = 256,
    epochs: int = 10,
    seed: int = 0,
    validation_fraction: float = 0.1,
    early_stopping_patience: int | None = None,
    deterministic: bool = False,
    threads: int = 0,
    checkpoint_interval: int = 0,
    max_categories: int | None = None,
    min_frequency: int = 1,
) -> dict[str, Any]:
    """The JSON job the native trainer reads, from keyword options; raises ``ValueError``
    naming the option for a value that cannot work."""

    def one_of(name: str, value: str, allowed: Sequence[str]) -> str:
        if value not in allowed:
            raise ValueError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
        return value

    def positive(name: str, value: float, *, zero: bool = False) -> None:
        if not (value > 0 or (zero and value == 0)):
            raise ValueError(f"{name}={value!r}: must be {'at least 0' if zero else 'positive'}")

    if not label:
        raise ValueError("label: name the label column")
    numeric, categorical = list(numeric), list(categorical)
    if not numeric and not categorical:
        raise ValueError("numeric, categorical: name at least one feature column")
    clash = set(numeric) & set(categorical) | ({label} & (set(numeric) | set(categorical)))
    if clash:
        raise ValueError(f"column(s) {', '.join(sorted(clash))} named twice among label, numeric and categorical")
    one_of("task", task, _TASKS)
    one_of("activation", activation, _ACTIVATIONS)
    one_of("optimizer", optimizer, _OPTIMIZERS)
    one_of("lr_schedule", lr_schedule, _SCHEDULES)
    if loss is not None:
        one_of("loss", loss, _LOSSES)
    hidden = [int(h) for h in hidden_layers]
    if any(h <= 0 for h in hidden):
        raise ValueError(f"hidden_layers={hidden}: every width must be positive")
    positive("embedding_dim", embedding_dim)
    positive("learning_rate", learning_rate)
    positive("batch_size", batch_size)
    positive("epochs", epochs)
    positive("weight_decay", weight_decay, zero=True)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout={dropout!r}: must be in [0, 1)")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction={validation_fraction!r}: must be in [0, 1)")
    if early_stopping_patience is not None:
        positive("early_stopping_patience", early_stopping_patience)
        if validation_fraction == 0:
            raise ValueError("early_stopping_patience needs validation rows: set validation_fraction above 0")
    if clip_grad_norm is not None:
        positive("clip_grad_norm", clip_grad_norm)
    return {
        "numeric_cols": numeric,
        "categorical_cols": categorical,
        "label_col": label,
        "task": task,
        "max_categories": max_categories,
        "min_frequency": int(min_frequency),
        "hidden_layers": hidden,
        "embedding_dim": int(embedding_dim),
        "activation": activation,
        "layer_norm": bool(layer_norm),
        "dropout": float(dropout),
        "loss": loss,
        "optimizer": optimizer,
        "learning_rate": float(learning_rate),
        "weight_decay": float(weight_decay),
        "momentum": float(momentum),
        "clip_grad_norm": None if clip_grad_norm is None else float(clip_grad_norm),
        "lr_schedule": lr_schedule,
        "batch_size": int(batch_size),
        "epochs": int(epochs),
        "seed": int(seed),
        "validation_fraction": float(validation_fraction),
        "early_stopping_patience": early_stopping_patience,
        "deterministic": bool(deterministic),
        "threads": int(threads),
        "checkpoint_interval": int(checkpoint_interval),
    }


class Progress:
    """Prints training progress to stderr: a line per epoch (steps, losses, validation
    metrics, rows/s), preceded by a bar redrawn in place where stderr is a terminal or a
    notebook. ``Progress(enabled=False)`` prints nothing."""

    def __init__(self, epochs: int, *, enabled: bool | None = None, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = _interactive(self.stream)
        self.enabled = enabled
        self.epochs = epochs
        self.started = time.monotonic()
        self.history: list[dict[str, Any]] = []

    def epoch(self, metrics: Mapping[str, Any]) -> None:
        self.history.append(dict(metrics))
        if not self.enabled:
            return
        done = int(metrics["epoch"]) + 1
        width = 24
        filled = width * done // max(self.epochs, 1)
        bar = "#" * filled + "." * (width - filled)
        parts = [f"epoch {done}/{self.epochs} [{bar}]", f"loss {metrics['train_loss']:.4f}"]
        for key, name in (("validation_loss", "val_loss"), ("validation_auc", "val_auc"),
                          ("validation_accuracy", "val_acc"), ("validation_rmse", "val_rmse")):
            if metrics.get(key) is not None:
                parts.append(f"{name} {metrics[key]:.4f}")
        parts.append(f"{metrics['rows_per_second']:,.0f} rows/s")
        parts.append(f"{time.monotonic() - self.started:.1f}s")
        print("  ".join(parts), file=self.stream, flush=True)


def _interactive(stream: Any) -> bool:
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        pass
    return "ipykernel" in sys.modules


def _reader(data: Any) -> Any:
    """A pyarrow RecordBatchReader over ``data``: a pyarrow Table, RecordBatch or reader, a
    pandas DataFrame, or a path to a CSV, Parquet or Arrow IPC file."""
    import pyarrow as pa

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        lower = path.lower()
        if lower.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path).to_reader()
        if lower.endswith((".arrow", ".arrows", ".ipc", ".feather")):
            import pyarrow.ipc as ipc

            try:
                return ipc.open_file(path).read_all().to_reader()
            except pa.ArrowInvalid:
                return ipc.open_stream(path)
        if lower.endswith(".csv"):
            import pyarrow.csv as pacsv

            return pacsv.read_csv(path).to_reader()
        raise ValueError(f"{path}: expected a .csv, .parquet or Arrow IPC (.arrow, .arrows) file")
    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if type(data).__module__.startswith("pandas"):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, pa.Table):
        return _decoded(data).to_reader()
    raise TypeError(f"cannot train on a {type(data).__name__}: pass a pyarrow Table, a pandas DataFrame or a file path")


def _decoded(table: Any) -> Any:
    """``table`` with dictionary-encoded columns (pandas' ``category`` dtype) as plain columns
    of their values, the types the trainer reads."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def train(
    data: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    label: str,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    progress: bool | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> Bundle:
    """Trains a feature + network bundle on ``data`` on this machine and returns it, planned
    and ready to score (also written to ``path`` when given).

    ``data``: a pyarrow Table or reader, a pandas DataFrame, or a CSV / Parquet / Arrow IPC
    file. ``label``: the label column (class indices or strings for classification, numbers
    for regression); ``numeric`` and ``categorical``: the feature columns. Other options (see
    :func:`job_config`): ``task``, ``hidden_layers``, ``embedding_dim``, ``activation``,
    ``layer_norm``, ``dropout``, ``loss``, ``optimizer`` (``sgd``, ``adam``, ``adamw``),
    ``learning_rate``, ``weight_decay``, ``momentum``, ``clip_grad_norm``, ``lr_schedule``,
    ``batch_size``, ``epochs``, ``seed``, ``validation_fraction``,
    ``early_stopping_patience``, ``deterministic``, ``threads``.

    The bundle's outputs are ``prediction`` (the class index, or the value) and, for
    classification, ``probability``; its metadata records the options and every epoch's
    metrics. Bad data raises keel's errors naming the column and row.
    """
    job = job_config(label=label, numeric=numeric, categorical=categorical, **options)
    bar = Progress(job["epochs"], enabled=progress)

    def event(kind: str, payload: bytes) -> None:
        if kind == "epoch":
            metrics = json.loads(payload)
            bar.epoch(metrics)
            if on_epoch is not None:
                on_epoch(metrics)

    # Imported here: `import keel` must not load the native module (the exporters run where
    # it is not built).
    from keel._api import _native_module

    _native = _native_module()
    bundle_bytes = _native.train_local(json.dumps(job), _reader(data), event)
    if path is not None:
        with open(path, "wb") as f:
            f.write(bundle_bytes)
    return load(bytes(bundle_bytes))
