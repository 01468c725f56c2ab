"""A paper account's ``options:`` (see adapters.kit.options)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PaperOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    native_oco: bool = False
    """As a follower in ``mirror`` mode: a leader bracket's two legs, announced together, go to the
    paper exchange as one OCO pair, which then cancels the other leg itself when one fills (as a
    broker with ``placeOCO`` or DTC's OCO order would). Off: copytui keeps the pair itself."""
