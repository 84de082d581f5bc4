"""Feature + network bundles: ``keel.compose`` joins a feature pipeline's bundle and a network
into one bundle, whose inputs are the pipeline's and whose outputs are the network's::

    keel.sklearn.export(column_transformer, "prep.keel", sample=X)
    keel.compose("prep.keel", mlp, "model.keel", network_sample=torch.randn(8, 20))

The exporters take the network directly too: ``keel.sklearn.export(ct, path, sample=X,
network=mlp)`` and ``keel.spark.export(model, path, df, network=net, connect=...)`` export the
pipeline and call this. The join itself is the Rust ``keel_import::compose`` (the code behind
``keel compose`` on the command line), reached through the native module: feature blocks are
cast to the network's dtype, several columns stacked (category indices into an embedding's
integer input), and the result is planned before anything is written. Mistakes (an input
left unconnected, a width that does not match) raise :class:`keel.ComposeError` naming the
network input and the pipeline columns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from keel._api import _native_module
from keel._bundle import write_atomic

Source = "str | os.PathLike[str] | bytes"


def _read(source: Any, what: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read()
    raise TypeError(f"keel.compose: {what} must be a path or bytes, not {type(source).__name__}")


def _is_torch_module(obj: Any) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, torch.nn.Module)


def network_bytes(network: Any, network_sample: Any = None, **torch_options: Any) -> bytes:
    """The network as bundle (or ONNX) bytes: a path or bytes as they are, or a PyTorch
    ``nn.Module`` exported by ``keel.torch`` with ``network_sample`` as its sample inputs
    (a tensor or a tuple of tensors, first dimension the batch, at least 2 rows)."""
    if _is_torch_module(network):
        if network_sample is None:
            raise ValueError("a PyTorch network needs network_sample: the forward's inputs for "
                             "a few rows (a tensor or a tuple of tensors)")
        import keel.torch

        return keel.torch.bundle_bytes(network, network_sample, **torch_options)
    if network_sample is not None:
        raise ValueError("network_sample applies to a PyTorch network, not to a bundle")
    return _read(network, "network")


def _connections(connect: Mapping[str, str | Sequence[str]] | None) -> list[tuple[str, list[str]]]:
    out = []
    for name, cols in (connect or {}).items():
        out.append((name, [cols] if isinstance(cols, str) else list(cols)))
    return out


def compose_bytes(features: Any, network: Any, *, connect: Mapping[str, Any] | None = None,
                  keep: Sequence[str] | None = None, name: str | None = None,
                  network_sample: Any = None, **torch_options: Any) -> bytes:
    """:func:`compose`, returning the bundle's bytes instead of writing a file."""
    feats = _read(features, "features")
    net = network_bytes(network, network_sample, **torch_options)
    return _native_module().compose(feats, net, connect=_connections(connect),
                                    keep=list(keep or []), name=name)


def compose(features: Any, network: Any, path: str | os.PathLike[str] | None = None, *,
            connect: Mapping[str, str | Sequence[str]] | None = None,
            keep: Sequence[str] | None = None, name: str | None = None,
            network_sample: Any = None, **torch_options: Any) -> bytes:
    """One bundle in which ``network`` reads the columns ``features`` writes: its bytes are
    returned, and written (atomically) at ``path`` when one is given, so compositions chain
    (``keel.compose(keel.compose(images, cnn, network_sample=x), "head.keel", "model.keel")``).

    ``features``: the feature pipeline, a keel bundle (or MLeap zip) as a path or bytes.
    ``network``: a keel bundle or an ONNX model (path or bytes), or a PyTorch ``nn.Module``,
    exported with ``keel.torch`` from ``network_sample`` (its first dimension must be the
    batch); ``torch_options`` (``input_names``, ``output_names``, ``dynamic_dims``) go to that
    export.

    ``connect`` maps each network input to the pipeline columns it reads (outputs, or inputs
    passed through): one name, or several stacked side by side (``{"cats": ["city_idx",
    "room_idx"]}``). By default a one-input network reads a one-output pipeline's output, or
    each network input the pipeline output of the same name. ``keep`` lists pipeline outputs
    to return beside the network's.

    Raises :class:`keel.ComposeError` when the two do not join (naming the network input and
    the columns), and nothing is written.
    """
    data = compose_bytes(features, network, connect=connect, keep=keep, name=name,
                         network_sample=network_sample, **torch_options)
    if path is not None:
        write_atomic(path, data)
    return data
