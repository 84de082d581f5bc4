"""keel.train: a feature + network bundle trained on one machine, scored by Python and by the
`keel` command line with the same answers; deterministic mode; bad input and divergence."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pytest

import keel
from conftest import run_keel

CITIES = ["paris", "rome", "oslo", "lima", "kyiv"]


def listings(n: int, seed: int) -> pa.Table:
    """A seeded AirBnB-like frame whose label depends on a numeric column, a categorical one
    and their interaction, with nulls in the features."""
    rng = np.random.default_rng(seed)
    nights = rng.gamma(2.0, 2.0, n)
    rating = rng.normal(4.2, 0.5, n)
    city = rng.choice(CITIES, n)
    effect = {"paris": 1.5, "rome": 0.5, "oslo": -1.0, "lima": -0.5, "kyiv": 0.0}
    logit = 0.8 * (rating - 4.2) * 3 - 0.3 * (nights - 4) + np.array([effect[c] for c in city])
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    rating_col = pa.array([None if i % 17 == 0 else float(v) for i, v in enumerate(rating)], pa.float64())
    city_col = pa.array([None if i % 23 == 0 else c for i, c in enumerate(city)], pa.string())
    return pa.table({"nights": nights, "rating": rating_col, "city": city_col, "label": label})


OPTS = dict(label="label", numeric=["nights", "rating"], categorical=["city"], hidden_layers=[16, 8],
            embedding_dim=3, epochs=6, batch_size=64, learning_rate=0.01, progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "model.keel"
    epochs: list[dict] = []
    bundle = keel.train(listings(4000, 1), path, on_epoch=epochs.append, **OPTS)
    return bundle, path, epochs


def test_trained_bundle_scores_raw_columns_and_learns(trained):
    bundle, path, epochs = trained
    assert [f.name for f in bundle.schema.outputs][:2] == ["prediction", "probability"]
    assert {f.name for f in bundle.schema.inputs} == {"nights", "rating", "city"}
    test = listings(2000, 2)
    out = bundle.transform(test.drop(["label"]))
    prob = np.stack(out.column("probability").to_numpy(zero_copy_only=False))
    assert np.allclose(prob.sum(axis=1), 1.0, atol=1e-6)
    pred = out.column("prediction").to_numpy()
    accuracy = float((pred == test.column("label").to_numpy()).mean())
    # The Bayes rate of this frame is about 0.74 and a constant guess about 0.55; a network
    # that learned the numeric effects and the city effect lands near the former.
    assert accuracy > 0.68, accuracy
    assert len(epochs) == OPTS["epochs"]
    # A constant guess scores a log loss near ln 2 = 0.69 on this frame.
    assert epochs[-1]["validation_loss"] < 0.6
    assert 0.5 < epochs[-1]["validation_auc"] <= 1.0


def test_unseen_and_missing_categories_score(trained):
    bundle, _, _ = trained
    frame = pa.table({"nights": [3.0, 3.0], "rating": [None, 4.0], "city": ["atlantis", None]})
    out = bundle.transform(frame)
    assert out.num_rows == 2


def test_bundle_records_the_job_and_the_metrics(trained):
    _, path, epochs = trained
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    text = json.dumps(manifest)
    assert "hidden_layers" in text and "validation_loss" in text


def test_cli_scores_the_trained_bundle_as_python_does(trained, keel_bin, tmp_path):
    bundle, path, _ = trained
    test = listings(300, 3).drop(["label"])
    arrow = tmp_path / "in.arrow"
    with pa.ipc.new_file(arrow, test.schema) as w:
        w.write_table(test)
    out_path = tmp_path / "out.arrow"
    r = run_keel(keel_bin, "score", str(path), str(arrow), "-o", str(out_path))
    assert r.returncode == 0, r.stderr.decode()
    cli = pa.ipc.open_file(out_path).read_all()
    py = bundle.transform(test)
    assert cli.column("prediction").to_pylist() == py.column("prediction").to_pylist()
    assert cli.column("probability").to_pylist() == py.column("probability").to_pylist()


def test_deterministic_mode_gives_the_same_bytes_on_any_thread_count(tmp_path):
    data = listings(1500, 4)
    opts = dict(OPTS, epochs=2, deterministic=True, dropout=0.1)
    a, b = tmp_path / "a.keel", tmp_path / "b.keel"
    keel.train(data, a, threads=1, **opts)
    keel.train(data, b, threads=2, **opts)
    assert a.read_bytes() == b.read_bytes()


def test_regression_with_poisson_loss(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=3000)
    city = rng.choice(CITIES[:3], 3000)
    rate = np.exp(0.5 * x + np.where(city == "paris", 0.7, 0.0))
    y = rng.poisson(rate).astype(np.float64)
    table = pa.table({"x": x, "city": city, "count": y})
    bundle = keel.train(table, label="count", numeric=["x"], categorical=["city"], task="regression",
                        loss="poisson", hidden_layers=[8], epochs=8, learning_rate=0.02, progress=False)
    pred = bundle.transform(table.drop(["count"])).column("prediction").to_numpy()
    assert (pred > 0).all()
    # The fitted rates track the true ones far better than the mean does.
    assert np.mean((pred - rate) ** 2) < 0.25 * np.var(rate)


def test_pandas_category_columns_train():
    frame = listings(600, 8).to_pandas()
    frame["city"] = frame["city"].astype("category")
    bundle = keel.train(frame, **dict(OPTS, epochs=1))
    assert bundle.transform(frame.drop(columns=["label"]).head(5)).shape[0] == 5


def test_missing_column_is_named():
    with pytest.raises(keel.InputError, match="nope"):
        keel.train(listings(100, 1), label="label", numeric=["nope"], progress=False)


def test_null_label_is_named_by_row():
    t = listings(100, 1)
    labels = t.column("label").to_pylist()
    labels[7] = None
    t = t.set_column(3, "label", pa.array(labels, pa.int64()))
    with pytest.raises(keel.InputError, match="7"):
        keel.train(t, **dict(OPTS, epochs=1))


def test_diverging_loss_names_the_step():
    with pytest.raises(keel.errors.TrainingError, match="step"):
        keel.train(listings(500, 1), **dict(OPTS, optimizer="sgd", learning_rate=1e12, epochs=2))


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="hidden_layers"):
        keel.train(listings(10, 1), **dict(OPTS, hidden_layers=[0]))
    with pytest.raises(ValueError, match="optimizer"):
        keel.train(listings(10, 1), **dict(OPTS, optimizer="lbfgs"))


def test_server_scores_the_trained_bundle_as_python_does(trained, keel_bin, tmp_path):
    """`keel serve` on loopback, a real HTTP request: the same answers as Python's."""
    import socket
    import subprocess
    import time
    import urllib.request

    bundle, path, _ = trained
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([keel_bin, "serve", str(path), "--addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                    if json.load(r)["models"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "keel serve did not load the bundle"
            time.sleep(0.2)
        test = listings(200, 6).drop(["label"])
        rows = test.to_pylist()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/keel-train/predict",
                                     data=json.dumps({"rows": rows}).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            served = json.load(r)["rows"]
    finally:
        proc.terminate()
        proc.wait(10)
    py = bundle.transform(test)
    assert [r["prediction"] for r in served] == py.column("prediction").to_pylist()
    assert [r["probability"] for r in served] == py.column("probability").to_pylist()
