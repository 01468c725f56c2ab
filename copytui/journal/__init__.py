"""The journal: the only code in copytui that speaks SQL.

- :mod:`~copytui.journal.schema`: the file (private to its owner), its tables and migrations.
- :mod:`~copytui.journal.store`: :class:`Journal`, the write path of the copy path and the engine.
- :mod:`~copytui.journal.restore`: the rows a restart rebuilds the engine from, decoded.
- :mod:`~copytui.journal.reports`, :mod:`~copytui.journal.summary`: what the desk and
  ``copytui journal summary`` read, on read-only connections of their own.
- :mod:`~copytui.journal.timings`: what the benchmark measures in a live journal.
- :mod:`~copytui.journal.stats`: the percentile every report uses.
"""

from copytui.journal.reports import (
    PNL_FILLS_SQL,
    REPORT_COLUMNS,
    REPORT_KEYS,
    JournaledAlert,
    ReportValue,
    alert_history,
    matching_orders,
    realised_pnl,
    report_rows,
)
from copytui.journal.restore import (
    LEADER_ORDER_KINDS,
    LIVE_STATUSES,
    JournaledIntent,
    JournaledSignal,
    RestartState,
)
from copytui.journal.schema import SCHEMA_VERSION, JournalError, create_private_file
from copytui.journal.stats import percentile
from copytui.journal.store import Journal
from copytui.journal.summary import Summary, dumps, summary, summary_text

__all__ = [
    "JournaledAlert",
    "alert_history",
    "LEADER_ORDER_KINDS",
    "LIVE_STATUSES",
    "PNL_FILLS_SQL",
    "REPORT_COLUMNS",
    "REPORT_KEYS",
    "SCHEMA_VERSION",
    "Journal",
    "JournalError",
    "JournaledIntent",
    "JournaledSignal",
    "ReportValue",
    "RestartState",
    "Summary",
    "create_private_file",
    "dumps",
    "matching_orders",
    "percentile",
    "realised_pnl",
    "report_rows",
    "summary",
    "summary_text",
]
