"""tastytrade's own ``DXLinkStreamer`` (a maintained dxLink client nobody on copytui wrote) against a
dxLink server, printing every Quote and Trade it parsed.

    COPYTUI_DXFEED_TOKEN=... python check_streamer.py ws://127.0.0.1:PORT/dxlink-ws /ESZ26:XCME ... \
        --quotes 3 [--timeout-s 60]

Runs in a venv of its own with ``tastytrade==13.2.3`` (tests/outside/dxfeed/requirements.txt). The
streamer asks its ``Session`` for the dxLink URL and token (``GET /api-quote-tokens``, tastytrade's
REST login, not the dxLink wire): a stand-in session answers that one call with the URL and the
token given here, so everything on the WebSocket is the SDK's own. It subscribes to Quote and
Trade of the symbols and prints each event as one JSON line, ``{"event": "Quote", ...}`` with the
event's fields under dxFeed's names, as the SDK parsed them (prices as decimal strings).

Exit 0 after ``--quotes`` Quote events; 1 when they did not come within ``--timeout-s`` or the
streamer failed (the reason on stderr); 2 when tastytrade is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

try:
    from tastytrade import DXLinkStreamer
    from tastytrade.dxfeed import Quote, Trade
except ImportError as exc:  # pragma: no cover - the venv is made by tests/run.sh
    print(f"tastytrade is not installed here ({exc}): pip install -r tests/outside/dxfeed/requirements.txt",
          file=sys.stderr)  # fmt: skip
    sys.exit(2)


class StandInSession:
    """What DXLinkStreamer reads of a tastytrade Session: ``_get("/api-quote-tokens")`` and
    ``client_kwargs`` (the keyword arguments of its httpx2 client)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.client_kwargs: dict[str, Any] = {}

    async def _get(self, path: str, **_kw: Any) -> dict[str, Any]:
        if path != "/api-quote-tokens":
            raise AssertionError(f"DXLinkStreamer asked the session for {path}, not /api-quote-tokens")
        return {"dxlink-url": self.url, "token": self.token, "level": "api"}


async def _print_events(streamer: DXLinkStreamer, kind: type[Quote] | type[Trade], left: list[int]) -> None:
    async for event in streamer.listen(kind):
        print(json.dumps({"event": kind.__name__, **event.model_dump(mode="json", by_alias=True)}), flush=True)
        if kind is Quote:
            left[0] -= 1


async def run(url: str, token: str, symbols: list[str], quotes: int) -> None:
    left = [quotes]
    async with DXLinkStreamer(StandInSession(url, token)) as streamer:  # type: ignore[arg-type]
        await streamer.subscribe(Quote, symbols)
        await streamer.subscribe(Trade, symbols)
        tasks = [asyncio.ensure_future(_print_events(streamer, kind, left)) for kind in (Quote, Trade)]
        try:
            while left[0] > 0:
                await asyncio.sleep(0.01)
        finally:
            for task in tasks:
                task.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("symbols", nargs="+")
    parser.add_argument("--quotes", type=int, default=1, help="exit after this many Quote events")
    parser.add_argument("--timeout-s", type=float, default=60.0)
    args = parser.parse_args()
    token = os.environ.get("COPYTUI_DXFEED_TOKEN", "")
    if not token:
        print("COPYTUI_DXFEED_TOKEN is not set: the token the dxLink server accepts", file=sys.stderr)
        return 1
    try:
        asyncio.run(asyncio.wait_for(run(args.url, token, args.symbols, args.quotes), args.timeout_s))
    except TimeoutError:
        print(f"fewer than {args.quotes} Quote events within {args.timeout_s:g}s", file=sys.stderr)
        return 1
    except Exception as exc:  # the SDK's own failure, said for the test to show
        print(f"DXLinkStreamer failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
