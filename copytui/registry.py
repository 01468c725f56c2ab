"""Brokers are found through the ``copytui.adapters`` entry-point group: each registers its
:class:`adapters.base.AdapterSpec` (options, secrets, simulator, bench hook, what to install), so
a new broker is a new package that registers there, never a change to copytui. An entry point
that names a factory function instead of a spec is taken as a broker with no declarations."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from adapters.base import UNDECLARED_SECRETS, AdapterContext, AdapterFactory, AdapterSpec, BrokerAdapter
from copytui.config import AccountConfig

GROUP = "copytui.adapters"


class UnknownBroker(LookupError):
    pass


@functools.cache
def specs() -> dict[str, AdapterSpec]:
    """Every installed broker's declaration, by name."""
    found: dict[str, AdapterSpec] = {}
    for ep in entry_points(group=GROUP):
        target = ep.value
        if target.endswith(":SPEC") or ".spec:" in target:
            loaded = ep.load()
            if isinstance(loaded, AdapterSpec):
                found[ep.name] = loaded
                continue
        found[ep.name] = AdapterSpec(name=ep.name, factory=target, secrets=UNDECLARED_SECRETS)
    return found


def available() -> dict[str, str]:
    """broker name -> ``module:function`` of its factory."""
    return {name: spec.factory for name, spec in specs().items()}


def spec(broker: str) -> AdapterSpec:
    found = specs().get(broker)
    if found is None:
        known = ", ".join(sorted(specs())) or "none (is copytui installed? run `pip install -e .`)"
        raise UnknownBroker(f"unknown broker {broker!r}; installed adapters: {known}")
    return found


def factory(broker: str) -> AdapterFactory:
    made: AdapterFactory = AdapterSpec.load(spec(broker).factory)
    return made


def create(account: AccountConfig, ctx: AdapterContext) -> BrokerAdapter:
    return factory(account.broker)(account, ctx)
