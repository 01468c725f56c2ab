"""What copytui needs to know about FIX gateways (see adapters.base.AdapterSpec). Importing this
needs no quickfix: doctor reads ``requires`` to say how to install it."""

from adapters.base import AdapterSpec, SecretField

SPEC = AdapterSpec(
    name="fix",
    factory="adapters.fix:create_adapter",
    options="adapters.fix.session_config:FixOptions",
    secrets=(SecretField("password", "FIX logon password (tag 554)"),),
    simulator="adapters.fix.simulator:serve",
    bench="adapters.fix.simulator:bench_accounts",
    requires=(("quickfix", "pip install 'copytui[fix]'  (builds QuickFIX: several minutes the first time)"),),
    summary="FIX 4.2 / 4.4 gateways (Quantower and others), through quickfix",
)
