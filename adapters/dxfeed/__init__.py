"""dxFeed market data over the dxLink WebSocket: quotes for slippage against the market and marks.

Config of a market-data source (the token lives in the keyring, field ``token``)::

    market_data:
      name: dx
      source: dxfeed
      options:
        url: wss://demo.dxfeed.com/dxlink-ws
        stale_after_ms: 5000
        symbols: {MES: /ESZ26:XCME}      # only where the automatic front month is not wanted

The options are :class:`adapters.dxfeed.options.DxFeedOptions`; symbols map by
:mod:`adapters.dxfeed.symbols`; ``python -m adapters.dxfeed.simulator`` serves dxLink on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.dxfeed.client import DxLinkSource
from adapters.dxfeed.options import DxFeedOptions, parse_options
from adapters.marketdata import SecretLookup

__all__ = ["DxFeedOptions", "DxLinkSource", "create_source"]


def create_source(name: str, options: Mapping[str, Any] | None, secret: SecretLookup) -> DxLinkSource:
    """Entry point of the ``copytui.marketdata`` group for source ``dxfeed``. ``secret("token")`` is
    read at each connection, never kept in the config."""
    return DxLinkSource(name, parse_options(name, options), lambda: secret("token"))
