"""The filter line ("/"): an Input that takes its keys straight from the app, in order.

Textual routes each key to the focused widget's own message queue, so keys typed faster than the
queues drain are routed before the key that moved the focus has been handled: "/q" typed at once
would quit. The app therefore hands every key that arrives while this box has the focus to
:meth:`FilterBox.take_key`, which edits the text in the app's own task, before the next key is
even looked at; "/", Enter and Escape are app bindings handled the same way (priority), so the
focus moves with the key that asks for it.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FilterBox(Input):
    async def take_key(self, event: events.Key) -> None:
        """Handle ``event`` now, as the focused box would later: its bindings (cursor moves,
        deletion) first, then printable characters."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if await self.app.run_action(binding.action, self):
                return
        await self._on_key(event)
