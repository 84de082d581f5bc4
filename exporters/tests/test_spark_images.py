"""Transfer learning in Spark, end to end: image preprocessing (`keel.images`) -> a small CNN
featurizer trained here in torch -> a Spark ML `LogisticRegression` head trained here on the
CNN's embeddings, composed into one bundle and scored by `KeelModel` on both engines, from
Spark's image struct (`spark.read.format("image")`) and from raw file bytes
(`spark.read.format("binaryFile")`).

The references are the frameworks' answers, never keel's: the embeddings are torch's, computed
on pixels preprocessed here in numpy (the PNGs are written here, losslessly, so the decoded
pixels are the generated arrays); the probabilities and predictions are Spark's own
`LogisticRegressionModel.transform` on those embeddings. Tolerance `network_then_f64_head`
(fixtures/tolerances.json) says why they are not exact.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import assert_close
from test_images import png_rgb

import keel
import keel.images
import keel.spark

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
import keel.torch  # noqa: E402
pyspark = pytest.importorskip("pyspark") if os.environ.get("CI") != "true" else __import__("pyspark")

from pyspark.ml.classification import LogisticRegression  # noqa: E402
from pyspark.ml.linalg import Vectors  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from generate_spark import start_spark  # noqa: E402
from keel.spark_runtime import KeelModel, jvm_engine_available  # noqa: E402
from spark_testing import started_spark  # noqa: E402

SIDE, CROP, N_IMAGES = 24, 20, 40
MEAN, STD = (0.5, 0.45, 0.4), (0.25, 0.3, 0.2)


# --- Spark -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark():
    # This module's own local session, stopped at its end (as test_spark_live's), so the
    # session test_spark_runtime starts later has that module's settings.
    session = started_spark(start_spark)
    yield session
    session.stop()


@pytest.fixture(params=["python", "jvm"])
def engine(request, spark) -> str:
    """Both engines: mapInArrow through Python workers, and the JVM engine (keel-spark.jar,
    which conftest puts on the class path of every Spark JVM the tests start)."""
    if request.param == "jvm" and not jvm_engine_available(spark):
        why = "keel-spark.jar is not on Spark's class path (jvm/build.sh builds it)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return request.param


# --- images ---------------------------------------------------------------------------------


def stripes(rng: np.random.Generator, vertical: bool) -> np.ndarray:
    """A 24x24 RGB image of stripes (horizontal or vertical) of two random colours, noisy."""
    period = int(rng.integers(4, 9))
    phase = int(rng.integers(0, period))
    on = ((np.arange(SIDE) + phase) % period) < period // 2
    mask = np.broadcast_to(on[None, :] if vertical else on[:, None], (SIDE, SIDE))
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    img = np.where(mask[..., None], a, b) + rng.normal(0, 12, (SIDE, SIDE, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def preprocess_numpy(pixels: np.ndarray) -> np.ndarray:
    """torchvision's CenterCrop(20), ToTensor(), Normalize(MEAN, STD) on decoded RGB pixels,
    in f64 then rounded to f32 (as torchvision on f32 would, up to its rounding)."""
    top = int(round((SIDE - CROP) / 2))
    x = pixels[:, top:top + CROP, top:top + CROP, :].astype(np.float64).transpose(0, 3, 1, 2)
    x = (x / 255.0 - np.array(MEAN)[None, :, None, None]) / np.array(STD)[None, :, None, None]
    return x.astype(np.float32)


class Featurizer(torch.nn.Module):
    """A tiny CNN: two 3x3 convolutions, a max pool, a global mean -> an 8-d embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        h = torch.nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        return torch.relu(self.c2(h)).mean(dim=(2, 3))


@pytest.fixture(scope="module")
def transfer(spark, tmp_path_factory):
    """The images on disk, the trained featurizer and head, Spark's reference answers and the
    two composed bundles (image struct and file bytes)."""
    tmp = tmp_path_factory.mktemp("tl")
    folder = tmp / "images"
    folder.mkdir()
    rng = np.random.default_rng(7)
    labels = np.arange(N_IMAGES) % 2
    pixels = np.stack([stripes(rng, bool(v)) for v in labels])
    for i, (img, y) in enumerate(zip(pixels, labels)):
        (folder / f"{i:02d}_{y}.png").write_bytes(png_rgb(img))

    # The featurizer, trained with a throwaway linear head.
    torch.manual_seed(0)
    x = torch.from_numpy(preprocess_numpy(pixels))
    net, head = Featurizer(), torch.nn.Linear(8, 2)
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(net(x)), torch.from_numpy(labels))
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        emb = net(x).numpy()

    # The head: Spark ML's LogisticRegression on torch's embeddings; its own transform is
    # the reference.
    rows = [(i, float(y), Vectors.dense(e.astype(np.float64))) for i, (y, e) in enumerate(zip(labels, emb))]
    train = spark.createDataFrame(rows, ["id", "label", "features"])
    lr = LogisticRegression(maxIter=100, regParam=0.05).fit(train)
    ref = {r["id"]: (r["probability"].toArray(), r["prediction"])
           for r in lr.transform(train).select("id", "probability", "prediction").collect()}
    head_path = tmp / "head.keel"
    keel.spark.export(lr, head_path, train.select("features"))

    # One bundle per source, built the two documented ways: keel.images + keel.compose, and
    # keel.torch.export(images=...) then compose with the head.
    prep = keel.images.preprocess(tmp / "prep.keel", source="spark", crop=CROP, mean=MEAN, std=STD)
    featurizer = keel.compose(prep, net, network_sample=x[:4], output_names=["embedding"])
    struct_path = tmp / "struct.keel"
    keel.compose(featurizer, head_path, struct_path, keep=["embedding"])
    cnn = tmp / "cnn.keel"
    keel.torch.export(net, cnn, sample=x[:4], output_names=["embedding"],
                      images={"x": keel.images.Preprocess(input="content", crop=CROP, mean=MEAN, std=STD)})
    bytes_path = tmp / "bytes.keel"
    keel.compose(cnn, head_path, bytes_path, keep=["embedding"])
    return {"folder": str(folder), "emb": emb, "ref": ref, "struct": str(struct_path), "bytes": str(bytes_path),
            "labels": labels, "pixels": pixels, "accuracy": float((lr.transform(train).where("prediction = label").count()) / N_IMAGES)}


def _check(out, transfer, what: str) -> None:
    got = {r["id"]: r for r in out.select("id", "embedding", "probability", "prediction").collect()}
    assert sorted(got) == list(range(N_IMAGES)), what
    ids = sorted(got)
    emb = np.array([got[i]["embedding"] for i in ids])
    err_emb = assert_close(emb, transfer["emb"], "onnx_f32", f"{what}: embedding vs torch")
    prob = np.array([got[i]["probability"].toArray() for i in ids])
    want = np.array([transfer["ref"][i][0] for i in ids])
    err = assert_close(prob, want, "network_then_f64_head", f"{what}: probability vs Spark's LogisticRegressionModel")
    # Predictions exactly, except for a row whose probability is within the tolerance of the
    # boundary (none is, with this data; the guard keeps the comparison honest if one were).
    sure = [i for i in ids if abs(transfer["ref"][i][0][1] - 0.5) > 1e-5]
    assert len(sure) >= N_IMAGES - 2, what
    assert [got[i]["prediction"] for i in sure] == [transfer["ref"][i][1] for i in sure], what
    print(f"{what}: max |embedding - torch| {err_emb:.2e}, max |probability - Spark| {err:.2e}")


def test_featurizer_and_head_learned_the_task(transfer):
    # Guards the test's own premise: a head that guesses would compare nothing of interest.
    assert transfer["accuracy"] >= 0.9, transfer["accuracy"]


def test_image_struct_column_scores_as_torch_then_spark(spark, engine, transfer):
    df = spark.read.format("image").load(transfer["folder"])
    assert df.schema["image"].dataType.fieldNames() == ["origin", "height", "width", "nChannels", "mode", "data"]
    df = df.withColumn("id", F.regexp_extract("image.origin", r"(\d+)_\d\.png$", 1).cast("int")).repartition(3)
    model = KeelModel(transfer["struct"], engine=engine)
    assert [f.name for f in model.bundle().schema.inputs] == ["image.data", "image.height", "image.width", "image.nChannels"]
    _check(model.transform(df), transfer, f"{engine} engine, image struct")
    # Only the outputs: the struct travels once, however many of its fields the bundle reads.
    only = KeelModel(transfer["struct"], engine=engine, keepInputs=False).transform(df)
    assert only.columns == ["embedding", "prediction", "probability", "rawPrediction"] or \
        set(only.columns) == {"embedding", "prediction", "probability", "rawPrediction"}
    assert only.count() == N_IMAGES


@pytest.mark.parametrize("large", [False, True], ids=["binary", "large_binary"])
def test_binary_file_column_scores_as_torch_then_spark(spark, engine, transfer, large):
    # Spark hands BinaryType to Arrow as binary, or large_binary under useLargeVarTypes.
    spark.conf.set("spark.sql.execution.arrow.useLargeVarTypes", str(large).lower())
    try:
        df = spark.read.format("binaryFile").option("pathGlobFilter", "*.png").load(transfer["folder"])
        df = df.withColumn("id", F.regexp_extract("path", r"(\d+)_\d\.png$", 1).cast("int")).repartition(2)
        model = KeelModel(transfer["bytes"], engine=engine)
        assert [(f.name, f.dtype) for f in model.bundle().schema.inputs] == [("content", "binary")]
        _check(model.transform(df), transfer, f"{engine} engine, binaryFile ({'large_' if large else ''}binary)")
    finally:
        spark.conf.unset("spark.sql.execution.arrow.useLargeVarTypes")


def test_undecodable_image_names_column_and_row(spark, engine, transfer):
    png = png_rgb(transfer["pixels"][0])
    df = spark.createDataFrame([(0, png), (1, png[: len(png) // 2]), (2, png)], "id int, content binary").coalesce(1)
    with pytest.raises(Exception) as e:
        KeelModel(transfer["bytes"], engine=engine).transform(df).collect()
    text = str(e.value)
    if engine == "python":
        assert "keel.errors.BadValueError" in text, text
        assert "row 1 of the partition" in text, text
    else:
        assert "[bad_value]" in text, text
        assert "[Spark partition 0]" in text, text
    assert "row 1" in text and "`content`" in text, text

    # Spark's image struct with pixels that do not fill height x width x nChannels.
    img = transfer["pixels"][0][..., ::-1]  # BGR, as Spark stores it
    good = ("x", SIDE, SIDE, 3, 16, bytearray(img.tobytes()))
    bad = ("y", SIDE, SIDE, 3, 16, bytearray(img.tobytes()[:-5]))
    schema = "image struct<origin:string,height:int,width:int,nChannels:int,mode:int,data:binary>"
    df = spark.createDataFrame([(good,), (bad,)], schema).coalesce(1)
    with pytest.raises(Exception) as e:
        KeelModel(transfer["struct"], engine=engine).transform(df).collect()
    text = str(e.value)
    assert ("keel.errors.BadValueError" if engine == "python" else "[bad_value]") in text, text
    assert "row 1" in text and "image.data" in text, text


def test_image_struct_checked_on_the_driver(spark, transfer):
    # A frame without the image column, or with `image` of another type, fails in transform
    # itself, before any job, naming the input.
    df = spark.createDataFrame([(1, "a")], "id int, image string")
    with pytest.raises(keel.MissingColumnError) as e:
        KeelModel(transfer["struct"]).transform(df)
    assert e.value.column == "image.data" and "not a struct" in str(e.value)
    df = spark.createDataFrame([((1.0, 2, 2, 3),)], "image struct<data:double,height:int,width:int,nChannels:int>")
    with pytest.raises(keel.ColumnTypeError) as e:
        KeelModel(transfer["struct"]).transform(df)
    assert e.value.column == "image.data"
