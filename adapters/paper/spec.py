"""What copytui needs to know about the paper broker (see adapters.base.AdapterSpec)."""

from adapters.base import AdapterSpec, SecretField

SPEC = AdapterSpec(
    name="paper",
    factory="adapters.paper:create_adapter",
    options="adapters.paper.options:PaperOptions",
    # paper needs nothing, but takes an optional secret so that the whole keyring path (prompt,
    # stdin, storage, lookup, redaction) can be tried without a broker
    secrets=(SecretField("password", "paper password (optional, Enter to skip)", required=False),),
    summary="the in-process paper exchange",
)
