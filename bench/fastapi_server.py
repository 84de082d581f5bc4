"""The baseline of bench/server.py: AirBnB-like models served the way many teams serve them
today, FastAPI on uvicorn with ONNX Runtime inside (the models converted by skl2onnx, as in
bench/compare.py), with the same route and request body as ``keel serve``:

    POST /v1/models/{name}/predict   {"rows": [{"bathrooms": 1.0, ..., "state": "NY"}]}
    -> {"model": name, "rows": [{"prediction": ...}]}

Run by bench/server.py as ``uvicorn fastapi_server:app`` with ``BENCH_ONNX_DIR`` naming the
folder of ``airbnb_{linear,forest}.onnx``. Rows are validated by a pydantic model (what FastAPI
code does); the handler is ``async def`` because one ONNX Runtime call on a row takes
microseconds, so running it on the event loop is faster than FastAPI's thread-pool hop for
``def`` handlers (the baseline gets its faster variant).
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from data import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC  # noqa: E402


class Listing(BaseModel):
    """One AirBnB-like listing (the bundle's input schema)."""

    bathrooms: float | None = None
    bedrooms: float | None = None
    security_deposit: float | None = None
    cleaning_fee: float | None = None
    extra_people: float | None = None
    number_of_reviews: float | None = None
    square_feet: float | None = None
    review_scores_rating: float | None = None
    cancellation_policy: str | None = None
    host_is_superhost: str | None = None
    instant_bookable: str | None = None
    room_type: str | None = None
    state: str | None = None


class PredictRequest(BaseModel):
    """The request body: rows, as keel serve reads them."""

    rows: list[Listing]


def _session(path: str) -> ort.InferenceSession:
    so = ort.SessionOptions()
    # One uvicorn worker per core, one ONNX Runtime thread per worker: no oversubscription.
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


ONNX_DIR = os.environ.get("BENCH_ONNX_DIR", os.path.join(HERE, "out"))
SESSIONS = {
    f"airbnb_{name}": _session(os.path.join(ONNX_DIR, f"airbnb_{name}.onnx"))
    for name in ("linear", "forest")
    if os.path.exists(os.path.join(ONNX_DIR, f"airbnb_{name}.onnx"))
}

app = FastAPI(title="AirBnB price (FastAPI + ONNX Runtime)")


@app.post("/v1/models/{name}/predict")
async def predict(name: str, request: PredictRequest) -> dict:
    """Scores the rows with the ONNX model of that name."""
    sess = SESSIONS.get(name)
    if sess is None:
        raise HTTPException(status_code=404, detail=f"no model {name}")
    rows = request.rows
    feed = {
        c: np.array([[np.nan if getattr(r, c) is None else getattr(r, c)] for r in rows], dtype=np.float32)
        for c in AIRBNB_NUMERIC
    }
    feed.update({c: np.array([[getattr(r, c) or ""] for r in rows], dtype=object) for c in AIRBNB_CATEGORICAL})
    out = sess.run(None, feed)[0]
    return {"model": name, "rows": [{"prediction": float(v)} for v in np.asarray(out).ravel()]}


@app.get("/healthz")
async def healthz() -> dict:
    """Liveness, for the harness to wait on."""
    return {"status": "ok", "models": sorted(SESSIONS)}
