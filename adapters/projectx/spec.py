"""What copytui needs to know about the ProjectX Gateway (see adapters.base.AdapterSpec)."""

from adapters.base import AdapterSpec, SecretField

SPEC = AdapterSpec(
    name="projectx",
    factory="adapters.projectx:create_adapter",
    options="adapters.projectx.options:ProjectXOptions",
    secrets=(SecretField("api_key", "ProjectX API key"),),
    simulator="adapters.projectx.simulator:serve",
    bench="adapters.projectx.simulator:bench_accounts",
    summary="ProjectX Gateway (TopstepX and other prop firms)",
)
