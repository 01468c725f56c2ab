"""Adapters are found through the ``copytui.adapters`` entry-point group: a new broker is a new
package that registers there, never a change to copytui."""

from __future__ import annotations

from importlib.metadata import entry_points

from adapters.base import AdapterContext, AdapterFactory, BrokerAdapter
from copytui.config import AccountConfig

GROUP = "copytui.adapters"


class UnknownBroker(LookupError):
    pass


def available() -> dict[str, str]:
    """broker name -> ``module:function`` of its factory."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def factory(broker: str) -> AdapterFactory:
    for ep in entry_points(group=GROUP):
        if ep.name == broker:
            loaded: AdapterFactory = ep.load()
            return loaded
    known = ", ".join(sorted(available())) or "none (is copytui installed? run `pip install -e .`)"
    raise UnknownBroker(f"unknown broker {broker!r}; installed adapters: {known}")


def create(account: AccountConfig, ctx: AdapterContext) -> BrokerAdapter:
    return factory(account.broker)(account, ctx)
