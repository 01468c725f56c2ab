"""The one place where a failed worker (engine start, flatten, reconcile, reports) reaches the trader."""

from __future__ import annotations

import logging

from textual.app import App
from textual.worker import Worker, WorkerState

log = logging.getLogger("copytui.tui")


def report_failure(app: App[object], event: Worker.StateChanged) -> bool:
    """Toast a failed worker's error in one line. True when the worker failed."""
    if event.state is not WorkerState.ERROR:
        return False
    worker = event.worker
    err = worker.error
    log.error("worker %s failed: %s", worker.name, err, exc_info=err)
    app.notify(f"{worker.name}: {err}", title="failed", severity="error", timeout=15)
    return True
