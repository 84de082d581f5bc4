"""What the Spark tests share: a local Spark session started under a deadline (a JVM that never
answers fails the run instead of hanging it), collected Spark rows written as an Arrow IPC
file typed by a bundle's inputs, for `keel score` to read, and a standalone cluster (master
and workers on 127.0.0.1) for the cluster tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile

import pyarrow as pa
import pyarrow.ipc  # noqa: F401
import pytest

# How long a Spark session may take to start on these 2-core machines.
START_TIMEOUT_S = 240

ARROW = {"f64": pa.float64(), "f32": pa.float32(), "i64": pa.int64(), "bool": pa.bool_(), "utf8": pa.string(),
         "list<utf8>": pa.list_(pa.string())}


def started_spark(start_spark):
    """Starts Spark with `start_spark()` in a daemon thread and returns the session; skips when
    there is no Java, fails when Spark does not start within START_TIMEOUT_S."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (no `java` on PATH, no JAVA_HOME)")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    result: dict = {}

    def start() -> None:
        try:
            result["spark"] = start_spark()
        except BaseException as e:  # noqa: BLE001 - reported below
            result["error"] = e

    # A daemon thread: if the JVM never answers, the test run fails and still exits.
    t = threading.Thread(target=start, daemon=True)
    t.start()
    t.join(START_TIMEOUT_S)
    if t.is_alive():
        pytest.fail(f"Spark did not start within {START_TIMEOUT_S} s")
    if "error" in result:
        pytest.fail(f"Spark failed to start: {result['error']!r}")
    return result["spark"]


def read_manifest(bundle) -> dict:
    return json.loads(zipfile.ZipFile(bundle).read("manifest.json"))


def arrow_inputs(rows, fields: list[dict], path) -> None:
    """Writes collected Spark rows as an Arrow IPC file typed by the bundle's inputs, keeping
    NULL (None) and NaN apart as Spark does; vectors become fixed-size lists."""
    arrays = []
    for f in fields:
        vals = [r[f["name"]] for r in rows]
        if f["shape"]:
            w = f["shape"][0]
            flat = [float(x) for v in vals for x in v.toArray()]
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float64()), w))
        else:
            if f["dtype"] in ("f64", "f32"):
                vals = [None if v is None else float(v) for v in vals]
            arrays.append(pa.array(vals, type=ARROW[f["dtype"]]))
    table = pa.table(arrays, names=[f["name"] for f in fields])
    with pa.ipc.new_file(str(path), table.schema) as w:
        w.write_table(table)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandaloneCluster:
    """A Spark standalone master and one-core workers (two by default) on 127.0.0.1, started
    and stopped with pyspark's own sbin/spark-daemon.sh (the pip package ships no
    start-master.sh), with their PID files, logs and work directories under `root`. With
    `pin`, worker i runs on core i (taskset), like a one-core machine: the training benchmark
    (bench/train_compare.py) uses it so its workers do not share cores."""

    MASTER = "org.apache.spark.deploy.master.Master"
    WORKER = "org.apache.spark.deploy.worker.Worker"

    def __init__(self, root, workers: int = 2, worker_memory: str = "1g", pin: bool = False):
        import pyspark
        from pathlib import Path

        root = Path(root)
        self.spark_home = os.path.dirname(pyspark.__file__)
        self.root = root
        self.workers = workers
        self.worker_memory = worker_memory
        self.pin = pin
        self.port = _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update(
            SPARK_HOME=self.spark_home,
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_MASTER_HOST="127.0.0.1",
            SPARK_PID_DIR=str(root / "pids"),
            SPARK_LOG_DIR=str(root / "logs"),
            SPARK_CONF_DIR=str(root / "conf"),
            SPARK_IDENT_STRING=f"keeltest{os.getpid()}",
            SPARK_DAEMON_MEMORY="256m",
            SPARK_WORKER_DIR=str(root / "work"),
            PYSPARK_PYTHON=sys.executable,
        )
        for d in ("pids", "logs", "conf", "work"):
            (root / d).mkdir(exist_ok=True)

    def _daemon(self, *args: str, timeout: float = 60, cpu: int | None = None) -> subprocess.CompletedProcess:
        # A pinned worker's executor JVM and Python workers (and whatever they start) inherit
        # its CPU affinity.
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        return subprocess.run(
            [*pin, "bash", os.path.join(self.spark_home, "sbin", "spark-daemon.sh"), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )

    def start(self) -> None:
        r = self._daemon("start", self.MASTER, "1", "--host", "127.0.0.1", "--port", str(self.port),
                         "--webui-port", str(_free_port()))
        if r.returncode != 0 or "failed to launch" in r.stdout:
            raise RuntimeError(f"master failed to start: {r.stdout}{r.stderr}{self.logs()}")
        self._wait_for_port(self.port, 60)
        for i in range(1, self.workers + 1):
            r = self._daemon("start", self.WORKER, str(i), "--host", "127.0.0.1", "--cores", "1",
                             "--memory", self.worker_memory, "--webui-port", str(_free_port()),
                             "--work-dir", str(self.root / "work"), self.url,
                             cpu=(i - 1) % (os.cpu_count() or 1) if self.pin else None)
            if r.returncode != 0 or "failed to launch" in r.stdout:
                raise RuntimeError(f"worker {i} failed to start: {r.stdout}{r.stderr}{self.logs()}")

    def _wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the master did not listen on {port} within {timeout} s{self.logs()}")

    def pids(self) -> list[int]:
        out = []
        for name in os.listdir(self.root / "pids"):
            try:
                out.append(int((self.root / "pids" / name).read_text().strip()))
            except (OSError, ValueError):
                pass
        return out

    def stop(self) -> None:
        """Stops the workers then the master with spark-daemon.sh; whatever is still alive
        after a bounded wait (or if the script fails) is killed by its PID file."""
        pids = self.pids()
        for i in range(1, self.workers + 1):
            try:
                self._daemon("stop", self.WORKER, str(i), timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            self._daemon("stop", self.MASTER, "1", timeout=30)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.5)
        for p in pids:
            if alive(p):
                os.kill(p, signal.SIGKILL)

    def logs(self) -> str:
        text = []
        for name in sorted(os.listdir(self.root / "logs")):
            with open(self.root / "logs" / name, errors="replace") as f:
                text.append(f"\n--- {name}\n" + "".join(f.readlines()[-20:]))
        return "".join(text)


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
