"""memchat in the Microsoft Bot Framework (botbuilder-core): an ``ActivityHandler`` that answers
every message activity through memchat, one memchat conversation per Bot Framework conversation.

    from memchat_plugins.adapters.botframework import MemchatActivityHandler
    bot = MemchatActivityHandler()      # or MemchatActivityHandler(memchat.Bot.load(...))
    # then, as any handler: await adapter.process_activity(activity, auth_header, bot.on_turn)
"""

from __future__ import annotations

import asyncio

from botbuilder.core import ActivityHandler, MessageFactory, TurnContext

from memchat_plugins.adapters import replies_or_error, shared_bot


class MemchatActivityHandler(ActivityHandler):
    def __init__(self, bot=None):
        super().__init__()
        self._bot = bot  # None: the process's shared bot, loaded from the environment

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        bot = self._bot or shared_bot()
        replies = await asyncio.to_thread(replies_or_error, bot, activity.conversation.id, activity.text or "")
        for reply in replies:
            await turn_context.send_activity(MessageFactory.text(reply))
