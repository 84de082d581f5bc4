"""Type stubs of the private extension module ``keel._native`` (Rust: the ``keel-python``
crate). Use the public API instead: ``keel.load`` and ``keel.Bundle``."""

from collections.abc import Mapping
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
