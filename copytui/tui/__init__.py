"""The trader's desk (Textual): `copytui run` without --headless. See README, "The desk"."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from copytui.config import Config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """While the desk owns the terminal, log records go to a private file instead of stderr
    (a line on stderr would tear the screen). Filters of the replaced handlers are kept."""
    from copytui.journal import create_private_file

    create_private_file(path)
    root = logging.getLogger()
    old = root.handlers[:]
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for h in old:
        for f in h.filters:
            handler.addFilter(f)
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = old
        handler.close()


def run_desk(cfg: Config, *, demo: bool, seed: int | None, journal_path: Path, duration: float | None) -> None:
    """Build the runtime, run the desk until the trader quits (or ``duration`` passes), then stop it."""
    from copytui.cli import START_FAILURES, SecretsSeen, secret_holders, start_failure
    from copytui.engine.lease import LeaseHeld
    from copytui.journal import JournalError
    from copytui.runtime import build_runtime
    from copytui.tui.app import CopyDeskApp
    from copytui.tui.bridge import EngineThread

    try:
        secrets = SecretsSeen(secret_holders(cfg))  # adapters and market data read secrets from the OS keyring
        runtime = build_runtime(cfg, demo=demo, seed=seed, journal_path=journal_path, secret_lookup=secrets)
    except (JournalError, ValueError, LookupError) as exc:
        raise SystemExit(f"error: {exc}") from None

    async def main() -> int:
        bridge = EngineThread(runtime)  # the engine's own thread: the desk's frames never hold up a copy
        try:
            # before the desk opens: a refused lease is a plain message, not a toast
            await asyncio.wrap_future(bridge.start())
        except LeaseHeld as exc:
            await asyncio.wrap_future(bridge.run(runtime.engine.stop, False))
            await asyncio.to_thread(bridge.stop, stop_runtime=False)
            raise SystemExit(f"error: {exc}") from None
        except START_FAILURES as exc:
            # an account could not log in or connect: one line naming it and the fix, before the desk opens
            await asyncio.wrap_future(bridge.run(runtime.stop, False))
            await asyncio.to_thread(bridge.stop, stop_runtime=False)
            print(f"error: {start_failure(exc, runtime, secrets)}", file=sys.stderr)
            raise SystemExit(3) from None
        except BaseException:
            await asyncio.to_thread(bridge.stop)
            raise
        app = CopyDeskApp(runtime, journal_path=journal_path, duration=duration, bridge=bridge)
        try:
            await app.run_async()
        finally:
            await app.stop_runtime()  # ctrl+q or a crash: still stop the engine cleanly
        return app.return_code or 0

    log_path = Path(journal_path).expanduser().parent / "desk.log"
    with log_to_file(log_path):
        size_before = log_path.stat().st_size
        code = asyncio.run(main())
    print(f"copytui: journal {journal_path} (see `copytui journal summary --journal {journal_path}`)")
    if log_path.stat().st_size > size_before:
        print(f"copytui: warnings and errors of this session are in {log_path}")
    if code:
        raise SystemExit(code)
