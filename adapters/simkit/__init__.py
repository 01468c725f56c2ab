"""What every broker simulator shares: the paper exchange behind it with its fault switches
(:class:`Faults`), the audit log of every order request received, refused ones too
(:class:`AuditLog`), and the standalone run loop of ``copytui sim`` (:func:`walk_until_stopped`).
A simulator speaks its broker's wire protocol on 127.0.0.1 and is built from these."""

from adapters.paper.exchange import Faults, PaperExchange
from adapters.simkit.audit import AuditEntry, AuditLog
from adapters.simkit.serve import walk_until_stopped

__all__ = ["AuditEntry", "AuditLog", "Faults", "PaperExchange", "walk_until_stopped"]
