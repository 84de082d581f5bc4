"""Writing bundles: the graph builder shared by every exporter, and the deterministic,
atomic zip writer (bundle-spec/SPEC.md sections 1-6)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import math
import os
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

FORMAT_NAME = "keel-bundle"
FORMAT_VERSION = "1.0.0"
TENSOR_FILE = "tensors/model.safetensors"
# SPEC.md section 4: numeric lists longer than this go into a tensor, not the JSON.
INLINE_LIMIT = 64


def _float(v: float) -> Any:
    """A float in the JSON form of SPEC.md section 5 (non-finite values as strings)."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


@dataclass
class Col:
    """A column in the graph being built.

    ``dtype`` is the element type (``f64``, ``i64``, ``utf8``, ``bool``...); ``width`` is
    ``None`` for a scalar column and the number of features for a vector (feature block)
    column. ``names`` holds one feature name per feature (one for a scalar column).
    """

    name: str
    dtype: str
    width: int | None
    names: list[str]

    @property
    def n_features(self) -> int:
        return 1 if self.width is None else self.width

    @property
    def is_numeric(self) -> bool:
        return self.width is not None or self.dtype in ("f64", "f32", "i64", "i32", "bool")


@dataclass
class _Pipeline:
    name: str
    doc: str
    children: list[dict] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    writes: set[str] = field(default_factory=set)


class GraphBuilder:
    """Builds the node tree, names nodes and columns uniquely, and collects tensors.

    Converters call :meth:`stage` to add a stage to the current pipeline and use
    :meth:`pipeline` as a context manager to nest one. Attribute values are made with the
    ``a_*`` helpers so that every value has its SPEC.md type tag.
    """

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._stack: list[_Pipeline] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.root: dict | None = None

    # -- naming ---------------------------------------------------------------------------
    def unique(self, base: str) -> str:
        base = base or "node"
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    # -- attributes -----------------------------------------------------------------------
    @staticmethod
    def a_bool(v: Any) -> dict:
        return {"bool": bool(v)}

    @staticmethod
    def a_i64(v: Any) -> dict:
        return {"i64": int(v)}

    @staticmethod
    def a_f64(v: Any) -> dict:
        return {"f64": _float(v)}

    @staticmethod
    def a_str(v: str) -> dict:
        return {"str": str(v)}

    @staticmethod
    def a_strs(v: Any) -> dict:
        return {"strs": [str(x) for x in v]}

    @staticmethod
    def a_list(items: list[dict]) -> dict:
        return {"list": list(items)}

    def a_tensor(self, key: str, arr: Any) -> dict:
        """Stores ``arr`` as a tensor (C order, little-endian) and returns its reference."""
        arr = np.ascontiguousarray(np.asarray(arr))
        if arr.dtype == np.bool_:
            pass
        elif np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype("<f8") if arr.dtype.itemsize == 8 else arr.astype("<f4")
        elif np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype("<i8") if arr.dtype.itemsize > 4 or arr.dtype.kind == "u" else arr.astype("<i4")
        else:
            raise TypeError(f"tensor {key}: unsupported dtype {arr.dtype}")
        if key in self.tensors:
            raise ValueError(f"tensor key {key} used twice")
        self.tensors[key] = arr
        return {"tensor": {"file": TENSOR_FILE, "key": key}}

    def a_f64s(self, key: str, v: Any) -> dict:
        """A float array: inline when short, a tensor when long (key must be unique)."""
        arr = np.asarray(v, dtype=np.float64)
        if arr.ndim == 1 and arr.size <= INLINE_LIMIT:
            return {"f64s": [_float(x) for x in arr]}
        return self.a_tensor(key, arr)

    def a_i64s(self, key: str, v: Any) -> dict:
        arr = np.asarray(v, dtype=np.int64)
        if arr.ndim == 1 and arr.size <= INLINE_LIMIT:
            return {"i64s": [int(x) for x in arr]}
        return self.a_tensor(key, arr)

    # -- structure ------------------------------------------------------------------------
    @contextlib.contextmanager
    def pipeline(self, base: str, doc: str = "") -> Iterator[_Pipeline]:
        """Nests a ``pipeline`` node; its interface bindings are computed on exit."""
        p = _Pipeline(self.unique(base), doc)
        self._stack.append(p)
        try:
            yield p
        finally:
            self._stack.pop()
        node: dict = {"name": p.name, "op": "pipeline"}
        if p.reads:
            node["inputs"] = [{"port": "in", "columns": p.reads}]
        if p.writes:
            node["outputs"] = [{"port": "out", "columns": sorted(p.writes)}]
        node["children"] = p.children
        if doc:
            node["doc"] = doc
        if self._stack:
            parent = self._stack[-1]
            parent.children.append(node)
            for c in p.reads:
                if c not in parent.writes and c not in parent.reads:
                    parent.reads.append(c)
            parent.writes |= p.writes
        else:
            self.root = node

    def node(self, base: str) -> tuple[str, str]:
        """A fresh unique node name and the conventional name of its `Y` output column."""
        name = self.unique(base)
        return name, self.column(name, "Y")

    def stage(
        self,
        op: str,
        name: str,
        inputs: dict[str, list[Col]],
        outputs: dict[str, list[str]] | list[tuple[str, list[str]]],
        attrs: dict[str, dict] | None = None,
        doc: str = "",
    ) -> str:
        """Adds a stage named ``name`` (from :meth:`node` or :meth:`unique`) to the current
        pipeline and returns the name.

        ``outputs`` maps port to column names; pass a list of pairs to fix the port order.
        """
        if not self._stack:
            raise RuntimeError("stage() outside of a pipeline")
        if name not in self._names:
            raise RuntimeError(f"stage name {name!r} was not reserved with node()/unique()")
        p = self._stack[-1]
        node: dict = {"name": name, "op": op}
        node["inputs"] = [{"port": port, "columns": [c.name for c in cols]} for port, cols in inputs.items()]
        outs = list(outputs.items()) if isinstance(outputs, dict) else list(outputs)
        node["outputs"] = [{"port": port, "columns": list(cols)} for port, cols in outs]
        if attrs:
            node["attrs"] = dict(sorted(attrs.items()))
        if doc:
            node["doc"] = doc
        p.children.append(node)
        for cols in inputs.values():
            for c in cols:
                if c.name not in p.writes and c.name not in p.reads:
                    p.reads.append(c.name)
        for _, cols in outs:
            p.writes |= set(cols)
        return name

    def column(self, node: str, port: str = "Y") -> str:
        """The conventional name of a stage's output column."""
        return f"{node}.{port}"


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    from safetensors.numpy import save

    return save({k: tensors[k] for k in sorted(tensors)})


def write_bundle(path: str | os.PathLike, **parts: Any) -> None:
    """Writes the bundle :func:`bundle_zip` makes of ``parts`` atomically: to a temporary file
    beside ``path``, then renamed over it, so a failure never leaves a half-written bundle
    behind."""
    write_atomic(path, bundle_zip(**parts))


def bundle_zip(
    *,
    name: str,
    producer: dict[str, str],
    inputs: list[dict],
    outputs: list[dict],
    graph: dict,
    tensors: dict[str, np.ndarray],
    metadata: dict[str, str] | None = None,
    format_version: str = FORMAT_VERSION,
) -> bytes:
    """A bundle's bytes (the zip :func:`write_bundle` writes). ``format_version`` is the
    lowest version whose features the bundle uses (``1.1.0`` for tensor or ``binary``
    fields), so older readers keep reading what they can."""
    docs: dict[str, bytes] = {"graph.json": _json(graph)}
    if tensors:
        docs[TENSOR_FILE] = _safetensors_bytes(tensors)
    entries = [
        {"path": p, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for p, b in sorted(docs.items())
    ]
    manifest = {
        "format": FORMAT_NAME,
        "format_version": format_version,
        "name": name,
        "uid": str(uuid.uuid4()),
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "producer": producer,
        "root": graph["name"],
        "inputs": inputs,
        "outputs": outputs,
    }
    if metadata:
        manifest["metadata"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    manifest["entries"] = entries

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:

        def put(p: str, b: bytes, compress: int) -> None:
            info = zipfile.ZipInfo(p, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compress
            info.external_attr = 0o644 << 16
            z.writestr(info, b)

        put("manifest.json", _json(manifest), zipfile.ZIP_DEFLATED)
        put("graph.json", docs["graph.json"], zipfile.ZIP_DEFLATED)
        for p in sorted(docs):
            if p.startswith("tensors/"):
                put(p, docs[p], zipfile.ZIP_STORED)
    return buf.getvalue()


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to a temporary file beside ``path``, then renames it over ``path``, so
    a failure never leaves a half-written bundle behind."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".keel-", suffix=".tmp", dir=directory)
    try:
        # mkstemp creates 0600 files; a bundle is an ordinary artefact, so honour the umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
