"""Persistence of a :class:`~keel.spark_runtime.KeelModel`: ``write().save(path)`` (alone or
inside a saved ``PipelineModel``) stores the params (``path/metadata``) and the bundle's bytes
with their sha256 (``path/data``, one parquet row), so a saved model is self-contained; loading
checks the digest before the bundle is planned."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReader, MLWriter

import keel

if TYPE_CHECKING:
    from keel.spark_runtime._model import KeelModel


class _KeelModelWriter(MLWriter):
    def __init__(self, instance: KeelModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        data, _, sha = self.instance._load()
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession, extraMetadata={"bundleSha256": sha})
        spark = self.sparkSession
        frame = spark.createDataFrame([(sha, bytearray(data))], "sha256 string, bundle binary")
        frame.coalesce(1).write.parquet(os.path.join(path, "data"))


class _KeelModelReader(MLReader["KeelModel"]):
    def __init__(self, cls: type[KeelModel]):
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> KeelModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        instance = self.cls()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
        row = self.sparkSession.read.parquet(os.path.join(path, "data")).head()
        data = bytes(row["bundle"])
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise keel.BundleError(f"{path}: the saved bundle does not match its sha256", path=path)
        source = instance.getOrDefault(instance.bundlePath) if instance.isDefined(instance.bundlePath) else None
        instance._set_bytes(source, data)
        return instance
