"""`copytui bench`: latency, throughput and memory of the copy path, measured in one process.

Nothing here touches the copy path: the numbers come from the timestamps the adapters already
take at the socket boundaries and the journal already stores.
"""

from copytui.bench.runner import SCENARIOS, Plan, Result, run

__all__ = ["SCENARIOS", "Plan", "Result", "run"]
