"""Real processes in tests (gunicorn, the worker): start, wait for, stop — always as a process group."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scheduler.app import PROJECT_ROOT

# A new Python process imports the whole app before it serves; on a busy two-core machine that alone
# has taken over 20 s. Waits that include a start-up allow this much (a bound, not an expectation).
STARTUP_SECONDS = 60.0


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy and return it; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout:.0f} s")


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start in its own session, so that stopping it reaches its children (gunicorn's workers)."""
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (gunicorn's workers, huey's threads), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def wait_until_serving(url: str, process: subprocess.Popen[bytes], logs: list[Path],
                       timeout: float = STARTUP_SECONDS) -> None:
    """Wait for ``/healthz`` to answer 200; if the server dies first, fail with its logs."""

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError("the server exited:\n" + "\n".join(p.read_text(errors="replace") for p in logs))
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    wait_for(answers, timeout, f"{url}/healthz answering")


def race(clients: int, request: Callable[[int], Any], timeout: float = 120.0) -> list[Any]:
    """Run ``request(n)`` for n in 0..clients-1 on as many threads, released together by a barrier.

    Returns each client's answer or the exception it raised, in client order; fails the test if a
    client hangs.
    """
    barrier = threading.Barrier(clients)
    results: list[Any] = [RuntimeError("not run")] * clients

    def client(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[n] = request(n)
        except BaseException as exc:  # the caller sees it among the answers
            results[n] = exc

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return results
