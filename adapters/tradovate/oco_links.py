"""Which of a Tradovate account's orders are one OCO group, read from the ``ocoId`` of its orders.

Tradovate's reference gives ``Order.ocoId`` as an optional long and ``/order/placeOCO`` as answering
``{orderId, ocoId}``, but never says what the entity's ``ocoId`` holds: the other leg's order id
(as placeOSO answers its brackets' order ids in ``oso1Id`` / ``oso2Id``), an id the two legs share,
or a link on the second leg only. Read as links between ids, all three put a pair in one connected
set, so the group is named after the set's smallest id: the same string for both legs whichever
reading holds, and stable once the first leg is seen (the first leg has the smaller order id, and
names its partner already in the pointer reading).
"""

from __future__ import annotations


class OcoLinks:
    """Links between order ids, kept as connected sets whose root is their smallest id (as long as
    the account book keeps its orders)."""

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}

    def link(self, order_id: int, oco_id: int) -> None:
        """``order_id`` is OCO-linked with ``oco_id`` (another order, or the id its group shares)."""
        a, b = self._root(order_id), self._root(oco_id)
        if a != b:
            self._parent[max(a, b)] = min(a, b)

    def _root(self, node: int) -> int:
        parent = self._parent.setdefault(node, node)
        while parent != node:
            grand = self._parent[parent]
            self._parent[node] = grand  # shorten the path as it is walked
            node, parent = parent, grand
        return node

    def group(self, order_id: int) -> str | None:
        """The OCO group of ``order_id`` as an AccountEvent carries it; None when it has no link."""
        if order_id not in self._parent:
            return None
        return f"oco-{self._root(order_id)}"
