"""The paper exchange behind the FIX simulator, safe to drive from several threads at once."""

from __future__ import annotations

import functools
import threading
from typing import Any

from adapters.simkit import PaperExchange


class LockedExchange(PaperExchange):
    """A paper exchange that quickfix's threads, a price walk and a test may all drive: every
    method that moves it holds :attr:`lock` (re-entrant, so the simulator can hold it around a
    whole request)."""

    def __init__(self, seed: int = 0, **kw: Any) -> None:
        super().__init__(seed=seed, **kw)
        self.lock = threading.RLock()


def _locked(name: str) -> Any:
    base = getattr(PaperExchange, name)

    @functools.wraps(base)
    def method(self: LockedExchange, *args: Any, **kw: Any) -> Any:
        with self.lock:
            return base(self, *args, **kw)

    return method


for _name in ("step", "set_price", "account", "listen", "submit", "modify", "cancel", "flatten", "fill", "flush_held"):
    if hasattr(PaperExchange, _name):
        setattr(LockedExchange, _name, _locked(_name))
