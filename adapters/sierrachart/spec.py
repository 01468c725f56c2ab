"""What copytui needs to know about Sierra Chart (see adapters.base.AdapterSpec)."""

from adapters.base import AdapterSpec, SecretField

SPEC = AdapterSpec(
    name="sierrachart",
    factory="adapters.sierrachart:create_adapter",
    options="adapters.sierrachart.options:SierraChartOptions",
    secrets=(
        SecretField("password", "DTC server password (Enter to skip when the server asks for none)", required=False),
    ),
    simulator="adapters.sierrachart.simulator:serve",
    bench="adapters.sierrachart.simulator:bench_accounts",
    summary="Sierra Chart through its DTC protocol server (JSON encoding)",
)
