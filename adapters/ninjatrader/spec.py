"""What copytui needs to know about NinjaTrader 8 (see adapters.base.AdapterSpec)."""

from adapters.base import AdapterSpec

SPEC = AdapterSpec(
    name="ninjatrader",
    factory="adapters.ninjatrader:create_adapter",
    options="adapters.ninjatrader.options:NinjaTraderOptions",
    secrets=(),  # ATI has no login: whoever can write NinjaTrader's incoming/ folder can trade
    simulator="adapters.ninjatrader.simulator:serve",
    bench="adapters.ninjatrader.simulator:bench_accounts",
    summary="NinjaTrader 8 through ATI order instruction files (incoming/ and outgoing/ folders)",
)
