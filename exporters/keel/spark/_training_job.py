"""The two sides of a :class:`~keel.spark.KeelNetEstimator` fit: the driver's coordinator and
the barrier task every worker runs.

The coordinator is a ``multiprocessing.connection`` listener on the driver (HMAC challenge
authentication with the job's secret, so only the job's own tasks talk to it). Rank 0 sends
it each epoch's metrics (the driver's progress bar), a checkpoint every
``checkpointInterval`` steps and at every epoch's end, and finally the trained bundle. Every
task asks it for the latest checkpoint when it starts, so a barrier stage that Spark retries,
or that ``fit`` resubmits after a lost executor, continues from the last checkpoint instead of
from the first step.

Messages are JSON headers (``{"kind": ...}``) followed, where they carry one, by a raw
payload frame; nothing is unpickled.

The barrier task: each Spark task of the barrier stage turns its partition's Arrow batches
into training rows through keel's feature ops (``_native.TrainData``), binds a port for the
collective on its executor's host and publishes it through ``BarrierTaskContext.allGather``,
then trains with the GIL released (``_native.train_worker``) together with the other tasks
over keel's ring allreduce.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

# When set (in the executors' environment), each barrier task appends `started RANK PID` to
# this file before it trains, and rank 0 `checkpoint 0 STEP` per checkpoint: how the fault
# tests find a task to kill mid-training.
TASK_LOG_ENV = "KEEL_TRAIN_TASK_LOG"

# Seconds a task's collective waits for a peer or a message before failing the task.
DEFAULT_TIMEOUT_S = 120.0


class Coordinator:
    """The driver's end: receives metrics, checkpoints and the result from rank 0 and serves
    the latest checkpoint to tasks that start (or restart)."""

    def __init__(self, host: str, secret: bytes, on_epoch: Callable[[dict[str, Any]], None]) -> None:
        self._listener = Listener((host, 0), authkey=secret)
        self.address: tuple[str, int] = self._listener.address  # type: ignore[assignment]
        self._on_epoch = on_epoch
        self._lock = threading.Lock()
        self.checkpoint: bytes | None = None
        self.checkpoints = 0
        self.resumes = 0
        self.result: bytes | None = None
        self.history: list[dict[str, Any]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="keel-train-coordinator", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except Exception:  # noqa: BLE001 - a failed handshake (wrong key) or the close
                if self._closed:
                    return
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    header = json.loads(conn.recv_bytes())
                except (EOFError, OSError, ValueError):
                    return
                kind = header.get("kind")
                if kind == "resume":
                    with self._lock:
                        if self.checkpoint is not None:
                            self.resumes += 1
                        conn.send_bytes(self.checkpoint or b"")
                elif kind == "epoch":
                    with self._lock:
                        self.history.append(header["metrics"])
                    self._on_epoch(header["metrics"])
                elif kind == "checkpoint":
                    payload = conn.recv_bytes()
                    with self._lock:
                        self.checkpoint = payload
                        self.checkpoints += 1
                elif kind == "result":
                    payload = conn.recv_bytes()
                    with self._lock:
                        self.result = payload

    def close(self) -> None:
        self._closed = True
        try:
            # Unblocks accept().
            with socket.create_connection(self.address, timeout=1):
                pass
        except OSError:
            pass
        self._listener.close()


def barrier_task(job: str, plan: str, secret: bytes, job_id: str, coordinator: tuple[str, int],
                 timeout_s: float) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The function each barrier task runs over its partition's Arrow batches."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa
        from pyspark import BarrierTaskContext

        from keel import _native

        ctx = BarrierTaskContext.get()
        rank = ctx.partitionId()
        data = _native.TrainData(job, plan)
        for batch in batches:
            data.add(batch)
        infos = ctx.getTaskInfos()
        host = infos[rank].address.rsplit(":", 1)[0] if infos else "127.0.0.1"
        listener = _native.TrainListener(host)
        addresses = ctx.allGather(listener.address)
        log = os.environ.get(TASK_LOG_ENV)
        if log:
            with open(log, "a") as f:
                f.write(f"started {rank} {os.getpid()}\n")
        with Client(coordinator, authkey=secret) as conn:
            conn.send_bytes(b'{"kind": "resume"}')
            resume = conn.recv_bytes() or None

            def event(kind: str, payload: bytes) -> None:
                if rank != 0:
                    return
                if kind == "epoch":
                    conn.send_bytes(json.dumps({"kind": "epoch", "metrics": json.loads(payload)}).encode())
                elif kind == "checkpoint":
                    conn.send_bytes(b'{"kind": "checkpoint"}')
                    conn.send_bytes(payload)
                    if log:
                        with open(log, "a") as f:
                            f.write("checkpoint 0\n")

            result = _native.train_worker(job, data, rank, addresses, listener, secret, job_id,
                                          timeout_s, resume, event)
            if rank == 0 and result is not None:
                conn.send_bytes(b'{"kind": "result"}')
                conn.send_bytes(result)
        yield pa.RecordBatch.from_pydict({"rank": [rank], "rows": [data.rows]},
                                         schema=pa.schema([("rank", pa.int32()), ("rows", pa.int64())]))

    return run


def stats_task(job: str, by_shard: bool) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The function of the statistics pass: one JSON summary per partition, or per shard
    (``_keel_shard``) when ``by_shard``."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.compute as pc

        from keel import _native

        stats: dict[int, Any] = {}
        for batch in batches:
            if not by_shard:
                stats.setdefault(-1, _native.FeatureStats(job)).update(batch)
                continue
            shard = batch.column("_keel_shard")
            for value in pc.unique(shard).to_pylist():
                part = batch.filter(pc.equal(shard, value))
                stats.setdefault(value, _native.FeatureStats(job)).update(part)
        if not stats:
            stats[-1] = _native.FeatureStats(job)
        shards = sorted(stats)
        yield pa.RecordBatch.from_pydict(
            {"shard": shards, "stats": [stats[k].to_json() for k in shards]},
            schema=pa.schema([("shard", pa.int32()), ("stats", pa.string())]))

    return run
