"""memchat as a Rasa custom action (rasa-sdk). Run the action server with

    MEMCHAT_MODEL=models/task5 python -m rasa_sdk --actions memchat_plugins.adapters.rasa_action

and let Rasa call ``action_memchat`` (declared in its domain) after each user message: the action
hands the latest user message to memchat, in the conversation of the tracker's sender, and
dispatches each reply.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from memchat_plugins.adapters import replies_or_error, shared_bot


class ActionMemchat(Action):
    def name(self) -> str:
        return "action_memchat"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        # memchat's turn is blocking (the store, the ranker): keep the action server's event loop free
        replies = await asyncio.to_thread(replies_or_error, shared_bot(), tracker.sender_id, text)
        for reply in replies:
            dispatcher.utter_message(text=reply)
        return []
