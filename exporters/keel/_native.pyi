"""Type stubs of the private extension module ``keel._native`` (Rust: the ``keel-python``
crate). Use the public API instead: ``keel.load`` and ``keel.Bundle``."""

from collections.abc import Callable, Mapping
from typing import Any, final

import pyarrow as pa

RUNTIME_VERSION: str

def convert_onnx(
    data: bytes,
    *,
    name: str | None = None,
    metadata: dict[str, str] | None = None,
    producer: str | None = None,
) -> bytes:
    """An ONNX model to keel bundle bytes through keel_import::onnx, planned before returning;
    raises ``keel.UnsupportedError`` listing unsupported ops, ``keel.BundleError`` otherwise."""

def compose(
    features: bytes,
    network: bytes,
    *,
    connect: list[tuple[str, list[str]]] | None = None,
    keep: list[str] | None = None,
    name: str | None = None,
) -> bytes:
    """A feature pipeline's and a network's bundle bytes joined through keel_import::compose,
    planned before returning; raises ``keel.ComposeError`` when they do not join."""

@final
class Model:
    """A planned bundle (``keel_runtime::Model``); immutable and shareable across threads."""

    @staticmethod
    def load(
        data: bytes, *, ignore_extra_columns: bool = False, origin: str | None = None
    ) -> Model:
        """Reads, verifies and plans a bundle; raises ``keel.BundleError`` and subclasses."""
    @property
    def manifest_json(self) -> str: ...
    @property
    def input_schema(self) -> pa.Schema: ...
    @property
    def output_schema(self) -> pa.Schema: ...
    @property
    def ignore_extra_columns(self) -> bool: ...
    @property
    def backends(self) -> list[str]: ...
    def transform_batch(self, batch: Any, threads: int = 1) -> pa.RecordBatch:
        """Scores an ``__arrow_c_array__`` object (a record batch); GIL released."""
    def transform_stream(self, data: Any, threads: int = 1) -> pa.Table:
        """Scores an ``__arrow_c_stream__`` object (a table, a reader); GIL released."""
    def transform_one(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Scores one row given as a mapping; returns a dict of plain Python values."""

# The trainer (keel_train, through exporters/bindings/src/train.rs): jobs, plans and
# statistics cross as JSON text, rows as Arrow.

@final
class FeatureStats:
    """One-pass statistics of a job's feature and label columns (a Spark partition's)."""

    def __init__(self, job: str) -> None: ...
    def update(self, batch: Any) -> None:
        """Adds an ``__arrow_c_array__`` record batch; raises ``keel.InputError`` naming the column and row."""
    def to_json(self) -> str: ...

def fit_features(job: str, stats: list[str]) -> str:
    """Merges statistics (JSON, in the order given) and fits the feature plan (JSON)."""

@final
class TrainData:
    """One worker's rows through the feature plan, held in Rust."""

    def __init__(self, job: str, plan: str) -> None: ...
    def add(self, batch: Any) -> None: ...
    @property
    def rows(self) -> int: ...

@final
class TrainListener:
    """A port bound for the collective on ``host``, before its address is published."""

    def __init__(self, host: str) -> None: ...
    @property
    def address(self) -> str: ...

def train_worker(
    job: str,
    data: TrainData,
    rank: int,
    addresses: list[str],
    listener: TrainListener,
    secret: bytes,
    job_id: str,
    timeout_s: float,
    resume: bytes | None,
    on_event: Callable[[str, bytes], None],
) -> bytes | None:
    """Trains one barrier task's part (GIL released); rank 0 returns the bundle's bytes."""

def train_local(job: str, data: Any, on_event: Callable[[str, bytes], None]) -> bytes:
    """Trains on this machine over an ``__arrow_c_stream__`` object; returns the bundle's bytes."""
