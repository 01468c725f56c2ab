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
