"""The quickfix SessionSettings of the adapter's initiator and of the simulator's acceptor."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import quickfix as fix

from adapters.fix.session_config import FixAccount


def session_id(o: FixAccount) -> fix.SessionID:
    return fix.SessionID(o.begin_string, o.sender_comp_id, o.target_comp_id)


def _schedule(d: fix.Dictionary, start: str | None, end: str | None) -> None:
    if start and end:
        d.setString("StartTime", start)
        d.setString("EndTime", end)
    else:
        d.setString("StartTime", "00:00:00")
        d.setString("EndTime", "00:00:00")
        d.setString("NonStopSession", "Y")


def initiator_settings(sessions: Sequence[tuple[FixAccount, Path]]) -> fix.SessionSettings:
    """One initiator for ``sessions`` (each account with its store directory): a [SESSION] each, with
    its own store, address, schedule and timeouts; they share quickfix's reconnect interval (the
    shortest asked for).

    Outgoing messages are not persisted: copytui never lets quickfix resend an order late (a resend
    request is answered with a gap fill), and so the Logon with its password never lands in the
    store either."""
    defaults = fix.Dictionary()
    defaults.setString("ConnectionType", "initiator")
    defaults.setString("PersistMessages", "N")
    defaults.setString("SocketNodelay", "Y")
    defaults.setInt("ReconnectInterval", min(o.reconnect_interval for o, _ in sessions))
    settings = fix.SessionSettings()
    settings.set(defaults)
    for o, store_dir in sessions:
        session = fix.Dictionary()
        session.setString("FileStorePath", str(store_dir))
        session.setInt("LogonTimeout", max(1, int(o.logon_timeout_s)))
        session.setInt("LogoutTimeout", 2)
        _schedule(session, o.start_time, o.end_time)
        if o.data_dictionary:
            session.setString("UseDataDictionary", "Y")
            session.setString("DataDictionary", o.data_dictionary)
            session.setString("AllowUnknownMsgFields", "Y")
            session.setString("ValidateUserDefinedFields", "N")
        else:
            session.setString("UseDataDictionary", "N")
        session.setString("SocketConnectHost", o.host)
        session.setInt("SocketConnectPort", o.port)
        session.setInt("HeartBtInt", o.heartbeat_interval)
        session.setString("ResetOnLogon", "Y" if o.reset_on_logon else "N")
        settings.set(session_id(o), session)
    return settings


def acceptor_settings(
    port: int, sessions: list[fix.SessionID], store_dir: Path, *, allowed: str = "127.0.0.1"
) -> fix.SessionSettings:
    """Acceptor sessions that keep what they send, so a client's resend request gets real resends.

    quickfix's acceptor binds every interface (it has no listen-address setting); sessions are
    restricted to peers at ``allowed`` (AllowedRemoteAddresses), loopback by default."""
    defaults = fix.Dictionary()
    defaults.setString("ConnectionType", "acceptor")
    defaults.setInt("SocketAcceptPort", port)
    defaults.setString("AllowedRemoteAddresses", allowed)
    defaults.setString("SocketReuseAddress", "Y")
    defaults.setString("SocketNodelay", "Y")
    defaults.setString("FileStorePath", str(store_dir))
    defaults.setString("PersistMessages", "Y")
    defaults.setString("UseDataDictionary", "N")
    _schedule(defaults, None, None)
    settings = fix.SessionSettings()
    settings.set(defaults)
    for sid in sessions:
        settings.set(sid, fix.Dictionary())
    return settings
