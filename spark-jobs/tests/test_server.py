"""The job server's start-up, without a Spark session of the tests' own."""

import socket
import subprocess
import sys
from pathlib import Path

JOBS_ROOT = Path(__file__).resolve().parents[1]


def test_a_busy_port_fails_at_once_without_starting_spark() -> None:
    """Regression: the server started Spark before it bound its port, so a port taken meanwhile
    (CI once lost it to another process) failed only after the JVM's start, with a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "spark_jobs.server", "--port", str(port)],
            cwd=JOBS_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ccmix job server: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
