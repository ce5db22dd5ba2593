"""The job server's start-up, without a Spark session of the tests' own."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

JOBS_ROOT = Path(__file__).resolve().parents[1]


def server_command(port: int) -> list[str]:
    """The job server as a plain Python process (its SparkContext starts its own JVM)."""
    return [sys.executable, "-m", "spark_jobs.server", "--port", str(port)]


def test_a_busy_port_fails_at_once_without_starting_spark() -> None:
    """Regression: the server started Spark before it bound its port, so a port taken meanwhile
    (CI once lost it to another process) failed only after the JVM's start, with a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            server_command(port),
            cwd=JOBS_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ccmix job server: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_requests_answer_503_until_spark_is_up(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    """Regression: the port bound only once Spark is up, so that nothing answers while the JVM
    starts (and `ccmix services status` cannot tell a starting server from a dead one)."""
    for _ in range(3):  # a port picked free can be taken before the server binds it
        answers, health, log = _answers_until_healthy(tmp_path, free_port())
        if "Address already in use" not in log:
            break
    assert answers and answers[-1] == 200, f"never healthy: {answers[-5:]}\n{log[-2000:]}"
    assert health["cores"] >= 1
    first_answer = next(i for i, a in enumerate(answers) if a is not None)
    assert set(answers[first_answer:-1]) == {503}, "it answered 503 until Spark was up"


def _answers_until_healthy(tmp_path: Path, port: int) -> tuple[list[int | None], dict, str]:
    """A real server on `port`, its /health polled every 50 ms until a 200 (None: nothing
    listening yet), that health, and the server's stderr."""
    log_path = tmp_path / f"server-{port}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            server_command(port),
            cwd=JOBS_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # its JVM with it, when the test ends it
        )
    answers: list[int | None] = []
    health: dict = {}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    answers.append(r.status)
                    health = json.load(r)
                    break
            except urllib.error.HTTPError as error:
                answers.append(error.code)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                answers.append(None)
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited by itself
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    return answers, health, log_path.read_text(errors="replace")
