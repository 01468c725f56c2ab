"""What copytui needs to know about Tradovate (see adapters.base.AdapterSpec)."""

from adapters.base import AdapterSpec, SecretField

SPEC = AdapterSpec(
    name="tradovate",
    factory="adapters.tradovate:create_adapter",
    options="adapters.tradovate.settings:TradovateOptions",
    secrets=(SecretField("password", "Tradovate password"), SecretField("sec", "Tradovate API secret (sec)")),
    simulator="adapters.tradovate.simulator:serve",
    bench="adapters.tradovate.simulator:bench_accounts",
    summary="Tradovate REST and WebSocket API",
)
