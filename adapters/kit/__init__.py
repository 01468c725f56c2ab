"""What every broker adapter shares, importable by a broker package that lives outside this repo.

- :class:`EventStream`: the account's event queue, closed on disconnect, read by ``subscribe()``.
- :class:`Backoff` and :func:`renew_forever`: session upkeep (reconnect delays, token renewal,
  heartbeats).
- :class:`TaskGroup`: named background tasks whose failures are logged, never lost.
- :func:`fit_client_id` (from :mod:`adapters.base`): deterministic client order ids.
- :mod:`adapters.kit.conformance`: the contract's test suite (needs pytest: ``copytui[testkit]``).
"""

from adapters.base import Health, HealthState, fit_client_id
from adapters.kit.session import Backoff, renew_forever, repeat_forever
from adapters.kit.stream import EventStream
from adapters.kit.tasks import TaskGroup

__all__ = [
    "Backoff",
    "EventStream",
    "Health",
    "HealthState",
    "TaskGroup",
    "fit_client_id",
    "renew_forever",
    "repeat_forever",
]
