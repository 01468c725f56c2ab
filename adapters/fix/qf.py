"""quickfix's classes that copytui builds on, as mypy sees them.

quickfix ships no type information, so to mypy its classes are ``Any``, and a class built on
``Any`` would go unchecked (``mypy --strict`` refuses it). Declared here, the subclasses (the
adapter's bridge, the simulator's acceptor, the scrubbed log) are checked like any other class;
at run time these names are quickfix's own classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import quickfix as fix

if TYPE_CHECKING:

    class Application:
        """``quickfix.Application``: a session's callbacks (onLogon, fromApp, ...)."""

    class Log:
        """``quickfix.Log``: one session's message and event log."""

        def __disown__(self) -> None: ...

    class LogFactory:
        """``quickfix.LogFactory``: makes the logs of an initiator's or acceptor's sessions."""

else:
    Application = fix.Application
    Log = fix.Log
    LogFactory = fix.LogFactory

__all__ = ["Application", "Log", "LogFactory"]
