"""What copytui needs to know about the MetaTrader bridge (see adapters.base.AdapterSpec)."""

from adapters.base import AdapterSpec, SecretField

SPEC = AdapterSpec(
    name="mt",
    factory="adapters.mt:create_adapter",
    options="adapters.mt.options:MtOptions",
    secrets=(SecretField("token", "bridge token (the same text goes in the EA's Token input)"),),
    simulator="adapters.mt.simulator:serve",
    bench="adapters.mt.simulator:bench_accounts",
    summary="MetaTrader 4 / 5 through the copytui bridge EA",
)
