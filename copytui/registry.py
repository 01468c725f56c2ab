"""Brokers are found through the ``copytui.adapters`` entry-point group: each registers its
:class:`adapters.base.AdapterSpec` (options, secrets, simulator, bench hook, what to install), so
a new broker is a new package that registers there, never a change to copytui. An entry point
that names a factory function instead of a spec is taken as a broker with no declarations."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from adapters.base import UNDECLARED_SECRETS, AdapterContext, AdapterFactory, AdapterSpec, BrokerAdapter
from adapters.marketdata import MarketDataSource, MarketDataSpec, SecretLookup, SourceFactory
from copytui.config import AccountConfig, MarketDataConfig

GROUP = "copytui.adapters"


class UnknownBroker(LookupError):
    pass


@functools.cache
def _scan() -> tuple[dict[str, AdapterSpec], dict[str, str]]:
    found: dict[str, AdapterSpec] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        target = ep.value
        if target.endswith(":SPEC") or ".spec:" in target:
            try:
                loaded = ep.load()
            except Exception as exc:  # one broken broker package must not take the others down
                broken[ep.name] = f"{target} fails to load: {type(exc).__name__}: {exc}"
                continue
            if isinstance(loaded, AdapterSpec):
                found[ep.name] = loaded
                continue
        found[ep.name] = AdapterSpec(name=ep.name, factory=target, secrets=UNDECLARED_SECRETS)
    return found, broken


def specs() -> dict[str, AdapterSpec]:
    """Every installed broker's declaration, by name (those whose declaration loads)."""
    return _scan()[0]


def broken() -> dict[str, str]:
    """Brokers registered under the entry point whose declaration fails to load: name -> why."""
    return _scan()[1]


def available() -> dict[str, str]:
    """broker name -> ``module:function`` of its factory."""
    return {name: spec.factory for name, spec in specs().items()}


def spec(broker: str) -> AdapterSpec:
    found = specs().get(broker)
    if found is None and broker in broken():
        raise UnknownBroker(f"broker {broker!r} is installed but broken: {broken()[broker]}")
    if found is None:
        known = ", ".join(sorted(specs())) or "none (is copytui installed? run `pip install -e .`)"
        raise UnknownBroker(f"unknown broker {broker!r}; installed adapters: {known}")
    return found


def factory(broker: str) -> AdapterFactory:
    made: AdapterFactory = AdapterSpec.load(spec(broker).factory)
    return made


def create(account: AccountConfig, ctx: AdapterContext) -> BrokerAdapter:
    return factory(account.broker)(account, ctx)


# ------------------------------------------------------------------ market-data sources
MARKET_GROUP = "copytui.marketdata"


def market_specs() -> dict[str, MarketDataSpec]:
    """Every installed market-data source's declaration (adapters/marketdata.py), by name; one that
    fails to load is left out, as a broken broker is (``market_broken`` says why)."""
    return _scan_market()[0]


def market_broken() -> dict[str, str]:
    return _scan_market()[1]


@functools.cache
def _scan_market() -> tuple[dict[str, MarketDataSpec], dict[str, str]]:
    found: dict[str, MarketDataSpec] = {}
    broken_: dict[str, str] = {}
    for ep in entry_points(group=MARKET_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:
            broken_[ep.name] = f"{ep.value} fails to load: {type(exc).__name__}: {exc}"
            continue
        if isinstance(loaded, MarketDataSpec):
            found[ep.name] = loaded
        else:
            broken_[ep.name] = f"{ep.value} is not a MarketDataSpec"
    return found, broken_


def market_spec(source: str) -> MarketDataSpec:
    found = market_specs().get(source)
    if found is None and source in market_broken():
        raise UnknownBroker(f"market-data source {source!r} is installed but broken: {market_broken()[source]}")
    if found is None:
        known = ", ".join(sorted(market_specs())) or "none"
        raise UnknownBroker(f"unknown market-data source {source!r}; installed sources: {known}")
    return found


def create_market(cfg: MarketDataConfig, secret: SecretLookup) -> MarketDataSource:
    """The configured source; ``secret(field)`` reads its token from the keyring when it connects."""
    factory_: SourceFactory = MarketDataSpec.load(market_spec(cfg.source).factory)
    return factory_(cfg.name, cfg.options, secret)
