"""R|Protocol's enum values copytui writes and reads (numbers of Rithmic's ``.proto`` files as
async-rithmic 1.6.6 ships them; tests/outside/rithmic/check_client.py compares each member)."""

from __future__ import annotations

import enum


class InfraType(enum.IntEnum):
    """RequestLogin.SysInfraType: which plant a connection logs into."""

    TICKER_PLANT = 1
    ORDER_PLANT = 2
    HISTORY_PLANT = 3
    PNL_PLANT = 4
    REPOSITORY_PLANT = 5


class TransactionType(enum.IntEnum):
    BUY = 1
    SELL = 2


class NotifiedTransactionType(enum.IntEnum):
    """A notification's transaction type: a short sell is a sell too."""

    BUY = 1
    SELL = 2
    SS = 3


class PriceType(enum.IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP_MARKET = 4


class Duration(enum.IntEnum):
    DAY = 1
    GTC = 2
    IOC = 3
    FOK = 4


class OrderPlacement(enum.IntEnum):
    """``manual_or_auto``: Rithmic asks every order to say whether a person or a program sent it."""

    MANUAL = 1
    AUTO = 2


class UserType(enum.IntEnum):
    """ResponseLoginInfo.UserType (RequestAccountList's enum numbers the same values)."""

    ADMIN = 0
    FCM = 1
    IB = 2
    TRADER = 3


class OrderNotify(enum.IntEnum):
    """RithmicOrderNotification.NotifyType."""

    ORDER_RCVD_FROM_CLNT = 1
    MODIFY_RCVD_FROM_CLNT = 2
    CANCEL_RCVD_FROM_CLNT = 3
    OPEN_PENDING = 4
    MODIFY_PENDING = 5
    CANCEL_PENDING = 6
    ORDER_RCVD_BY_EXCH_GTWY = 7
    MODIFY_RCVD_BY_EXCH_GTWY = 8
    CANCEL_RCVD_BY_EXCH_GTWY = 9
    ORDER_SENT_TO_EXCH = 10
    MODIFY_SENT_TO_EXCH = 11
    CANCEL_SENT_TO_EXCH = 12
    OPEN = 13
    MODIFIED = 14
    COMPLETE = 15
    MODIFICATION_FAILED = 16
    CANCELLATION_FAILED = 17
    TRIGGER_PENDING = 18
    GENERIC = 19
    LINK_ORDERS_FAILED = 20


class ExchangeNotify(enum.IntEnum):
    """ExchangeOrderNotification.NotifyType."""

    STATUS = 1
    MODIFY = 2
    CANCEL = 3
    TRIGGER = 4
    FILL = 5
    REJECT = 6
    NOT_MODIFIED = 7
    NOT_CANCELLED = 8
    GENERIC = 9


class BracketType(enum.IntEnum):
    """RequestBracketOrder.BracketType, which the order notifications (351/352) repeat: which legs a
    bracket has. What ``_STATIC`` changes at Rithmic is not documented publicly."""

    STOP_ONLY = 1
    TARGET_ONLY = 2
    TARGET_AND_STOP = 3
    STOP_ONLY_STATIC = 4
    TARGET_ONLY_STATIC = 5
    TARGET_AND_STOP_STATIC = 6


TWO_LEGGED = frozenset({BracketType.TARGET_AND_STOP, BracketType.TARGET_AND_STOP_STATIC})
"""The bracket types whose stop and target are one OCO pair."""


class PnlRequest(enum.IntEnum):
    """RequestPnLPositionUpdates.Request."""

    SUBSCRIBE = 1
    UNSUBSCRIBE = 2
