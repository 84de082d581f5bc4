"""Image preprocessing as a bundle stage: encoded images (or Spark's image struct) in, the
``f32[C, H, W]`` tensor a vision network reads out, one row per image::

    import keel, keel.images, keel.torch

    # torchvision: Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std)])
    prep = keel.images.Preprocess(size=256, crop=224, mean=[0.485, 0.456, 0.406],
                                  std=[0.229, 0.224, 0.225])

    # One call: the network with its preprocessing in front (input `image`, PNG/JPEG bytes).
    keel.torch.export(cnn, "model.keel", sample=x, images={"x": prep})

    # Or the stage alone (bundle bytes; written too when a path is given), joined with
    # keel.compose to any network, and that to a classical head (transfer learning):
    stage = keel.images.preprocess(None, size=(32, 32), mean=0.5, std=0.5)
    featurizer = keel.compose(stage, cnn, None, network_sample=x)       # bytes
    keel.compose(featurizer, "lr_head.keel", "model.keel")

The stage is one node of the runtime op ``image.to_tensor`` (``runtime/docs/ops.md``), which
does what torchvision's transforms do to a Pillow image, in this order: decode (PNG/JPEG, under
limits), convert to RGB (or grey), ``Resize``, ``CenterCrop``, ``ToTensor`` (``scale``,
1/255), ``Normalize`` (``mean``, ``std``); bit for bit where Pillow is exact (PNG, the
resampling filters). Parameters are named as torchvision's where they match:

- ``size``: an int resizes the shorter side to it keeping the aspect ratio (``Resize(256)``),
  ``(h, w)`` resizes to exactly that (``Resize((h, w))``); ``shorter_side`` says the first
  explicitly; neither keeps the decoded size.
- ``interpolation``: ``"bilinear"`` (default), ``"nearest"``, ``"area"`` (Pillow's ``BOX``;
  ``"box"`` is accepted), or a torchvision ``InterpolationMode`` of those.
- ``crop``: an int or ``(h, w)``, a centre crop (``CenterCrop``; a side shorter than the crop
  is padded with zeros first, as torchvision does).
- ``scale``: each 8-bit value is multiplied by it first (default ``1/255``, ``ToTensor``).
- ``mean``, ``std``: one number per channel or one for all (``Normalize``); default 0 and 1.
- ``channels``: 3 (RGB, default; alpha dropped as ``convert("RGB")``) or 1 (grey, Pillow's
  ``convert("L")``); ``channel_order``: ``"rgb"`` (default) or ``"bgr"`` (for a network trained
  on OpenCV's order).
- ``max_width``, ``max_height`` (8192 each) and ``max_bytes`` (64 MiB): an image over a limit
  is an error naming its row, never a decompression bomb.

Every image must come out one shape (a batch tensor has one): give ``size=(h, w)`` or ``crop``.

Where the images come from (``source``):

- ``"bytes"`` (default): one ``binary`` input named ``input`` (default ``image``) holding the
  encoded file per row: Python ``bytes``, an Arrow binary column, Spark's ``BinaryType``
  (``spark.read.format("binaryFile")``'s ``content``; rename it, or pass
  ``input="content"``), base64 in JSON and CSV.
- ``"spark"``: the four raw parts of Spark's image struct (``spark.read.format("image")``:
  ``struct<origin, height, width, nChannels, mode, data>``, pixels decoded by Spark, BGR
  order, 1, 3 or 4 channels), as inputs ``{input}.data`` (binary), ``{input}.height``,
  ``{input}.width`` and ``{input}.nChannels`` (i32). ``KeelModel`` reads an input named
  ``col.field`` from the field of a struct column ``col``, so the image column (default name
  ``image``) feeds the bundle as it is.

The output is one ``f32[C, H, W]`` tensor column named ``output`` (default ``pixels``).
Arguments are checked here, with messages naming the parameter (``ValueError``,
``TypeError``), before any bundle is built.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from keel._bundle import bundle_zip, write_atomic

__all__ = ["Preprocess", "preprocess", "SPARK_PARTS"]

#: The struct fields of Spark's image schema the stage reads, and the op's port for each.
SPARK_PARTS = {"data": "data", "height": "height", "width": "width", "nChannels": "channels"}

_SOURCES = ("bytes", "spark")
_INTERPOLATIONS = {"bilinear": "bilinear", "nearest": "nearest", "area": "area", "box": "area"}
_MAX_SIDE = 1 << 16  # image.to_tensor's bound for any side

Size = Union[int, Sequence[int]]


def _side(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"keel.images: {what} must be an int, not {type(value).__name__} ({value!r})")
    if not 1 <= int(value) <= _MAX_SIDE:
        raise ValueError(f"keel.images: {what} is {value}; it must be from 1 to {_MAX_SIDE}")
    return int(value)


def _pair(value: Any, what: str) -> tuple[int, int]:
    """An int (a square) or an ``(h, w)`` pair, as torchvision's ``CenterCrop`` takes."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        s = _side(value, what)
        return s, s
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) not in (1, 2):
        raise TypeError(f"keel.images: {what} must be an int or a (height, width) pair, not {value!r}")
    if len(value) == 1:
        s = _side(value[0], what)
        return s, s
    return _side(value[0], f"{what}[0] (height)"), _side(value[1], f"{what}[1] (width)")


def _per_channel(value: Any, what: str, channels: int, default: float) -> tuple[float, ...]:
    if value is None:
        return (default,) * channels
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        values = [float(value)] * channels
    elif isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not hasattr(value, "tolist"):
        raise TypeError(f"keel.images: {what} must be a number or one number per channel, not {value!r}")
    else:
        values = list(value.tolist() if hasattr(value, "tolist") else value)
        if len(values) != channels:
            raise ValueError(f"keel.images: {what} has {len(values)} values for {channels} channel(s)")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"keel.images: {what} holds {v!r}, not a number")
        values = [float(v) for v in values]
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise ValueError(f"keel.images: {what} holds {bad[0]}, not a finite number")
    return tuple(values)


def _interpolation(value: Any) -> str:
    # torchvision's InterpolationMode is an Enum whose value is the name ("bilinear", "box").
    name = getattr(value, "value", value)
    if isinstance(name, str) and name.lower() in _INTERPOLATIONS:
        return _INTERPOLATIONS[name.lower()]
    raise ValueError(
        f"keel.images: interpolation {value!r} is not supported; use 'bilinear', 'nearest' or "
        "'area' (Pillow's BOX), the filters image.to_tensor reproduces exactly"
    )


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"keel.images: {what} must be a non-empty string, not {value!r}")
    return value


@dataclass(frozen=True)
class Preprocess:
    """The settings of one image-preprocessing stage (see the module docstring for each);
    checked when made. :meth:`bundle_bytes` builds the stage's bundle; ``keel.torch.export``'s
    ``images=`` takes one per image input of a network."""

    input: str = "image"
    source: str = "bytes"
    output: str = "pixels"
    size: Size | None = None
    shorter_side: int | None = None
    crop: Size | None = None
    interpolation: Any = "bilinear"
    channel_order: str = "rgb"
    scale: float = 1.0 / 255.0
    mean: Any = None
    std: Any = None
    channels: int = 3
    max_width: int = 8192
    max_height: int = 8192
    max_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        self.attrs()  # every check, once, when the settings are made

    # -- the checked settings ----------------------------------------------------------------

    def attrs(self) -> dict[str, dict]:
        """The ``image.to_tensor`` attributes these settings make (SPEC.md's typed values)."""
        _name(self.input, "input")
        _name(self.output, "output")
        if self.source not in _SOURCES:
            raise ValueError(f"keel.images: source {self.source!r} is not one of 'bytes' (encoded "
                             "PNG/JPEG) or 'spark' (Spark's image struct)")
        if self.output in self.input_names():
            raise ValueError(f"keel.images: output {self.output!r} is also an input's name")
        if isinstance(self.channels, bool) or self.channels not in (1, 3):
            raise ValueError(f"keel.images: channels is {self.channels!r}; it must be 3 (RGB) or 1 (grey)")
        attrs: dict[str, dict] = {"channels": {"i64": int(self.channels)}}
        if self.size is not None and self.shorter_side is not None:
            raise ValueError("keel.images: give size or shorter_side, not both (an int size is "
                             "the shorter side already, as torchvision's Resize(int))")
        fixed = None
        if self.shorter_side is not None:
            attrs["shorter_side"] = {"i64": _side(self.shorter_side, "shorter_side")}
        elif self.size is not None:
            if isinstance(self.size, numbers.Integral) and not isinstance(self.size, bool):
                attrs["shorter_side"] = {"i64": _side(self.size, "size")}
            elif isinstance(self.size, Sequence) and not isinstance(self.size, (str, bytes)) and len(self.size) == 1:
                attrs["shorter_side"] = {"i64": _side(self.size[0], "size")}
            else:
                fixed = _pair(self.size, "size")
                attrs["size"] = {"i64s": list(fixed)}
        crop = None if self.crop is None else _pair(self.crop, "crop")
        if crop is not None:
            attrs["crop"] = {"i64s": list(crop)}
        if fixed is None and crop is None:
            raise ValueError(
                "keel.images: every image must come out one shape (a batch tensor has one): give "
                "size=(height, width) or crop=..."
            )
        attrs["interpolation"] = {"str": _interpolation(self.interpolation)}
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"keel.images: channel_order {self.channel_order!r} is not 'rgb' or 'bgr'")
        attrs["channel_order"] = {"str": self.channel_order}
        if isinstance(self.scale, bool) or not isinstance(self.scale, numbers.Real) or not math.isfinite(self.scale):
            raise ValueError(f"keel.images: scale is {self.scale!r}; it must be a finite number")
        attrs["scale"] = {"f64": float(self.scale)}
        mean = _per_channel(self.mean, "mean", self.channels, 0.0)
        std = _per_channel(self.std, "std", self.channels, 1.0)
        if 0.0 in std:
            raise ValueError("keel.images: std holds a zero (Normalize would divide by it)")
        attrs["mean"] = {"f64s": list(mean)}
        attrs["std"] = {"f64s": list(std)}
        attrs["max_width"] = {"i64": _side(self.max_width, "max_width")}
        attrs["max_height"] = {"i64": _side(self.max_height, "max_height")}
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, numbers.Integral) \
                or not 1 <= self.max_bytes <= 2**32 - 1:
            raise ValueError(f"keel.images: max_bytes is {self.max_bytes!r}; it must be from 1 to 2**32 - 1")
        attrs["max_bytes"] = {"i64": int(self.max_bytes)}
        return attrs

    def out_shape(self) -> tuple[int, int, int]:
        """The output tensor's ``(C, H, W)`` per row."""
        a = self.attrs()
        h, w = a["crop"]["i64s"] if "crop" in a else a["size"]["i64s"]
        return int(self.channels), h, w

    def input_names(self) -> list[str]:
        """The bundle's input names: ``input``, or ``input.data``, ``input.height``,
        ``input.width``, ``input.nChannels`` for Spark's image struct."""
        if self.source == "spark":
            return [f"{self.input}.{part}" for part in SPARK_PARTS]
        return [self.input]

    # -- the bundle ------------------------------------------------------------------------

    def bundle_bytes(self, name: str | None = None) -> bytes:
        """The stage as a bundle: ``input`` (or Spark's four parts) -> ``output``
        (``f32[C, H, W]``)."""
        return _stages_bundle([self], name=name)

    def _node(self, node_name: str) -> tuple[dict, list[dict]]:
        """The ``image.to_tensor`` node and the manifest's input fields it reads."""
        if self.source == "spark":
            inputs = [{"port": port, "columns": [f"{self.input}.{part}"]} for part, port in SPARK_PARTS.items()]
            fields = [{"name": f"{self.input}.data", "dtype": "binary", "shape": [], "nullable": True}]
            fields += [{"name": f"{self.input}.{part}", "dtype": "i32", "shape": [], "nullable": True}
                       for part in ("height", "width", "nChannels")]
        else:
            inputs = [{"port": "bytes", "columns": [self.input]}]
            fields = [{"name": self.input, "dtype": "binary", "shape": [], "nullable": True}]
        node = {"name": node_name, "op": "image.to_tensor", "inputs": inputs,
                "outputs": [{"port": "Y", "columns": [self.output]}], "attrs": dict(sorted(self.attrs().items())),
                "doc": "decode, resize, crop, scale and normalise as torchvision's transforms on a Pillow image"}
        return node, fields


def _stages_bundle(stages: Sequence[Preprocess], name: str | None = None) -> bytes:
    """One bundle holding every stage side by side (a network with several image inputs)."""
    from keel import __version__

    names: set[str] = set()
    children, inputs, outputs = [], [], []
    for i, stage in enumerate(stages):
        node, fields = stage._node("preprocess" if len(stages) == 1 else f"preprocess_{i}")
        for f in fields + [{"name": stage.output}]:
            if f["name"] in names:
                raise ValueError(f"keel.images: column {f['name']!r} is used by two image stages")
            names.add(f["name"])
        children.append(node)
        inputs += fields
        outputs.append({"name": stage.output, "dtype": "f32", "shape": list(stage.out_shape()), "nullable": False})
    graph = {"name": "images", "op": "pipeline", "children": children}
    return bundle_zip(
        name=name or "image_preprocess",
        producer={"name": "keel.images", "version": __version__, "framework": "torchvision",
                  "framework_version": ""},
        inputs=inputs, outputs=outputs, graph=graph, tensors={}, format_version="1.1.0",
    )


def preprocess(path: str | os.PathLike[str] | None = None, *, name: str | None = None, **settings: Any) -> bytes:
    """The image-preprocessing stage as a bundle: returns its bytes, and writes them to
    ``path`` (atomically) when one is given. ``settings`` are :class:`Preprocess`'s
    (``input``, ``source``, ``output``, ``size``, ``shorter_side``, ``crop``,
    ``interpolation``, ``channel_order``, ``scale``, ``mean``, ``std``, ``channels`` and the
    limits); see the module docstring. The bytes go straight into ``keel.compose`` (as the
    features) or ``keel.load``."""
    data = Preprocess(**settings).bundle_bytes(name=name)
    if path is not None:
        write_atomic(path, data)
    return data


def _resolve(images: Mapping[str, Preprocess] | None, network_inputs: Sequence[str]) -> list[tuple[str, Preprocess]]:
    """``keel.torch``'s ``images=``: each key a network input, each value its stage."""
    out = []
    for key, stage in (images or {}).items():
        if key not in network_inputs:
            raise ValueError(f"images: {key!r} is not an input of the network (its inputs: "
                             f"{', '.join(network_inputs)})")
        if not isinstance(stage, Preprocess):
            raise TypeError(f"images[{key!r}] must be a keel.images.Preprocess, not {type(stage).__name__}")
        out.append((key, stage))
    return out
