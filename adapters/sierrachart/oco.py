"""Which of a Sierra Chart account's orders are one OCO group, read from their ORDER_UPDATEs.

DTC's ORDER_UPDATE names, for each order of a pair submitted with SUBMIT_NEW_OCO_ORDER, "the
ServerOrderID of the other order in the OCO pair" in ``OCOLinkedOrderServerOrderID`` (DTC Trading
Related Messages). Read literally, each leg points at the other. A server may still state the
link on one leg only, or put one id both legs share: read as links between ids, all three readings
put a pair in one connected set, and the group is named after the set's first id, the same string
for both legs whichever reading holds. "First" orders ids by length, then text, so that ids with a
growing number ("O99", "O100") keep the order they were given in and a pair's group does not change
once its first leg is known.

``ParentServerOrderID`` is not a group: Sierra Chart attaches several OCO pairs to one parent (a
target and a stop per pair), and a target that fills cancels its own stop only.
"""

from __future__ import annotations


def _first(a: str, b: str) -> str:
    return min(a, b, key=lambda s: (len(s), s))


class OcoLinks:
    """Links between ServerOrderIDs, kept as connected sets whose root is their first id."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def link(self, server_id: str, linked_id: str) -> None:
        """``server_id`` is OCO-linked with ``linked_id`` (the other order, or an id both legs share)."""
        if not server_id or not linked_id or server_id == linked_id:
            return
        a, b = self._root(server_id), self._root(linked_id)
        if a != b:
            root = _first(a, b)
            self._parent[b if root == a else a] = root

    def _root(self, node: str) -> str:
        parent = self._parent.setdefault(node, node)
        while parent != node:
            grand = self._parent[parent]
            self._parent[node] = grand  # shorten the path as it is walked
            node, parent = parent, grand
        return node

    def group(self, server_id: str) -> str | None:
        """The OCO group of ``server_id`` as an AccountEvent carries it; None when it has no link."""
        if not server_id or server_id not in self._parent:
            return None
        return f"oco-{self._root(server_id)}"
