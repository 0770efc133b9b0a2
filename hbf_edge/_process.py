"""Stopping a child process that may still run (the demo's background precompilation, the bundle
writer's second process)."""

from __future__ import annotations

import subprocess

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM ``process`` if it still runs and wait for it; SIGKILL if it outlives ``timeout``
    seconds (SIGTERM ends Python at once; that is the fallback)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
