"""FIX 4.2 / 4.4 (Quantower and other FIX gateways): a quickfix initiator adapter and a quickfix
acceptor simulator over the paper exchange. See the README's FIX section and
:mod:`adapters.fix.session_config` for the account options."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.base import AdapterContext, BrokerAdapter

if TYPE_CHECKING:
    from adapters.fix.client import FixAdapter
    from adapters.fix.session_config import FixAccount, FixConfigError, FixOptions, parse_options

__all__ = ["FixAccount", "FixAdapter", "FixConfigError", "FixOptions", "create_adapter", "parse_options"]

_LAZY = {
    "FixAdapter": "adapters.fix.client",
    "FixAccount": "adapters.fix.session_config",
    "FixConfigError": "adapters.fix.session_config",
    "FixOptions": "adapters.fix.session_config",
    "parse_options": "adapters.fix.session_config",
}


def __getattr__(name: str) -> Any:
    """The quickfix-backed parts load on first use, so that ``adapters.fix.spec`` (what copytui
    reads to list brokers and to tell how to install quickfix) imports without quickfix."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


def session_dir(ctx: AdapterContext, opts: FixAccount) -> Path:
    """Where the session's sequence numbers and message log live: under copytui's data directory
    (a temporary one when none was given, so sequence numbers then start anew each run)."""
    base = Path(ctx.data_dir).expanduser() if ctx.data_dir else Path(tempfile.mkdtemp(prefix="copytui-fix-"))
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{opts.name}-{opts.sender_comp_id}-{opts.target_comp_id}")
    return base / "fix" / safe


def create_adapter(account: Any, ctx: AdapterContext) -> BrokerAdapter:
    """The factory of broker ``fix`` (adapters/fix/spec.py)."""
    from adapters.fix.client import FixAdapter
    from adapters.fix.session_config import parse_options

    opts = parse_options(account)
    name = account.name

    def password() -> str | None:
        # credentials.make_lookup resolves NAME:FIELD; the first field (password) is also NAME
        return ctx.secret(f"{name}:password") or ctx.secret(name)

    return FixAdapter(opts, account=account.account_id or name, data_dir=session_dir(ctx, opts), secret=password)
