"""Where the FIX simulator's reports go, and the faults played on the way.

An account's execution reports go to every session that sent an order for it, to the session whose
client CompID equals the account name, and to drop-copy sessions named in ``watch`` (client CompID
-> account, ``*`` for all accounts); only to sessions that logged on once (sent while logged out,
a report is kept in the store, and the client gets it by a resend request).

Faults on a session: drop it after N more reports (:meth:`FixSimulator.drop_after`) or at random
(``drop_prob``), send reports twice with PossDupFlag=Y (:meth:`FixSimulator.duplicate_next`), leave
tags out of them (:meth:`FixSimulator.strip_next`).
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field

import quickfix as fix

from adapters.fix import wire as w

log = logging.getLogger("adapters.fix.simulator")


@dataclass
class Route:
    session: fix.SessionID
    client: str
    begin: str
    accounts: set[str] = field(default_factory=set)
    reports: int = 0
    drop_after: int | None = None
    seen_logon: bool = False
    duplicate: int = 0  # the next N execution reports go out twice, the copy with PossDupFlag=Y
    strip: tuple[int, ...] = ()  # tags left out of the next ``strip_left`` execution reports
    strip_left: int = 0


class Delivery:
    """The simulator's sessions, by SessionID string. Called with the exchange's lock held."""

    def __init__(
        self,
        comp_id: str,
        clients: tuple[str, ...],
        versions: tuple[str, ...],
        watch: dict[str, str],
        drop_prob: float,
        seed: int,
    ) -> None:
        self.watch = watch
        self.drop_prob = drop_prob
        self.routes: dict[str, Route] = {}
        for version in versions:
            for client in clients:
                sid = fix.SessionID(version, comp_id, client)
                self.routes[sid.toString()] = Route(sid, client, version)
        self.drops = 0
        self.duplicates_sent = 0
        self.resending = threading.local()
        """``.orig_sending_time`` of the report this thread sends again (read by the acceptor's toApp)."""
        self._rng = random.Random(seed)

    def of(self, session_id: fix.SessionID) -> Route:
        return self.routes[session_id.toString()]

    def of_client(self, client: str | None) -> list[Route]:
        """The sessions of ``client`` (every session for None)."""
        return [r for r in self.routes.values() if client is None or r.client == client]

    def targets(self, account: str) -> list[Route]:
        """The sessions that get ``account``'s reports."""
        out = []
        for r in self.routes.values():
            watched = self.watch.get(r.client)
            if r.seen_logon and (account in r.accounts or r.client == account or watched in ("*", account)):
                out.append(r)
        return out

    def send(self, r: Route, m: fix.Message, report: bool = False) -> None:
        """Send ``m`` on ``r``'s session; an execution report (``report``) passes the session's faults."""
        if report and r.strip_left > 0:
            r.strip_left -= 1
            for tag in r.strip:
                m.removeField(tag)
        # sent while logged out, a message is only stored: the client gets it by a resend request
        fix.Session.sendToTarget(m, r.session)
        if not report:
            return
        if r.duplicate > 0:
            r.duplicate -= 1
            self._send_again(r, m)
        r.reports += 1
        due = r.drop_after is not None and r.reports >= r.drop_after
        if due or (self.drop_prob and self._rng.random() < self.drop_prob):
            r.drop_after = None
            self.drop(r)

    def _send_again(self, r: Route, sent: fix.Message) -> None:
        # quickfix filled in the header of ``sent``: its SendingTime is the original's. toApp, called
        # on this thread inside sendToTarget, flags the copy
        self.resending.orig_sending_time = sent.getHeader().getField(w.SENDING_TIME)
        try:
            fix.Session.sendToTarget(fix.Message(sent), r.session)
        finally:
            self.resending.orig_sending_time = None
        self.duplicates_sent += 1

    def drop(self, r: Route) -> bool:
        """Drop ``r``'s session now if it is logged on, without a Logout (fault injection).

        Safe from any thread with the threaded acceptor: it shuts the socket down, which wakes the
        connection's own thread."""
        session = fix.Session.lookupSession(r.session)
        if session is None or not session.isLoggedOn():
            return False
        self.drops += 1
        log.info("FIX simulator: dropping %s (fault injection)", r.client)
        session.disconnect()
        return True

    def logged_on(self, client: str) -> bool:
        for r in self.of_client(client):
            session = fix.Session.lookupSession(r.session)
            if session is not None and session.isLoggedOn():
                return True
        return False
