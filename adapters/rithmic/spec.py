"""What copytui needs to know about Rithmic (see adapters.base.AdapterSpec)."""

from adapters.base import AdapterSpec, SecretField

SPEC = AdapterSpec(
    name="rithmic",
    factory="adapters.rithmic:create_adapter",
    options="adapters.rithmic.options:RithmicOptions",
    secrets=(SecretField("password", "Rithmic password"),),
    simulator="adapters.rithmic.sim_serve:serve",
    bench="adapters.rithmic.sim_serve:bench_accounts",
    summary="Rithmic R|Protocol (Apex, Topstep, Bulenox and other prop firms)",
)
