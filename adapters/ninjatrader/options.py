"""The ``options:`` of a NinjaTrader account, checked once when the adapter is made.

:class:`NinjaTraderOptions` is what ``adapters.ninjatrader.spec`` declares: snake_case keys, unknown
keys refused with the list of the known ones. ``folder`` is the one required key: NinjaTrader 8's
documents folder, the one holding ``incoming/`` and ``outgoing/``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from adapters.kit.options import read_options
from adapters.ninjatrader.contracts import ContractError, parse_overrides


def _positive(value: Any) -> Any:
    # said here rather than by pydantic so that a bool (YAML `yes`) is refused as a number too
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return float(value)


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


Positive = Annotated[float, BeforeValidator(_positive)]
Flag = Annotated[bool, BeforeValidator(_flag)]


class NinjaTraderOptions(BaseModel):
    """``options:`` of a NinjaTrader 8 account (``folder`` required; unknown keys are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    folder: str
    """NinjaTrader 8's documents folder (``Documents/NinjaTrader 8``), holding ``incoming/`` and
    ``outgoing/``: the box's own folder, or the Windows share of it mounted on this box."""
    instruments: str | None = None
    """Contracts per symbol ("ES=ES 12-26, CL=CL 02-27") instead of the built-in roll rule."""
    connection: str | None = None
    """The NinjaTrader connection whose ``outgoing/<connection>.txt`` (CONNECTED / DISCONNECTED)
    says whether orders can flow; unset: connection files are only shown."""
    stop_market_type: Literal["STOPMARKET", "STOP"] = "STOPMARKET"
    """The ORDER TYPE word for a stop-market order (NT8 says STOPMARKET, older ATI pages STOP)."""
    flatten_everything: Flag = False
    """flatten() sends FLATTENEVERYTHING (every account and connection of this NinjaTrader!) instead
    of CLOSEPOSITION per instrument of this account. Only when NinjaTrader runs this account alone."""
    pickup_timeout_s: Positive = 5.0
    """How long NinjaTrader may take to answer an order file before copytui takes the file back
    (not sent) or, when NinjaTrader already took it, calls the outcome ambiguous."""
    settle_s: Positive = 0.5
    """How long a position change may wait for the order state file that explains it before it is
    reported as a fill of its own (a trade by hand, a strategy's order)."""
    watch: Literal["auto", "inotify", "poll"] = "auto"
    """How ``outgoing/`` is watched: inotify (Linux, a local folder), a poll (a mounted Windows
    share, where inotify sees nothing written by the other side), or auto (inotify when it can)."""
    poll_interval_s: Positive = 0.02
    """Between two looks at the folders when polling."""
    native_oco: Flag = False
    """Mirror mode: link a copied bracket's legs with NinjaTrader's own OCO ID, so NinjaTrader cancels
    the other leg the instant one fills. Off by default: NinjaTrader's OCO also cancels the other leg
    when one is *cancelled*, so a leader that cancels only its target would leave the follower
    without its stop. Off, copytui keeps the OCO itself (a leg's fill cancels or shrinks the other)."""

    @field_validator("instruments")
    @classmethod
    def _instruments_parse(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_overrides(value)
            except ContractError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("folder")
    @classmethod
    def _folder_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name NinjaTrader 8's documents folder (the one with incoming/ and outgoing/)")
        return value

    def instrument_overrides(self) -> dict[str, str]:
        return parse_overrides(self.instruments) if self.instruments else {}


def parse_options(account: Any) -> NinjaTraderOptions:
    """The account's options, or ValueError with one line naming the account and the key."""
    return read_options(
        NinjaTraderOptions,
        account,
        "NinjaTrader",
        required={
            "folder": "NinjaTrader 8's documents folder, e.g. options: {folder: /mnt/nt8} "
            "(see the README's NinjaTrader section)"
        },
    )
