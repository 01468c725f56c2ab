"""The key bar: as many of the screen's keys as fit whole, in the order they are declared (the
trading keys first); the command palette's key at the right. `?` lists every key.

Textual's own Footer shows every key and lets the last ones run off the edge, cut mid-word; a
trader at 80 columns would read "/" with no word after it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_ROOM = 13
"""Columns the command palette's key takes at the right ("▏^p palette" and its padding)."""


class DeskFooter(Footer):
    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        bindings = self.screen.active_bindings
        room = self.app.size.width - PALETTE_ROOM
        per_key = 2 if self.compact else 3  # the spaces around a key and its description
        seen: set[str] = set()
        for _, binding, enabled, tooltip in bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            shown = self.app.get_key_display(binding)
            room -= len(shown) + 1 + len(binding.description) + per_key - 1
            if room < 0:
                break
            key = FooterKey(binding.key, shown, binding.description, binding.action, disabled=not enabled)
            key.tooltip = tooltip or binding.description
            yield key.data_bind(compact=Footer.compact)
        palette = bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and palette is not None:
            _, binding, enabled, _ = palette
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                classes="-command-palette",
                disabled=not enabled,
            ).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)
