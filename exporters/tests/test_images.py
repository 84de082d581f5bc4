"""`keel.images`: the preprocessing stage's bundle against torchvision's arithmetic done here in
numpy (the PNGs are written losslessly here, so the decoded pixels are the generated arrays),
its argument checks, and the one-call route `keel.torch.export(images=...)` against torch.
Pillow-exact resampling is checked by the runtime's own tests on fixtures/images."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from conftest import assert_close

import keel
import keel.images
from keel.images import Preprocess


def png_rgb(pixels: np.ndarray) -> bytes:
    """A minimal PNG encoder (8-bit RGB, no filter, one IDAT): what the tests need without
    Pillow. Lossless, so any decoder gives back `pixels`."""
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _pixels(n: int = 3, h: int = 9, w: int = 7) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_bytes_and_spark_sources_give_torchvisions_tensor():
    px = _pixels()
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    # CenterCrop((5, 4)) of 9 x 7: top round(2.0) = 2, left round(1.5) = 2 (half to even).
    want = px[:, 2:7, 2:6, :].astype(np.float64).transpose(0, 3, 1, 2)
    want = ((want / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]).astype(np.float32)
    b = keel.load(keel.images.preprocess(None, crop=(5, 4), mean=mean, std=std))
    assert [(f.name, f.dtype) for f in b.schema.inputs] == [("image", "binary")]
    out = b.schema.outputs[0]
    assert (out.name, out.dtype, out.shape, out.is_tensor) == ("pixels", "f32", (3, 5, 4), True)
    got = b.transform({"image": [png_rgb(p) for p in px]})["pixels"]
    assert_close(got, want, "image_f32", "bytes source")
    s = keel.load(keel.images.preprocess(None, source="spark", input="img", output="x", crop=(5, 4),
                                         mean=mean, std=std))
    assert [(f.name, f.dtype) for f in s.schema.inputs] == [
        ("img.data", "binary"), ("img.height", "i32"), ("img.width", "i32"), ("img.nChannels", "i32")]
    n = len(px)
    got = s.transform({"img.data": [p[..., ::-1].tobytes() for p in px],  # Spark stores BGR
                       "img.height": np.full(n, 9, np.int32), "img.width": np.full(n, 7, np.int32),
                       "img.nChannels": np.full(n, 3, np.int32)})["x"]
    assert_close(got, want, "image_f32", "spark source")
    # bgr order and grey are the op's; the stage only passes them on.
    g = keel.load(keel.images.preprocess(None, size=(4, 4), channels=1, interpolation="box"))
    assert g.schema.outputs[0].shape == (1, 4, 4)


def test_preprocess_writes_the_file_it_returns(tmp_path):
    data = keel.images.preprocess(tmp_path / "prep.keel", size=(8, 8))
    assert (tmp_path / "prep.keel").read_bytes() == data
    assert keel.load(data).schema.outputs[0].shape == (3, 8, 8)


@pytest.mark.parametrize("settings, error, words", [
    ({}, ValueError, "one shape"),
    ({"size": 32}, ValueError, "one shape"),                    # shorter side only: shapes vary
    ({"size": (0, 4)}, ValueError, "size[0] (height) is 0"),
    ({"size": (4, 4, 4)}, TypeError, "(height, width)"),
    ({"crop": 1.5}, TypeError, "crop"),
    ({"crop": True}, TypeError, "crop"),
    ({"size": 8, "shorter_side": 8, "crop": 4}, ValueError, "not both"),
    ({"crop": 4, "interpolation": "bicubic"}, ValueError, "'bilinear', 'nearest' or 'area'"),
    ({"crop": 4, "mean": [0.5, 0.5]}, ValueError, "mean has 2 values for 3 channel(s)"),
    ({"crop": 4, "std": [1, 0, 1]}, ValueError, "std holds a zero"),
    ({"crop": 4, "std": float("nan")}, ValueError, "not a finite number"),
    ({"crop": 4, "channels": 4}, ValueError, "channels"),
    ({"crop": 4, "channel_order": "RGB"}, ValueError, "channel_order"),
    ({"crop": 4, "source": "png"}, ValueError, "source 'png'"),
    ({"crop": 4, "input": ""}, TypeError, "input"),
    ({"crop": 4, "output": "image"}, ValueError, "also an input"),
    ({"crop": 4, "max_bytes": 0}, ValueError, "max_bytes"),
])
def test_arguments_are_checked_naming_the_parameter(settings, error, words):
    with pytest.raises(error) as e:
        keel.images.preprocess(None, **settings)
    assert words in str(e.value), e.value


def test_torch_export_with_images_scores_like_torch(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    import keel.torch

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 2, 2))
    px = _pixels()
    x = (px[:, 2:7, 2:6, :].astype(np.float64).transpose(0, 3, 1, 2) / 255.0 - 0.5) / 0.25
    x = torch.from_numpy(x.astype(np.float32))
    with torch.no_grad():
        want = net(x).numpy()
    path = tmp_path / "m.keel"
    name = keel.load(keel.torch.bundle_bytes(net, x)).schema.inputs[0].name
    keel.torch.export(net, path, sample=x, images={name: Preprocess(input="photo", crop=(5, 4), mean=0.5, std=0.25)})
    b = keel.load(str(path))
    assert [(f.name, f.dtype) for f in b.schema.inputs] == [("photo", "binary")]
    assert_close(b.transform({"photo": [png_rgb(p) for p in px]})["output"], want, "onnx_f32", "images= route")
    # A key that is no input of the network, and a stage of the wrong shape, are refused.
    with pytest.raises(ValueError, match="not an input of the network"):
        keel.torch.bundle_bytes(net, x, images={"nope": Preprocess(crop=(5, 4))})
    with pytest.raises(keel.ComposeError):
        keel.torch.bundle_bytes(net, x, images={name: Preprocess(crop=(6, 6))})
