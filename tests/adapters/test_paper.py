"""The conformance suite against the in-process paper adapter: the reference every broker matches."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.base import AdapterContext, BrokerAdapter
from adapters.kit.conformance import AdapterConformance, Venue
from adapters.paper import PaperExchange, create_adapter
from copytui.config import AccountConfig


class TestPaperConformance(AdapterConformance):
    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        exchange = PaperExchange(seed=5)

        def make() -> BrokerAdapter:
            return create_adapter(AccountConfig(name="P1", broker="paper"), AdapterContext(paper_exchange=exchange))

        def drop() -> None:
            exchange.drop_streams("P1")

        async with Venue.open(exchange, "P1", make, drop) as v:
            yield v
