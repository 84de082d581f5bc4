"""Model versions in a running stream: which bundle scores which micro-batch.

With ``refreshInterval > 0`` a :class:`~keel.spark_runtime.KeelModel` (or a SQL function from
:func:`~keel.spark_runtime.register_udf`) on a streaming DataFrame picks up a new bundle
file between micro-batches. Two rules make that safe:

- every micro-batch is scored by exactly one version, in every task of it (first tries,
  retries and speculative copies, on any executor);
- a micro-batch replayed after a restart from its checkpoint is scored by the version that
  scored it the first time, so an idempotent sink receives the same rows again.

The protocol, a folder of small files (the *version store*, ``versionDir``) that the driver and
every executor reach by the same path (local mode, one host, or a shared mount):

- ``bundles/<sha256>.keel``: each accepted bundle, content-addressed, written to a temporary
  name and renamed, so never seen half written and never changed.
- ``<plan>/current``: ``"<sha256> <uid>"`` of the newest accepted version for one plan (one
  bundle path scored on one input schema; ``plan_key``). Only the driver's refresher writes
  it, by rename: a reader sees the old line or the new one.
- ``<plan>/batches/<queryId>/<batchId>``: the version micro-batch ``batchId`` of streaming
  query ``queryId`` is scored with. The first task of the batch to get there copies
  ``current`` into it with ``link()``, which publishes a whole file and fails if the name
  exists: of racing tasks exactly one wins, and all of them then read the winner's line.
  Nothing ever rewrites it, so retries and replays read the same line.

Spark's ``MicroBatchExecution`` sets the local properties ``sql.streaming.queryId`` (the id
kept in the checkpoint, the same after a restart) and ``streaming.sql.batchId`` on the jobs of
each micro-batch; tasks read them from their ``TaskContext``. A task with no batch id (a
batch DataFrame) scores with the version read at ``transform`` time.

On the driver, a :class:`Refresher` thread per plan looks at the bundle file every
``refreshInterval`` seconds. A new file is loaded and checked before it is accepted: it must
plan (keel's own checks), its inputs must fit the stream's schema, and its outputs must be
the ones the query's schema already declares (a running query cannot change its columns). A
file that fails is reported (``logging`` and a :class:`BundleRefreshWarning` with keel's
error) once per content, and the previous version goes on scoring; so does a removed file.

The JVM engine reads the same files (``jvm/java/dev/keel/spark/KeelStream.java``); only this
module decides what is accepted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import keel

LOG = logging.getLogger("keel.spark_runtime")

#: The local properties Spark's micro-batch execution sets on each batch's jobs.
QUERY_ID_PROPERTY = "sql.streaming.queryId"
BATCH_ID_PROPERTY = "streaming.sql.batchId"


class BundleRefreshWarning(UserWarning):
    """A new bundle file was not swapped into a running stream (it does not load, does not fit
    the stream, or is gone); the previous version goes on scoring."""


# --- the files ---------------------------------------------------------------------------------


def plan_key(kind: str, bundle_path: str, shape: Any) -> str:
    """The folder name of one plan: what is scored (`kind`, the bundle file's absolute path)
    and on what (`shape`: the input schema and outputs, JSON-able). Stable across restarts, so
    a restarted query finds its batch records."""
    text = json.dumps([kind, os.path.abspath(bundle_path), shape], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def bundle_file(store: str, sha: str) -> str:
    return os.path.join(store, "bundles", f"{sha}.keel")


def _publish(path: str, data: bytes, *, replace: bool) -> bool:
    """Writes `data` to `path` whole: to a temporary name first, then renamed (`replace`) or
    linked (not replacing: False when `path` already exists)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_line(path: str) -> tuple[str, str] | None:
    try:
        with open(path, encoding="utf-8") as f:
            sha, uid = f.read().split()
    except FileNotFoundError:
        return None
    return sha, uid


def store_bundle(store: str, sha: str, data: bytes) -> None:
    path = bundle_file(store, sha)
    if not os.path.exists(path):
        _publish(path, data, replace=True)


def current(store: str, plan: str) -> tuple[str, str] | None:
    """The newest accepted version of `plan`: ``(sha256, uid)``, or None before the first."""
    return _read_line(os.path.join(store, plan, "current"))


def set_current(store: str, plan: str, sha: str, uid: str) -> None:
    _publish(os.path.join(store, plan, "current"), f"{sha} {uid}\n".encode(), replace=True)


def batch_version(store: str, plan: str, query_id: str, batch_id: str) -> tuple[str, str]:
    """The version micro-batch `batch_id` of query `query_id` is scored with: its record, made
    from ``current`` by whichever task gets here first (see the module doc)."""
    record = os.path.join(store, plan, "batches", query_id, batch_id)
    found = _read_line(record)
    if found is not None:
        return found
    now = current(store, plan)
    if now is None:
        raise keel.BundleError(f"keel version store {store}: no current version for plan {plan}", path=store)
    _publish(record, f"{now[0]} {now[1]}\n".encode(), replace=False)
    found = _read_line(record)
    assert found is not None  # published above, by this task or a faster one
    return found


# --- executors: the version of the running micro-batch ----------------------------------------------

# (store, plan, query id, batch id) -> (sha, uid). Records never change, so a worker keeps them
# (the SQL function asks once per Arrow batch).
_RECORDS: dict[tuple[str, str, str, str], tuple[str, str]] = {}
_RECORDS_LOCK = threading.Lock()


def task_version(store: str | None, plan: str, default: tuple[str, str]) -> tuple[str, str]:
    """The ``(sha256, uid)`` the running task scores with: its micro-batch's record when the
    version store is on and the task belongs to a streaming micro-batch, else `default` (the
    version ``transform`` read)."""
    if store is None:
        return default
    from pyspark import TaskContext

    tc = TaskContext.get()
    batch_id = tc.getLocalProperty(BATCH_ID_PROPERTY) if tc is not None else None
    query_id = tc.getLocalProperty(QUERY_ID_PROPERTY) if tc is not None else None
    if batch_id is None or query_id is None:
        return default
    key = (store, plan, query_id, batch_id)
    with _RECORDS_LOCK:
        found = _RECORDS.get(key)
    if found is None:
        found = batch_version(store, plan, query_id, batch_id)
        with _RECORDS_LOCK:
            if len(_RECORDS) > 10_000:
                _RECORDS.clear()
            _RECORDS[key] = found
    return found


def read_stored(store: str, sha: str) -> bytes:
    with open(bundle_file(store, sha), "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != sha:
        raise keel.BundleError(f"{bundle_file(store, sha)}: does not match its sha256", path=bundle_file(store, sha))
    return data


# --- the driver: accepting new versions ------------------------------------------------------------


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class Refresher:
    """A driver thread that offers each new content of `bundle_path` to `check` (which raises
    when the bundle cannot replace the running one) and publishes the accepted ones as the
    plan's ``current``. One per ``(store, plan)``; it ends with the SparkContext."""

    def __init__(self, store: str, plan: str, bundle_path: str, interval: float,
                 check: Callable[[keel.Bundle], None], alive: Callable[[], bool]):
        self.store, self.plan, self.path, self.interval = store, plan, bundle_path, interval
        self.check, self.alive = check, alive
        self.seen: tuple[int, int, int] | None = _signature(bundle_path)
        self.refused: set[str] = set()
        self.missing_reported = False
        #: What the refresher did, newest last: ("accepted", uid) or ("refused", message).
        self.events: list[tuple[str, str]] = []
        self.thread = threading.Thread(target=self._run, name=f"keel-refresh-{plan}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            if not self.alive():
                return
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 - the refresher must outlive any one bad file
                self._refuse(f"keel: checking {self.path} for a new version failed: {e!r}")

    def _refuse(self, message: str) -> None:
        self.events.append(("refused", message))
        LOG.warning(message)
        warnings.warn(message, BundleRefreshWarning, stacklevel=2)

    def poll(self) -> None:
        """One look at the bundle file (the thread's step; tests call it directly too)."""
        sig = _signature(self.path)
        if sig is None:
            if not self.missing_reported:
                self.missing_reported = True
                self._refuse(f"keel: the bundle file {self.path} is gone; the running version goes on scoring")
            return
        self.missing_reported = False
        if sig == self.seen:
            return
        with open(self.path, "rb") as f:
            data = f.read()
        self.seen = sig
        sha = hashlib.sha256(data).hexdigest()
        running = current(self.store, self.plan)
        if (running is not None and running[0] == sha) or sha in self.refused:
            return
        try:
            bundle = keel.load(data, ignore_extra_columns=True)
            self.check(bundle)
        except (keel.KeelError, ValueError) as e:
            self.refused.add(sha)
            still = f" ({running[1]})" if running else ""
            self._refuse(f"keel: the new bundle at {self.path} is not used, the running version{still} "
                         f"goes on scoring: {type(e).__name__}: {e}")
            return
        uid = str(bundle.manifest.get("uid") or sha)
        store_bundle(self.store, sha, data)
        set_current(self.store, self.plan, sha, uid)
        self.events.append(("accepted", uid))
        LOG.info("keel: %s version %s will score the next micro-batches", self.path, uid)


_REFRESHERS: dict[tuple[str, str], Refresher] = {}
_REFRESHERS_LOCK = threading.Lock()


def start(spark: Any, store: str, plan: str, bundle_path: str, interval: float, sha: str, uid: str,
          data: bytes, check: Callable[[keel.Bundle], None]) -> Refresher:
    """Makes the version read at ``transform`` (`sha`, `uid`, `data`) the plan's current one and
    starts (or finds) the plan's refresher."""
    store_bundle(store, sha, data)
    set_current(store, plan, sha, uid)
    sc = spark.sparkContext
    with _REFRESHERS_LOCK:
        r = _REFRESHERS.get((store, plan))
        if r is not None and r.thread.is_alive():
            r.check, r.interval, r.seen = check, interval, _signature(bundle_path)
            return r
        r = Refresher(store, plan, bundle_path, interval, check, alive=lambda: sc._jsc is not None)
        _REFRESHERS[(store, plan)] = r
    r.start()
    return r


def default_store(bundle_path: str) -> str:
    """The version store used when ``versionDir`` is not set: ``.keel-versions`` beside the
    bundle file."""
    return os.path.join(os.path.dirname(os.path.abspath(bundle_path)), ".keel-versions")
