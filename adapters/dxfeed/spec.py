"""What copytui needs to know about the dxFeed market-data source (see adapters.marketdata.MarketDataSpec)."""

from adapters.base import SecretField
from adapters.marketdata import MarketDataSpec

SPEC = MarketDataSpec(
    name="dxfeed",
    factory="adapters.dxfeed:create_source",
    options="adapters.dxfeed.options:DxFeedOptions",
    secrets=(SecretField("token", "dxLink token (from your data vendor, e.g. tastytrade's api-quote-tokens)"),),
    simulator="adapters.dxfeed.simulator:serve",
    summary="dxFeed market data over its dxLink WebSocket (quotes and trades of the front-month futures)",
)
