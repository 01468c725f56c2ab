"""One client connection to the simulated DTC server: logon, requests, order requests, heartbeats.

It answers as Sierra Chart's DTC server does with its Encoding setting at JSON: NUL-terminated
JSON messages (the compact ``{"Type":n,"F":[...]}`` form when the simulator is told so), a binary
ENCODING_REQUEST answered in binary, LOGON_RESPONSE with TradingIsSupported as Allow Trading is
set, the trade accounts, open orders, historical fills, positions and balances of the paper
exchange, each list closed by its count (or the "no items" flag when empty). With the simulator
in ``binary`` encoding it stands for a server left at binary: a JSON logon gets binary bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from adapters.sierrachart.sim_orders import AUDITED
from adapters.sierrachart.wire import (
    ENCODING_MESSAGE_SIZE,
    Encoding,
    FrameError,
    Framer,
    LogonResult,
    Msg,
    decode,
    encode,
    encode_compact,
    encoding_message,
    looks_binary,
    parse_encoding_message,
)

if TYPE_CHECKING:
    from adapters.sierrachart.simulator import SierraChartSimulator

log = logging.getLogger("copytui.sim.sierrachart")

DAY_S = 86_400.0


def binary_logoff(reason: str) -> bytes:
    """A LOGOFF in DTC's fixed-length binary encoding: what a binary server's bytes look like."""
    body = reason.encode()[:95].ljust(96, b"\0") + b"\x01"
    return struct.pack("<HH", 4 + len(body), Msg.LOGOFF) + body


class Connection:
    def __init__(self, sim: SierraChartSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sim, self.reader, self.writer = sim, reader, writer
        self.framer = Framer()
        self.logged_on = False
        self.trade_account = ""
        """The logon's TradeAccount: unsolicited messages of that account only ("": every account)."""
        self._beats: asyncio.Task[None] | None = None

    def follows(self, account: str) -> bool:
        return self.logged_on and (not self.trade_account or self.trade_account == account)

    def send(self, msg_type: int, fields: dict[str, Any]) -> None:
        if self.writer.is_closing():
            return
        data = encode_compact(msg_type, fields) if self.sim.compact else encode(msg_type, fields)
        self.writer.write(data)

    def write_raw(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        if self._beats is not None:
            self._beats.cancel()
        self.writer.close()

    # ------------------------------------------------------------ reading
    async def serve(self) -> None:
        try:
            first = await self.reader.read(ENCODING_MESSAGE_SIZE)
            if first and looks_binary(first):
                await self._encoding(first)
                return
            data = first
            while data:
                for frame in self._frames(data):
                    await self._on_frame(frame)
                data = await self.reader.read(65536)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()

    def _frames(self, data: bytes) -> list[bytes]:
        try:
            return self.framer.feed(data)
        except FrameError as exc:
            self.sim.bad_requests.append(str(exc))
            return []

    async def _encoding(self, first: bytes) -> None:
        """A binary ENCODING_REQUEST: answered in binary; on JSON the session then goes on in JSON."""
        data = first + await self.reader.readexactly(max(ENCODING_MESSAGE_SIZE - len(first), 0))
        try:
            parse_encoding_message(data)
        except FrameError as exc:
            self.sim.bad_requests.append(f"binary bytes that are not an ENCODING_REQUEST: {exc}")
            return
        json_ok = self.sim.encoding == "json"
        self.write_raw(encoding_message(Msg.ENCODING_RESPONSE, Encoding.JSON if json_ok else Encoding.BINARY))
        if not json_ok:
            await self.reader.read(65536)  # a binary server would now read binary messages: nothing to say
            return
        data = await self.reader.read(65536)
        while data:
            for frame in self._frames(data):
                await self._on_frame(frame)
            data = await self.reader.read(65536)

    async def _on_frame(self, frame: bytes) -> None:
        if self.sim.encoding == "binary":
            self.write_raw(binary_logoff("this server's encoding is binary"))
            self.close()
            return
        try:
            msg = decode(frame)
        except FrameError as exc:
            self.sim.bad_requests.append(str(exc))
            return
        t = msg["Type"]
        self.sim.received[t] += 1
        self.sim.messages.append({**msg, "Password": "***"} if "Password" in msg else msg)
        if t == Msg.LOGON_REQUEST:
            self._logon(msg)
        elif t == Msg.LOGOFF:
            self.close()
        elif not self.logged_on or t == Msg.HEARTBEAT:
            return
        elif t in AUDITED:
            await self._order_request(msg)
        else:
            handler = self._requests().get(t)
            if handler is not None:
                handler(msg)

    # ------------------------------------------------------------ session
    def _logon(self, msg: dict[str, Any]) -> None:
        sim = self.sim
        user, password = msg.get("Username", ""), msg.get("Password", "")
        if sim.users is not None and sim.users.get(user) != password:
            self.send(Msg.LOGON_RESPONSE, {"ProtocolVersion": 8, "Result": LogonResult.ERROR,
                                           "ResultText": "Invalid username or password"})  # fmt: skip
            return
        self.logged_on = True
        self.trade_account = str(msg.get("TradeAccount") or "")
        answer = {
            "ProtocolVersion": 8, "Result": LogonResult.SUCCESS, "ResultText": "Logon successful",
            "ServerName": "copytui Sierra Chart simulator", "TradingIsSupported": int(sim.allow_trading),
            "OCOOrdersSupported": 1, "OrderCancelReplaceSupported": 1, "SecurityDefinitionsSupported": 0,
            "HistoricalPriceDataSupported": 0, "MarketDepthIsSupported": 0, "BracketOrdersSupported": 1,
            "MarketDataSupported": 0,
        }  # fmt: skip
        self.send(Msg.LOGON_RESPONSE, answer)
        interval = msg.get("HeartbeatIntervalInSeconds")
        if sim.heartbeats and isinstance(interval, int | float) and interval > 0:
            self._beats = asyncio.get_running_loop().create_task(
                self._beat(float(interval)), name="sierrachart-sim-beat"
            )

    async def _beat(self, interval: float) -> None:
        while not self.writer.is_closing():
            await asyncio.sleep(interval)
            if self.sim.heartbeats:
                self.send(Msg.HEARTBEAT, {"NumDroppedMessages": 0, "CurrentDateTime": int(time.time())})

    async def _order_request(self, msg: dict[str, Any]) -> None:
        sim = self.sim
        account = str(msg.get("TradeAccount") or self.trade_account)
        acct = sim.exchange.accounts.get(account)
        if acct is not None and acct.faults.latency_ms:
            await asyncio.sleep(acct.faults.latency_ms / 1000)
        if not sim.allow_trading:
            sim.desk.audit.record(account, AUDITED[msg["Type"]], msg.get("ClientOrderID"), "refused",
                                  "trading is not allowed", {k: v for k, v in msg.items() if k != "Type"})  # fmt: skip
            oco = msg["Type"] == Msg.SUBMIT_NEW_OCO_ORDER
            for key in ("ClientOrderID_1", "ClientOrderID_2") if oco else ("ClientOrderID",):  # one for each order
                self.send(Msg.ORDER_UPDATE, {"ClientOrderID": msg.get(key, ""), "OrderStatus": 9,
                                             "OrderUpdateReason": 8, "InfoText": "Trading is not allowed"})  # fmt: skip
            return
        sim.order_requests.append(msg)
        for msg_type, fields in sim.desk.handle(msg, self.trade_account):
            self.send(msg_type, fields)

    # ------------------------------------------------------------ requests
    def _requests(self) -> dict[int, Callable[[dict[str, Any]], None]]:
        return {
            Msg.TRADE_ACCOUNTS_REQUEST: self._accounts,
            Msg.OPEN_ORDERS_REQUEST: self._open_orders,
            Msg.HISTORICAL_ORDER_FILLS_REQUEST: self._fills,
            Msg.CURRENT_POSITIONS_REQUEST: self._positions,
            Msg.ACCOUNT_BALANCE_REQUEST: self._balance,
        }

    def _accounts_for(self, msg: dict[str, Any], reject: int) -> list[str] | None:
        wanted = str(msg.get("TradeAccount") or "")
        if wanted and wanted not in self.sim.exchange.accounts:
            self.send(reject, {"RequestID": msg.get("RequestID", 0), "RejectText": f"Unknown trade account {wanted}"})
            return None
        return [wanted] if wanted else list(self.sim.accounts)

    def _list(self, msg_type: int, rid: Any, items: list[dict[str, Any]], empty: str, total_key: str) -> None:
        if not items:
            self.send(msg_type, {"RequestID": rid, total_key: 1, "MessageNumber": 1, empty: 1})
            return
        for n, fields in enumerate(items, start=1):
            self.send(msg_type, {"RequestID": rid, total_key: len(items), "MessageNumber": n, **fields})

    def _accounts(self, msg: dict[str, Any]) -> None:
        rid, names = msg.get("RequestID", 0), self.sim.accounts
        for n, name in enumerate(names, start=1):
            self.send(Msg.TRADE_ACCOUNT_RESPONSE, {"TotalNumberMessages": len(names), "MessageNumber": n,
                                                   "TradeAccount": name, "RequestID": rid})  # fmt: skip

    def _open_orders(self, msg: dict[str, Any]) -> None:
        accounts = self._accounts_for(msg, Msg.OPEN_ORDERS_REJECT)
        if accounts is None:
            return
        one = msg.get("ServerOrderID") if msg.get("RequestAllOrders", 1) == 0 else None
        items = [fields for name in accounts for fields in self.sim.desk.open_orders(name, one)]
        self._list(Msg.ORDER_UPDATE, msg.get("RequestID", 0), items, "NoOrders", "TotalNumMessages")

    def _fills(self, msg: dict[str, Any]) -> None:
        accounts = self._accounts_for(msg, Msg.HISTORICAL_ORDER_FILLS_REJECT)
        if accounts is None:
            return
        days = msg.get("NumberOfDays") or 1
        since = max(time.time() - float(days) * DAY_S, float(msg.get("StartDateTime") or 0))
        one = msg.get("ServerOrderID") or None
        items = []
        for name in accounts:
            for rec in self.sim.exchange.accounts[name].fills:
                ev = rec.event
                if ev.wall_ns / 1e9 < since:
                    continue
                assert ev.symbol is not None and ev.side is not None
                sid = self.sim.desk.pairs.server_id(name, ev.order_id, ev.client_order_id)
                if one and sid != one:
                    continue
                items.append({"Symbol": self.sim.contracts[ev.symbol], "Exchange": "CME", "ServerOrderID": sid,
                              "BuySell": 1 if ev.side.value == "buy" else 2, "Price": ev.fill_price,
                              "DateTime": ev.wall_ns // 1_000_000_000, "Quantity": ev.fill_qty,
                              "UniqueExecutionID": ev.fill_id, "TradeAccount": name})  # fmt: skip
        self._list(
            Msg.HISTORICAL_ORDER_FILL_RESPONSE, msg.get("RequestID", 0), items, "NoOrderFills", "TotalNumberMessages"
        )

    def _positions(self, msg: dict[str, Any]) -> None:
        accounts = self._accounts_for(msg, Msg.CURRENT_POSITIONS_REJECT)
        if accounts is None:
            return
        items = []
        for name in accounts:
            for symbol, pos in self.sim.exchange.accounts[name].positions.items():
                if pos.qty:
                    items.append({"Symbol": self.sim.contracts[symbol], "Exchange": "CME", "Quantity": pos.qty,
                                  "AveragePrice": pos.avg_price, "TradeAccount": name, "Unsolicited": 0})  # fmt: skip
        self._list(Msg.POSITION_UPDATE, msg.get("RequestID", 0), items, "NoPositions", "TotalNumberMessages")

    def _balance(self, msg: dict[str, Any]) -> None:
        accounts = self._accounts_for(msg, Msg.ACCOUNT_BALANCE_REJECT)
        if accounts is None:
            return
        balances = {n: self.sim.exchange.accounts[n].balance for n in accounts}
        items = [
            {"CashBalance": b, "BalanceAvailableForNewPositions": b, "AccountCurrency": "USD", "TradeAccount": n}
            for n, b in balances.items()
        ]
        self._list(
            Msg.ACCOUNT_BALANCE_UPDATE, msg.get("RequestID", 0), items, "NoAccountBalances", "TotalNumberMessages"
        )


async def serve_connection(
    sim: SierraChartSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    conn = Connection(sim, reader, writer)
    sim.connections.add(conn)
    try:
        await conn.serve()
    except asyncio.CancelledError:
        pass  # the event loop closing under a running simulator: this connection simply ends
    finally:
        sim.connections.discard(conn)
        with contextlib.suppress(Exception):
            await writer.wait_closed()
