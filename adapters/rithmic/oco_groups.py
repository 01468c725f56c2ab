"""Which of a Rithmic account's orders are one OCO group, read from its order notifications: what
puts a leader's bracket legs (RequestBracketOrder 330, or orders linked with RequestLinkOrders 344)
into one ``oco_group`` on their AccountEvents and open orders, so the engine mirrors them as a pair.

What Rithmic says, and what is guessed. RithmicOrderNotification (351) and ExchangeOrderNotification
(352) carry ``original_basket_id``, ``linked_basket_ids`` (one string) and ``bracket_type``
(async-rithmic's copies of Rithmic's ``.proto`` files); no public Rithmic text says what the first
two hold. Our reading:

- ``original_basket_id``, when it differs from the order's own basket id, names the bracket entry
  the order is a leg of. The entry itself is in no group: copying it as a leg would pair it with
  its own stop.
- ``linked_basket_ids`` names the orders this one is OCO-linked with, separated by commas,
  semicolons or spaces. Whether both legs name each other, only one names the other, or both name
  a shared id, the links put the legs in one connected set.
- ``bracket_type`` TARGET_AND_STOP (or its ``_STATIC`` form), on the entry or on a leg, says the
  bracket has two legs, so its first leg is paired before the second is seen.

A set's group is named after its bracket entry (``bracket-<entry basket id>``) when a leg names
one, else after its smallest basket id (``oco-<id>``, ids compared by length then text, which is
numeric order for Rithmic's numeric basket ids): the same string for each leg whichever way the
link is stated, stable from the first leg seen, and the same in a later session that reads the
legs from show orders. A set is a group once it holds two orders or is a two-legged bracket's; a
lone leg of a stop-only bracket is no group. If Rithmic's fields mean something else, the legs are
copied as plain orders, as before this reading.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from adapters.rithmic.enums import TWO_LEGGED
from copytui.models import MAX_OCO_GROUP_LEN

_SPLIT = re.compile(r"[\s,;|]+")
_ENTRY = "^"
"""Prefix of a bracket entry's node: apart from the entry's own basket id, so the entry stays out."""


class Linked(Protocol):
    """The fields of a 351 or 352 this reading uses."""

    basket_id: str
    original_basket_id: str
    linked_basket_ids: str
    bracket_type: int


def _order(node: str) -> tuple[bool, int, str]:
    """Which node of a set names it: an entry first, then the shortest id, then the smallest."""
    return (not node.startswith(_ENTRY), len(node), node)


class OcoGroups:
    """Links between basket ids as connected sets (union-find), named as the module says."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        """Root -> the basket ids in its set (entries' nodes apart)."""
        self.entries: set[str] = set()
        """Basket ids of bracket entries: never in a group."""
        self._named_entries: set[str] = set()
        """Entries a leg named as its ``original_basket_id`` (the others are guesses from bracket_type)."""
        self._paired: set[str] = set()
        """Entries whose bracket has two legs."""

    def learn(self, note: Linked) -> None:
        """What one notification says of its order's links (nothing for a plain order)."""
        basket = note.basket_id
        entry = note.original_basket_id if note.original_basket_id != basket else ""
        linked = [b for b in _SPLIT.split(note.linked_basket_ids) if b and b != basket]
        if not basket or not (entry or linked or note.bracket_type):
            return
        two_legged = note.bracket_type in TWO_LEGGED
        if entry:
            self.entries.add(entry)
            self._named_entries.add(entry)
            self._join(basket, _ENTRY + entry)
            if two_legged:
                self._paired.add(entry)
        elif not linked and basket not in self._parent:
            # a bracket type, no link, not seen linked before: the entry itself (its legs come once it fills)
            self.entries.add(basket)
            if two_legged:
                self._paired.add(basket)
        if entry or linked:
            if basket not in self._named_entries:
                self.entries.discard(basket)  # it was guessed an entry, but it is linked: a leg
            for other in linked:  # a link that names the entry (a shared id) joins the entry's node
                self._join(basket, _ENTRY + other if other == entry or other in self.entries else other)

    def group(self, basket: str) -> str | None:
        """The OCO group of ``basket`` as its events carry it; None for an order in no group."""
        if basket in self.entries or basket not in self._parent:
            return None
        root = self._root(basket)
        legs = self._members[root] - self.entries
        if root.startswith(_ENTRY):
            paired = len(legs) >= 2 or root[len(_ENTRY) :] in self._paired
            name = f"bracket-{root[len(_ENTRY) :]}"
        else:
            paired = len(legs) >= 2
            name = f"oco-{min(legs, key=_order) if legs else root}"
        if not paired:
            return None
        if len(name) > MAX_OCO_GROUP_LEN:  # Rithmic's basket ids are short: a guard, not a case
            name = "oco-" + hashlib.sha256(name.encode()).hexdigest()[: MAX_OCO_GROUP_LEN - 4]
        return name

    def _root(self, node: str) -> str:
        parent = self._parent.setdefault(node, node)
        if parent == node:
            self._members.setdefault(node, set() if node.startswith(_ENTRY) else {node})
            return node
        while parent != node:
            grand = self._parent[parent]
            self._parent[node] = grand  # shorten the path as it is walked
            node, parent = parent, grand
        return node

    def _join(self, a: str, b: str) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return
        keep, gone = (ra, rb) if _order(ra) <= _order(rb) else (rb, ra)
        self._parent[gone] = keep
        self._members[keep] |= self._members.pop(gone)
