"""A long-lived Spark driver that runs ccmix jobs on request, so local stages share one JVM.

    spark-submit [--driver-memory 2g] [--jars …] spark_jobs/server.py --port 8790 [--host 127.0.0.1]

Every job started through `spark-submit` pays Spark's start-up (12-15 s here) before it reads a
byte. Locally, `ccmix services up` starts this server once and `runSparkJob` sends it jobs over
HTTP on loopback; on a cluster, jobs go through `spark-submit` as before. A job runs exactly as
from the command line (`run_job`, same argv, same outputs and metrics), in a child session of
the server's (own SQL conf, shared JVM), under a Spark job group so it can be watched and
cancelled alone.

    GET  /health                 {"code_version", "pid", "master", "cores", "driver_memory",
                                  "jobs_running"}: a run that asks for more cores or memory
                                  than the server has goes through spark-submit instead
    POST /jobs                   {"id", "job", "argv", "owner", "hadoop_conf"} -> 202; runs in
                                 its own thread (hadoop_conf: per-bucket S3A settings only)
    GET  /jobs/<id>              {"state": running|succeeded|failed|cancelled, "exit_code",
                                  "error", "progress": {jobsDone, jobsTotal, stagesDone, …}}
    GET  /jobs                   every job the server knows, without progress
    POST /jobs/<id>/cancel       cancels its Spark jobs until its thread ends

The port is taken before the SparkContext starts; until it is up, every request answers 503.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

JOBS = ("extract", "ingest_reference", "train_classifier", "quality_filter", "dedup", "mix")
PACKAGE_DIR = Path(__file__).resolve().parent
JAVA_DIR = PACKAGE_DIR.parents[1] / "infra" / "spark" / "java" / "ccmix" / "spark"


def code_version(package_dir: Path = PACKAGE_DIR, java_dir: Path = JAVA_DIR) -> str:
    """The same hash as the worker's `sparkJobsCodeVersion`: the sorted `*.py` names + bytes,
    then the sorted `*.java` ones (the sources of ccmix's jar, which runs in this JVM)."""
    digest = hashlib.sha256()
    for folder, pattern in ((package_dir, "*.py"), (java_dir, "*.java")):
        for path in sorted(folder.glob(pattern), key=lambda p: p.name):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class JobRun:
    id: str
    job: str
    argv: list[str]
    owner: dict[str, Any]
    state: str = "running"
    exit_code: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    cancel_requested: bool = False


def set_bucket_settings(spark: SparkSession, settings: dict[str, Any]) -> None:
    """Per-bucket S3A settings (`fs.s3a.bucket.<name>.…`) on the running context, which every
    later job's FileSystem reads; any other Hadoop setting is fixed for the JVM's life."""
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in settings.items():
        if not str(key).startswith("fs.s3a.bucket."):
            raise ValueError(f"only per-bucket S3A settings may change at run time, not {key}")
        hadoop_conf.set(str(key), str(value))


class JobServer:
    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.runs: dict[str, JobRun] = {}
        self.lock = threading.Lock()
        self.version = code_version()

    def start(self, request: dict[str, Any]) -> JobRun:
        job, run_id = str(request.get("job")), str(request.get("id") or "")
        if job not in JOBS:
            raise ValueError(f"unknown job {job!r}; known: {', '.join(JOBS)}")
        if not run_id:
            raise ValueError("a job needs an id")
        argv = [str(a) for a in request.get("argv", [])]
        set_bucket_settings(self.spark, dict(request.get("hadoop_conf") or {}))
        with self.lock:
            existing = self.runs.get(run_id)
            if existing and existing.state == "running":
                return existing  # the same attempt asked twice: one run
            run = JobRun(run_id, job, argv, dict(request.get("owner") or {}))
            self.runs[run_id] = run
        threading.Thread(target=self._run, args=(run,), name=f"job-{run_id}", daemon=True).start()
        return run

    def _run(self, run: JobRun) -> None:
        sc = self.spark.sparkContext
        sc.setJobGroup(run.id, f"ccmix {run.job}", interruptOnCancel=True)
        errors: list[str] = []
        try:
            module = importlib.import_module(f"spark_jobs.{run.job}")
            code = module.main(run.argv, spark=self.spark, on_error=errors.append)
        except BaseException as error:  # a job's bug must not take the server down
            code = 1
            errors.append(f"{type(error).__name__}: {error}")
            traceback.print_exc()
        with self.lock:
            run.exit_code = code
            run.error = errors[-1] if errors else None
            run.ended = time.time()
            if run.cancel_requested:
                run.state = "cancelled"
            else:
                run.state = "succeeded" if code == 0 else "failed"

    def cancel(self, run_id: str) -> JobRun | None:
        run = self.runs.get(run_id)
        if run is None or run.state != "running":
            return run
        run.cancel_requested = True

        def keep_cancelling() -> None:
            # A job group cancels the Spark jobs running now; the job's next action starts a
            # new one, so keep cancelling until its thread has ended.
            while run.state == "running":
                self.spark.sparkContext.cancelJobGroup(run.id)
                time.sleep(0.5)

        threading.Thread(target=keep_cancelling, daemon=True).start()
        return run

    def progress(self, run_id: str) -> dict[str, int]:
        tracker = self.spark.sparkContext.statusTracker()
        jobs = [tracker.getJobInfo(j) for j in tracker.getJobIdsForGroup(run_id)]
        jobs = [j for j in jobs if j is not None]
        stages = [tracker.getStageInfo(s) for j in jobs for s in j.stageIds]
        stages = [s for s in stages if s is not None]
        return {
            "jobsDone": sum(1 for j in jobs if j.status == "SUCCEEDED"),
            "jobsTotal": len(jobs),
            "stagesDone": sum(1 for s in stages if s.numTasks == s.numCompletedTasks),
            "tasksDone": sum(s.numCompletedTasks for s in stages),
            "tasksTotal": sum(s.numTasks for s in stages),
            "activeTasks": sum(s.numActiveTasks for s in stages),
        }

    def describe(self, run: JobRun, with_progress: bool) -> dict[str, Any]:
        described = {k: v for k, v in asdict(run).items() if k != "argv"}
        if with_progress:
            described["progress"] = self.progress(run.id)
        return described

    def health(self) -> dict[str, Any]:
        return {
            "code_version": self.version,
            "pid": os.getpid(),
            "master": self.spark.sparkContext.master,
            "cores": self.spark.sparkContext.defaultParallelism,
            "driver_memory": self.spark.sparkContext.getConf().get("spark.driver.memory", "1g"),
            "jobs_running": sum(1 for r in self.runs.values() if r.state == "running"),
        }


def handler_for(started: list[JobServer]) -> type[BaseHTTPRequestHandler]:
    """Requests answer 503 until `started` holds the server (Spark is still starting)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # requests are polled every second
            pass

        def reply(self, status: int, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if not started:
                return self.reply(503, {"error": "Spark is starting"})
            server = started[0]
            parts = [p for p in self.path.split("/") if p]
            if parts == ["health"]:
                return self.reply(200, server.health())
            if parts == ["jobs"]:
                return self.reply(200, [server.describe(r, False) for r in server.runs.values()])
            if len(parts) == 2 and parts[0] == "jobs" and parts[1] in server.runs:
                return self.reply(200, server.describe(server.runs[parts[1]], True))
            return self.reply(404, {"error": f"no such resource {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            if not started:
                return self.reply(503, {"error": "Spark is starting"})
            server = started[0]
            parts = [p for p in self.path.split("/") if p]
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
                if parts == ["jobs"]:
                    return self.reply(202, server.describe(server.start(request), False))
                if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "cancel":
                    run = server.cancel(parts[1])
                    if run is None:
                        return self.reply(404, {"error": f"no job {parts[1]}"})
                    return self.reply(200, server.describe(run, False))
            except (ValueError, json.JSONDecodeError) as error:
                return self.reply(400, {"error": str(error)})
            return self.reply(404, {"error": f"no such resource {self.path}"})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="ccmix Spark job server (local, loopback)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The port before the SparkContext: a busy port fails before the context starts, with a
    # plain message, and the context's own random ports cannot take it meanwhile. (Under
    # spark-submit the JVM and its Py4J gateway are up already: infra/test.sh retries.)
    started: list[JobServer] = []
    try:
        http = ThreadingHTTPServer((args.host, args.port), handler_for(started))
    except OSError as error:
        raise SystemExit(
            f"ccmix job server: cannot listen on {args.host}:{args.port}: {error.strerror}"
        ) from None
    serving = threading.Thread(target=http.serve_forever, name="http", daemon=True)
    serving.start()
    print(f"ccmix job server on http://{args.host}:{args.port}: starting Spark", flush=True)
    spark = SparkSession.builder.appName("ccmix-job-server").getOrCreate()
    try:
        started.append(JobServer(spark))
        print("ccmix job server: ready", flush=True)
        serving.join()
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
