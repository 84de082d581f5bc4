"""The PySpark ML ``Transformer``: :class:`KeelModel` and its params. It reads the bundle on
the driver, checks the frame (``_plan``), and hands the frame to one of the two engines
(``_python_engine``, ``_jvm_engine``); it saves and loads through ``_persistence``."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import MLReadable, MLReader, MLWritable, MLWriter

import keel
from keel._api import Field
from keel.spark_runtime import _versions
from keel.spark_runtime._jvm_engine import _transform_jvm, _use_jvm
from keel.spark_runtime._persistence import _KeelModelReader, _KeelModelWriter
from keel.spark_runtime._plan import (
    _check_frame,
    _output_spark_type,
    _quote,
    _read_bundle,
    _sources,
    _vector_metadata,
)
from keel.spark_runtime._python_engine import Versions, _transform_python

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructField

_ENGINES = ("auto", "jvm", "python")


class KeelModel(Transformer, MLReadable["KeelModel"], MLWritable):
    """Scores a keel bundle on a DataFrame: ``KeelModel(path).transform(df)`` returns ``df``
    with the bundle's outputs appended (``outputPrefix`` + output name), typed as Spark
    columns: f64 -> double, f32 -> float, i64 -> bigint, i32 -> int, utf8 -> string,
    bool -> boolean, a vector (class probabilities, features) -> a Spark ML ``VectorUDT``
    dense vector with ``ml_attr`` metadata naming its elements, and a tensor (a network's
    output) -> ``array``s nested one level per dimension, of float (f32, f16, bf16), double,
    bigint, int, byte (i8), short (u8) or boolean: ``f32[2, 3]`` -> ``array<array<float>>``.

    Params:

    - ``bundlePath``: the bundle file, read on the driver (its bytes are broadcast to the
      executors; the executors need no access to the path);
    - ``outputPrefix``: prepended to every output column name (default ``""``);
    - ``outputCols``: which bundle outputs to append (default: all of them);
    - ``keepInputs``: keep the frame's columns and append the outputs (default), or return
      the outputs only (only the bundle's inputs are then sent to Python).
    - ``engine``: where batches are scored. ``"python"``: ``mapInArrow``, each Arrow batch
      through a Python worker's native module. ``"jvm"``: inside the executor JVMs through
      keel's JNI library, with no Python worker (needs ``keel-spark.jar``, built by
      ``jvm/build.sh``, in ``spark.jars``); faster, most of all for cheap models, whose
      ``mapInArrow`` cost is the trip to Python and back. ``"auto"`` (default): ``"jvm"``
      when the jar is on the driver's class path, else ``"python"``. Both give the same
      answers and the same errors (keel's message, row and partition).
    - ``refreshInterval``: on a streaming DataFrame, look at ``bundlePath`` every that many
      seconds and score the next micro-batches with a new file once it has loaded and fits
      the stream (0, the default: never; the bundle read by ``transform`` scores throughout).
      Each micro-batch is scored by exactly one version, and a micro-batch replayed from the
      checkpoint by the one that scored it first. A file that does not load, does not fit
      the stream's columns or changes the outputs' types, or is removed, is reported
      (``logging`` and a ``BundleRefreshWarning``) and the running version goes on scoring.
      The protocol: ``keel.spark_runtime._versions``.
    - ``versionDir``: the version store of ``refreshInterval`` (default: ``.keel-versions``
      beside the bundle file): the accepted bundles and which one scored each micro-batch. The
      driver and every executor must reach it by this path (local mode, one host, or a shared
      mount), and it must be kept with the query's checkpoint.
    - ``versionCol``: when set, a string column of that name receives the manifest uid of the
      bundle that scored the row (default ``""``: no column).

    Input columns are matched by name. Spark types are converted losslessly where the
    bundle's type differs (byte/short/int/long for an integer input; any number, decimals
    included, for a float input; a ``VectorUDT`` or ``array<number>`` column for a vector
    input; nested ``array``s of numbers for a tensor input, converted to its dtype, or a
    ``VectorUDT`` for a rank-1 float tensor; ``binary`` for a binary input); anything else, or a missing column, raises ``keel.ColumnTypeError`` /
    ``keel.MissingColumnError`` from ``transform`` itself, before any Spark job. A bundle
    input ``col.field`` with no column of that name reads field ``field`` of struct column
    ``col``: Spark's image struct (``spark.read.format("image")``) feeds the inputs
    ``image.data``, ``image.height``, ``image.width``, ``image.nChannels`` of a stage written
    by ``keel.images.preprocess(source="spark")`` as it is.

    Saved with ``write().save(path)`` (or inside a saved ``PipelineModel``) the bundle's
    bytes are stored with the params, so the saved model is self-contained.
    """

    # Spark's writers record ``__module__ + "." + class name`` in a saved model's metadata and
    # its readers import that name: saved models name the public module, not this file.
    __module__ = "keel.spark_runtime"

    bundlePath: Param[str] = Param(
        Params._dummy(), "bundlePath", "path of the keel bundle (.keel) on the driver",
        typeConverter=TypeConverters.toString,
    )
    outputPrefix: Param[str] = Param(
        Params._dummy(), "outputPrefix", "prefix of the output column names",
        typeConverter=TypeConverters.toString,
    )
    outputCols: Param[list[str]] = Param(
        Params._dummy(), "outputCols", "the bundle outputs to append (empty: all)",
        typeConverter=TypeConverters.toListString,
    )
    keepInputs: Param[bool] = Param(
        Params._dummy(), "keepInputs",
        "keep the input frame's columns (true) or return only the outputs (false)",
        typeConverter=TypeConverters.toBoolean,
    )
    engine: Param[str] = Param(
        Params._dummy(), "engine",
        "where batches are scored: auto (jvm when keel-spark.jar is loaded), jvm, python",
        typeConverter=TypeConverters.toString,
    )
    refreshInterval: Param[float] = Param(
        Params._dummy(), "refreshInterval",
        "seconds between looks at bundlePath for a new version in a running stream (0: never)",
        typeConverter=TypeConverters.toFloat,
    )
    versionDir: Param[str] = Param(
        Params._dummy(), "versionDir",
        "the version store of refreshInterval (empty: .keel-versions beside the bundle)",
        typeConverter=TypeConverters.toString,
    )
    versionCol: Param[str] = Param(
        Params._dummy(), "versionCol",
        "a column receiving the scoring bundle's manifest uid (empty: none)",
        typeConverter=TypeConverters.toString,
    )

    def __init__(
        self,
        bundlePath: str | None = None,
        *,
        outputPrefix: str | None = None,
        outputCols: list[str] | None = None,
        keepInputs: bool | None = None,
        engine: str | None = None,
        refreshInterval: float | None = None,
        versionDir: str | None = None,
        versionCol: str | None = None,
    ):
        super().__init__()
        self._setDefault(outputPrefix="", outputCols=[], keepInputs=True, engine="auto", refreshInterval=0.0,
                         versionDir="", versionCol="")
        # (bundlePath it came from, bytes, Bundle, sha256): the bundle last read, so repeated
        # transforms read and plan it once on the driver.
        self._loaded: tuple[str | None, bytes, keel.Bundle, str] | None = None
        # The driver's refresher of the last streaming transform with refreshInterval (tests
        # read its events).
        self._refresher: _versions.Refresher | None = None
        self.setParams(bundlePath, outputPrefix=outputPrefix, outputCols=outputCols, keepInputs=keepInputs,
                       engine=engine, refreshInterval=refreshInterval, versionDir=versionDir,
                       versionCol=versionCol)

    def setParams(
        self,
        bundlePath: str | None = None,
        *,
        outputPrefix: str | None = None,
        outputCols: list[str] | None = None,
        keepInputs: bool | None = None,
        engine: str | None = None,
        refreshInterval: float | None = None,
        versionDir: str | None = None,
        versionCol: str | None = None,
    ) -> KeelModel:
        """Sets the params given (``None`` leaves a param as it is). Not keyword-only, unlike
        Spark's own transformers, so that ``KeelModel(path)`` reads naturally."""
        if engine is not None and engine not in _ENGINES:
            raise ValueError(f"KeelModel.engine: {engine!r} is not one of {', '.join(_ENGINES)}")
        if refreshInterval is not None and refreshInterval < 0:
            raise ValueError(f"KeelModel.refreshInterval: {refreshInterval} is negative (0: never refresh)")
        given = {"bundlePath": bundlePath, "outputPrefix": outputPrefix, "outputCols": outputCols,
                 "keepInputs": keepInputs, "engine": engine, "refreshInterval": refreshInterval,
                 "versionDir": versionDir, "versionCol": versionCol}
        return self._set(**{k: v for k, v in given.items() if v is not None})

    def setBundlePath(self, value: str) -> KeelModel:
        return self._set(bundlePath=value)

    def getBundlePath(self) -> str:
        return self.getOrDefault(self.bundlePath)

    def setOutputPrefix(self, value: str) -> KeelModel:
        return self._set(outputPrefix=value)

    def getOutputPrefix(self) -> str:
        return self.getOrDefault(self.outputPrefix)

    def setOutputCols(self, value: list[str]) -> KeelModel:
        return self._set(outputCols=value)

    def getOutputCols(self) -> list[str]:
        return self.getOrDefault(self.outputCols)

    def setKeepInputs(self, value: bool) -> KeelModel:
        return self._set(keepInputs=value)

    def getKeepInputs(self) -> bool:
        return self.getOrDefault(self.keepInputs)

    def setEngine(self, value: str) -> KeelModel:
        return self.setParams(engine=value)

    def getEngine(self) -> str:
        return self.getOrDefault(self.engine)

    def setRefreshInterval(self, value: float) -> KeelModel:
        return self.setParams(refreshInterval=value)

    def getRefreshInterval(self) -> float:
        return self.getOrDefault(self.refreshInterval)

    def setVersionDir(self, value: str) -> KeelModel:
        return self._set(versionDir=value)

    def getVersionDir(self) -> str:
        return self.getOrDefault(self.versionDir)

    def setVersionCol(self, value: str) -> KeelModel:
        return self._set(versionCol=value)

    def getVersionCol(self) -> str:
        return self.getOrDefault(self.versionCol)

    # --- the bundle ----------------------------------------------------------------------

    def bundle(self) -> keel.Bundle:
        """The bundle this model scores with (read from ``bundlePath`` on first use)."""
        return self._load()[1]

    def _load(self) -> tuple[bytes, keel.Bundle, str]:
        path = self.getOrDefault(self.bundlePath) if self.isDefined(self.bundlePath) else None
        if self._loaded is not None and self._loaded[0] == path:
            return self._loaded[1], self._loaded[2], self._loaded[3]
        if path is None:
            raise ValueError("KeelModel: set bundlePath (the keel bundle to score with)")
        data = _read_bundle(path)
        self._set_bytes(path, data)
        assert self._loaded is not None
        return self._loaded[1], self._loaded[2], self._loaded[3]

    def _set_bytes(self, path: str | None, data: bytes) -> None:
        bundle = keel.load(data, ignore_extra_columns=True)
        self._loaded = (path, data, bundle, hashlib.sha256(data).hexdigest())

    # --- schema ----------------------------------------------------------------------------

    def _outputs(self, bundle: keel.Bundle) -> list[Field]:
        wanted = self.getOutputCols()
        fields = {f.name: f for f in bundle.schema.outputs}
        if not wanted:
            return list(bundle.schema.outputs)
        unknown = [w for w in wanted if w not in fields]
        if unknown:
            raise ValueError(
                f"KeelModel.outputCols: the bundle has no output {', '.join(map(repr, unknown))}; "
                f"its outputs are {', '.join(fields)}"
            )
        return [fields[w] for w in wanted]

    def _output_fields(self, bundle: keel.Bundle) -> list[StructField]:
        from pyspark.sql.types import StructField

        prefix = self.getOutputPrefix()
        out = []
        for f in self._outputs(bundle):
            meta = _vector_metadata(f) if f.is_vector else None
            out.append(StructField(prefix + f.name, _output_spark_type(f, "udt"), True, meta))
        if self.getVersionCol():
            from pyspark.sql.types import StringType

            out.append(StructField(self.getVersionCol(), StringType(), True))
        return out

    def transformSchema(self, schema: Any) -> Any:
        """The schema ``transform`` returns for a frame of `schema`; raises the same errors as
        ``transform`` for a frame that does not fit the bundle."""
        from pyspark.sql.types import StructType

        _, bundle, _ = self._load()
        _check_frame(bundle, schema)
        outs = self._output_fields(bundle)
        if not self.getKeepInputs():
            return StructType(outs)
        taken = {f.name for f in schema.fields}
        clash = [f.name for f in outs if f.name in taken]
        if clash:
            raise ValueError(
                f"KeelModel: output column {', '.join(f'`{c}`' for c in clash)} already exists in "
                "the DataFrame; set outputPrefix (or outputCols, or drop the column)"
            )
        return StructType(list(schema.fields) + outs)

    # --- transform -----------------------------------------------------------------------------

    def _transform(self, dataset: DataFrame) -> DataFrame:
        refresh = self.getRefreshInterval() > 0 and dataset.isStreaming
        if refresh:
            # The stream starts from the file as it is now, not from a copy read earlier.
            self._loaded = None
        data, bundle, sha = self._load()
        spark = dataset.sparkSession
        out_schema = self.transformSchema(dataset.schema)
        outputs = self._outputs(bundle)
        prefix = self.getOutputPrefix()
        keep_inputs = self.getKeepInputs()
        version_col = self.getVersionCol() or None
        uid = str(bundle.manifest.get("uid") or sha)
        versions = Versions(sha=sha, uid=uid, source=None)
        if refresh:
            versions = self._start_refresh(dataset, bundle, sha, uid, data)
        frame = dataset
        if not keep_inputs:
            # Only the bundle's inputs travel to the scorer.
            from pyspark.sql import functions as F

            # (A struct column once, however many of its fields the bundle reads.)
            columns = dict.fromkeys(name for name, _ in _sources(bundle, dataset.schema))
            frame = dataset.select(*[F.col(_quote(name)) for name in columns])
        if _use_jvm(spark, self.getEngine()):
            # The JVM engine broadcasts the bundle itself; no Python broadcast is made.
            return _transform_jvm(frame, bundle, data, versions, [f.name for f in outputs], keep_inputs,
                                  out_schema, version_col)
        return _transform_python(frame, data, versions, outputs, prefix, keep_inputs, out_schema, version_col)

    def _start_refresh(self, dataset: DataFrame, bundle: keel.Bundle, sha: str, uid: str, data: bytes) -> Versions:
        """Starts the driver's refresher for a stream (``_versions``) and returns where the
        tasks find their micro-batch's version."""
        path = self.getBundlePath()
        schema = dataset.schema
        outputs = self._outputs(bundle)
        declared = [(f.name, _output_spark_type(f, "udt").json(), f.shape if f.is_tensor else None)
                    for f in outputs]
        store = self.getVersionDir() or _versions.default_store(path)
        plan = _versions.plan_key("KeelModel", path, {"schema": schema.json(), "outputs": declared})

        def check(new: keel.Bundle) -> None:
            # What transform checked for the first version, and outputs of the types the
            # query's schema already declares.
            _check_frame(new, schema)
            have = {f.name: f for f in new.schema.outputs}
            for name, spark_type, shape in declared:
                f = have.get(name)
                if f is None:
                    raise ValueError(f"it has no output `{name}`, which the running query writes")
                if _output_spark_type(f, "udt").json() != spark_type or (f.shape if f.is_tensor else None) != shape:
                    raise ValueError(f"its output `{name}` is {f.dtype}{list(f.shape) if f.shape else ''}, "
                                     "not the type the running query writes")

        self._refresher = _versions.start(dataset.sparkSession, store, plan, path, self.getRefreshInterval(),
                                          sha, uid, data, check)
        return Versions(sha=sha, uid=uid, source=None, store=store, plan=plan)

    # --- persistence -----------------------------------------------------------------------------

    def write(self) -> MLWriter:
        """A writer that saves the params and the bundle's bytes (``path/metadata``,
        ``path/data``)."""
        return _KeelModelWriter(self)

    @classmethod
    def read(cls) -> MLReader[KeelModel]:
        return _KeelModelReader(cls)
