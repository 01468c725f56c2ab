"""Wiring: from a Config to a running engine with its adapters, journal and (for the demo) the
paper exchange's price walk and random leader. Shared by the headless runner, the desk and the
benchmark, so all three run exactly the same copy path."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import AdapterContext
from adapters.kit.tasks import TaskGroup
from adapters.paper.exchange import PaperExchange
from copytui import registry
from copytui.config import AccountConfig, Config, MarketDataConfig, data_dir
from copytui.control import ControlServer, Operator, control_path
from copytui.demo import DemoTrader, price_walk
from copytui.engine import Engine
from copytui.instruments import INSTRUMENTS
from copytui.journal import Journal

SecretLookup = Callable[[str], str | None]


@dataclass
class Runtime:
    config: Config
    engine: Engine
    journal: Journal
    exchange: PaperExchange
    traders: list[DemoTrader] = field(default_factory=list)
    """The demo's random traders, one per (paper) leader."""
    tasks: TaskGroup = field(default_factory=TaskGroup)
    walk: bool = True
    feed: Any = None
    """The demo's own dxLink simulator on loopback, quoting its paper exchange (None otherwise)."""
    _trader_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    operator: Operator | None = None
    control: ControlServer | None = None

    async def start(self) -> None:
        if self.feed is not None:
            await self.feed.start()  # before the engine, whose market source dials it
        await self.engine.start()
        self.operator = Operator(self.engine, self.config.followers)
        control = ControlServer(self.operator, control_path(self.journal.path))
        try:
            await control.start()  # `copytui ctl` from another terminal
        except OSError as exc:  # commands from the desk still work; say why the socket did not
            self.engine.raise_alert("warning", "*", "control socket", f"copytui ctl unavailable: {exc}")
        else:
            self.control = control
        if self.walk:
            self.tasks.spawn(price_walk(self.exchange, self.config.paper.tick_interval_s), "price-walk")
        for i, trader in enumerate(self.traders):
            self._trader_tasks.append(self.tasks.spawn(trader.run(), f"demo-trader-{i}"))

    @property
    def trader(self) -> DemoTrader | None:
        """The demo's (first) random trader; None outside the demo."""
        return self.traders[0] if self.traders else None

    async def stop(self, flatten_leader: bool = True) -> None:
        for task in self._trader_tasks:
            task.cancel()
        for trader in self.traders if flatten_leader else ():
            trader.go_flat()
        if self.control is not None:
            await self.control.stop()
        # the market keeps moving while the followers settle: resting remainders still fill
        await self.engine.stop()
        await self.tasks.cancel_all()
        if self.feed is not None:
            await self.feed.stop()
        self.journal.close()


def build_runtime(
    config: Config,
    *,
    demo: bool = False,
    seed: int | None = None,
    journal_path: str | Path | None = None,
    secret_lookup=None,  # type: ignore[no-untyped-def]
    data_root: Path | None = None,
) -> Runtime:
    """``data_root`` (default: the XDG data directory) holds adapter state (FIX session stores);
    given, it holds the follower leases too (the bench's private runs), else they are the host's
    (see ``copytui.engine.lease.host_lease_dir``)."""
    seed = config.paper.seed if seed is None else seed
    exchange = PaperExchange(seed=seed)
    journal = Journal(journal_path or config.journal_path())
    root = data_root or data_dir()

    def context(account: AccountConfig) -> AdapterContext:
        # adapters ask for "ACCOUNT:FIELD" (e.g. "lead:password"); see AdapterContext
        ctx = AdapterContext(paper_exchange=exchange, data_dir=str(root))
        if secret_lookup is not None:
            ctx.secret = secret_lookup
        return ctx

    leaders = [(cfg, registry.create(cfg, context(cfg))) for cfg in config.all_leaders]
    followers = [(f, registry.create(f, context(f))) for f in config.followers]
    feed = None
    if demo and config.market_data is None:
        config, feed, secret_lookup = _demo_feed(config, exchange, secret_lookup)
    market = None
    if config.market_data is not None:
        md = config.market_data
        lookup = secret_lookup or (lambda _key: None)
        market = registry.create_market(md, lambda field: lookup(f"{md.name}:{field}"))
    engine = Engine(
        market=market,
        market_symbols=tuple(config.market_data.symbols or INSTRUMENTS) if config.market_data else (),
        leaders=leaders,
        followers=followers,
        journal=journal,
        reconcile_interval_s=config.reconcile.interval_s,
        reconcile=config.reconcile,
        lease_dir=(data_root / "leases") if data_root else None,  # None: the host's lease folder
    )
    traders = []
    if demo:
        if any(cfg.broker != "paper" for cfg in config.all_leaders):
            raise ValueError("--demo drives each leader with a random trader and needs paper leaders")
        # one random trader per leader, each with a seed of its own
        traders = [DemoTrader(exchange, a.account, seed=seed + i) for i, (_, a) in enumerate(leaders)]
    return Runtime(config=config, engine=engine, journal=journal, exchange=exchange, traders=traders, feed=feed)


def _demo_feed(
    config: Config, exchange: PaperExchange, lookup: SecretLookup | None
) -> tuple[Config, Any, SecretLookup]:
    """The demo's market data: our dxLink simulator on a free loopback port, quoting the demo's own
    paper exchange, with a token made for this run (no keyring). The real dxLink client connects
    to it, so the demo shows slippage against the market and live marks like a configured feed."""
    from adapters.dxfeed.simulator import DxLinkSimulator

    with socket.socket() as probe:  # a free port now, so the config can name it before the feed starts
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_urlsafe(18)
    feed = DxLinkSimulator(exchange, token=token, port=port, watch_s=0.05)
    md = MarketDataConfig(name="demo-feed", source="dxfeed", options={"url": feed.url}, symbols=["ES", "NQ"])

    def with_token(key: str) -> str | None:
        if key == "demo-feed:token":
            return token
        return lookup(key) if lookup is not None else None

    return config.model_copy(update={"market_data": md}), feed, with_token
