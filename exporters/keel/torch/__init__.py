"""Export a PyTorch ``nn.Module`` to a keel bundle::

    import keel.torch
    keel.torch.export(model, "model.keel", sample=x_batch)

The module is put in eval mode and exported with ``torch.onnx.export`` (the ``torch.export``
based exporter, ``dynamo=True``) to ONNX in memory, with the first dimension of every input
dynamic (``dynamic_batch=True``) so the bundle's **rows are the batch**: a frame of n rows is
one forward pass over a batch of n. The ONNX is then converted by keel's own ONNX importer (the
Rust ``keel_import::onnx``, through the native module), the same one ``keel convert --from
onnx`` and ``keel.load("model.onnx")`` use: the same op table, the same refusals, one importer.
That makes ``keel.torch`` the one exporter that needs the native module (the others write
bundles in pure Python).

``nn.EmbeddingBag`` becomes keel's fused ``nn.embedding_bag`` op rather than the ONNX ``Loop``
torch's own translation emits: ``aten::embedding_bag`` (and ``_embedding_bag``) is translated
to a node ``ai.keel::EmbeddingBag`` (inputs indices, offsets, weight, optional
per_sample_weights; attributes ``mode`` = ``sum``/``mean``/``max``, ``include_last_offset`` and
``padding_idx``)
through the exporter's custom translation table, and the importer maps that domain onto the
runtime op (``padding_idx`` becomes the op's attribute of that name).

Errors: ops or attributes keel lacks raise :class:`keel.UnsupportedError`, listing every one
(the importer's message); a model torch cannot export raises ``UnsupportedError`` with torch's
reason as the cause.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from keel._api import _native_module
from keel._bundle import write_atomic
from keel.errors import UnsupportedError

__all__ = ["bundle_bytes", "export", "onnx_bytes"]

#: The custom ONNX domain of keel's own fused ops (keel_import::onnx maps it onto `nn.*`).
KEEL_DOMAIN = "ai.keel"
_MODES = {0: "sum", 1: "mean", 2: "max"}


def _register_schemas() -> None:
    """Declares ``ai.keel::EmbeddingBag`` to ``onnx.defs`` (once per process): the exporter's
    graph builder needs a schema for every op it emits, to know its inputs and outputs."""
    from onnx import defs

    if defs.has("EmbeddingBag", KEEL_DOMAIN):
        return
    S = defs.OpSchema
    floats = ["tensor(float)", "tensor(double)", "tensor(float16)", "tensor(bfloat16)"]
    ints = ["tensor(int64)", "tensor(int32)"]
    defs.register_schema(S(
        "EmbeddingBag", KEEL_DOMAIN, 1,
        doc="keel's nn.embedding_bag: sums, means or maxima of bags of embedding rows.",
        inputs=[
            S.FormalParameter("indices", "I"),
            S.FormalParameter("offsets", "I"),
            S.FormalParameter("weight", "T"),
            S.FormalParameter("per_sample_weights", "T", param_option=S.FormalParameterOption.Optional),
        ],
        outputs=[S.FormalParameter("output", "T")],
        type_constraints=[("T", floats, "embedding values"), ("I", ints, "indices and offsets")],
        attributes=[
            S.Attribute("mode", S.AttrType.STRING, "sum, mean or max"),
            S.Attribute("include_last_offset", S.AttrType.INT, "offsets end with the total count"),
            S.Attribute("padding_idx", S.AttrType.INT, "an index left out of its bag", required=False),
        ],
    ))


def _keel_translations() -> dict[Any, Any]:
    """The custom translation table: aten's embedding_bag overloads -> ``ai.keel::EmbeddingBag``."""
    import torch
    from onnxscript.values import Opset

    _register_schemas()
    keel_embedding_bag = Opset(KEEL_DOMAIN, 1).EmbeddingBag

    def embedding_bag(weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                      per_sample_weights=None, include_last_offset=False, padding_idx=None):
        if mode not in _MODES:
            raise UnsupportedError(f"EmbeddingBag mode={mode!r}")
        inputs = [indices, offsets, weight]
        if per_sample_weights is not None:
            inputs.append(per_sample_weights)
        attrs: dict[str, Any] = {"mode": _MODES[mode],
                                 "include_last_offset": int(bool(include_last_offset))}
        # `_embedding_bag` spells "no padding index" as -1, `embedding_bag.padding_idx` as
        # None; nn.EmbeddingBag has already made a negative one positive.
        if padding_idx is not None and padding_idx >= 0:
            attrs["padding_idx"] = int(padding_idx)
        out = keel_embedding_bag(*inputs, **attrs)
        # aten returns (output, offset2bag, bag_size, max_indices); the three bookkeeping
        # tensors only serve the backward pass, nothing reads them in inference, and the
        # exporter's optimiser drops what nothing reads.
        return out, offsets, offsets, offsets

    table: dict[Any, Any] = {}
    for overload in ("default", "padding_idx"):
        fn = getattr(torch.ops.aten.embedding_bag, overload, None)
        if fn is not None:
            table[fn] = embedding_bag
    if hasattr(torch.ops.aten, "_embedding_bag"):
        table[torch.ops.aten._embedding_bag.default] = embedding_bag
    return table


def _as_tuple(sample: Any) -> tuple[Any, ...]:
    import torch

    if isinstance(sample, torch.Tensor):
        return (sample,)
    if isinstance(sample, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in sample):
        return tuple(sample)
    raise TypeError("sample must be a torch.Tensor or a tuple of tensors (the forward's inputs)")


def _dynamic_shapes(args, input_names, dynamic_batch, dynamic_dims):
    """torch.export's ``dynamic_shapes``: the batch (axis 0 of every input, one shared Dim, as
    rows share it) and the caller's other symbolic dimensions."""
    import torch

    shapes: list[dict[int, Any]] = [{} for _ in args]
    if dynamic_batch:
        batch = torch.export.Dim("batch")
        for s in shapes:
            s[0] = batch
    names = list(input_names or [])
    made: dict[str, Any] = {}  # one Dim per name, so inputs that share a name share the size
    for key, axes in (dynamic_dims or {}).items():
        if isinstance(key, str):
            if key not in names:
                raise ValueError(f"dynamic_dims names input {key!r}, not one of input_names {names}")
            key = names.index(key)
        if not 0 <= key < len(args):
            raise ValueError(f"dynamic_dims: no input at position {key}")
        for axis, dim in axes.items():
            if axis == 0 and dynamic_batch:
                raise ValueError("dynamic_dims: axis 0 is the batch already")
            if isinstance(dim, str):
                dim = made.setdefault(dim, torch.export.Dim(dim))
            shapes[key][axis] = dim
    return tuple(s or None for s in shapes) if any(shapes) else None


def onnx_bytes(module: Any, sample: Any, *, input_names: Sequence[str] | None = None,
               output_names: Sequence[str] | None = None, dynamic_batch: bool = True,
               dynamic_dims: Mapping[int | str, Mapping[int, Any]] | None = None) -> bytes:
    """The ONNX model ``export`` converts: ``module`` in eval mode, exported by
    ``torch.onnx.export(dynamo=True)`` with keel's translations, serialised in memory."""
    import torch

    args = _as_tuple(sample)
    if dynamic_batch:
        small = [i for i, t in enumerate(args) if t.dim() == 0 or t.shape[0] < 2]
        if small:
            # torch.export specialises a dimension of size 0 or 1, so it could not stay dynamic.
            raise ValueError(f"sample input(s) {small} need a batch (first) dimension of at least "
                             "2 rows to export a dynamic batch; or pass dynamic_batch=False")
    module.eval()
    dynamic_shapes = _dynamic_shapes(args, input_names, dynamic_batch, dynamic_dims)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, args, dynamo=True, verbose=False, input_names=input_names,
                output_names=output_names, dynamic_shapes=dynamic_shapes,
                custom_translation_table=_keel_translations(), optimize=True,
            )
        return program.model_proto.SerializeToString()
    except UnsupportedError:
        raise
    except Exception as dynamo_error:  # noqa: BLE001 - torch raises many kinds
        cause = dynamo_error
        while cause.__cause__ is not None and not isinstance(cause, UnsupportedError):
            cause = cause.__cause__
        if isinstance(cause, UnsupportedError):
            raise cause from dynamo_error
        # The TorchScript exporter, where torch still has it, handles some modules that
        # torch.export cannot trace (data-dependent control flow it can script around).
        try:
            buf = io.BytesIO()
            names = list(input_names or [f"input_{i}" for i in range(len(args))])
            axes = {n: {0: "batch"} for n in names} if dynamic_batch else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, args, buf, dynamo=False, input_names=names,
                                  output_names=output_names, dynamic_axes=axes, opset_version=18)
            return buf.getvalue()
        except Exception:  # noqa: BLE001
            raise UnsupportedError(
                f"torch.onnx.export could not export {type(module).__name__}: {dynamo_error}"
            ) from dynamo_error


def export(module: Any, path: str | os.PathLike, sample: Any, name: str | None = None,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
           dynamic_batch: bool = True, metadata: Mapping[str, str] | None = None,
           dynamic_dims: Mapping[int | str, Mapping[int, Any]] | None = None,
           images: Mapping[str, Any] | None = None) -> None:
    """Writes ``module`` as a keel bundle at ``path``.

    ``sample``: the forward's inputs (a tensor or a tuple of tensors), whose first dimension is
    the batch (at least 2 rows when ``dynamic_batch``); their dtypes and other dimensions fix
    the bundle's input fields. ``input_names`` / ``output_names`` name the bundle's columns
    (default: the forward's parameter names; ``output``, or ``output_0``, ``output_1``...).
    ``dynamic_batch=False`` exports fixed shapes: the bundle then scores one row holding each
    whole sample tensor. ``dynamic_dims`` makes other axes symbolic: ``{"ids": {1: "seq"}}`` (an
    input by name or position -> axis -> a name, or a ``torch.export.Dim`` with bounds); the
    bundle's field then takes any size there (``Field.dims`` names it). ``name`` names the bundle (default: the module's class name).

    ``images`` puts image preprocessing in front of network inputs: ``{"x": keel.images.Preprocess(
    size=(32, 32), mean=..., std=...)}`` makes input ``x`` read encoded images (a ``binary``
    column named by the stage's ``input``, default ``image``; or Spark's image struct with
    ``source="spark"``) instead of a tensor; the stage's output shape must be the sample's
    ``(C, H, W)``. Every network input must then have a stage (``keel.ComposeError`` names one
    left over). The join is ``keel.compose``'s.

    Raises :class:`keel.UnsupportedError` listing every op or attribute keel lacks; nothing is
    written then.
    """
    write_atomic(path, bundle_bytes(module, sample, name=name, input_names=input_names,
                                    output_names=output_names, dynamic_batch=dynamic_batch,
                                    metadata=metadata, dynamic_dims=dynamic_dims, images=images))


def bundle_bytes(module: Any, sample: Any, name: str | None = None,
                 input_names: Sequence[str] | None = None,
                 output_names: Sequence[str] | None = None, dynamic_batch: bool = True,
                 metadata: Mapping[str, str] | None = None,
                 dynamic_dims: Mapping[int | str, Mapping[int, Any]] | None = None,
                 images: Mapping[str, Any] | None = None) -> bytes:
    """:func:`export`, returning the bundle's bytes instead of writing a file."""
    if images:
        return _with_images(module, sample, images, name=name, input_names=input_names,
                            output_names=output_names, dynamic_batch=dynamic_batch,
                            metadata=metadata, dynamic_dims=dynamic_dims)
    import torch

    if output_names is None:
        with torch.no_grad():
            out = module.eval()(*_as_tuple(sample))
        n = len(out) if isinstance(out, (tuple, list)) else 1
        output_names = ["output"] if n == 1 else [f"output_{i}" for i in range(n)]
    model = onnx_bytes(module, sample, input_names=input_names, output_names=output_names,
                       dynamic_batch=dynamic_batch, dynamic_dims=dynamic_dims)
    meta = {"torch.version": torch.__version__, **dict(metadata or {})}
    return _native_module().convert_onnx(
        model, name=name or type(module).__name__, metadata=meta, producer="keel.torch",
    )


def _with_images(module: Any, sample: Any, images: Mapping[str, Any], name: str | None,
                 **options: Any) -> bytes:
    """The network exported, then joined behind one ``keel.images`` stage per image input (one
    preprocessing bundle holding them all, connected input by input)."""
    import keel
    from keel._compose import compose_bytes
    from keel.images import _resolve, _stages_bundle

    if not options.get("dynamic_batch", True):
        raise ValueError("images= needs dynamic_batch=True: the images' rows are the network's batch")
    net = bundle_bytes(module, sample, name=name, **options)
    inputs = [f.name for f in keel.load(net).schema.inputs]
    stages = _resolve(images, inputs)
    prep = _stages_bundle([stage for _, stage in stages])
    return compose_bytes(prep, net, connect={key: stage.output for key, stage in stages},
                         name=name or type(module).__name__)
