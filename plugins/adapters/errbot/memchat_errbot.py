"""memchat as an Errbot plugin: every message that is not a command is answered by memchat,
one memchat conversation per sender. Point errbot's ``BOT_EXTRA_PLUGIN_DIR`` at this folder
(``memchat_plugins.adapters.ERRBOT_PLUGIN_DIR``)."""

from errbot import BotPlugin

from memchat_plugins.adapters import replies_or_error, shared_bot


class Memchat(BotPlugin):
    """Answers every message that is not a command through memchat."""

    def callback_message(self, msg):
        prefix = self.bot_config.BOT_PREFIX
        if msg.body.startswith(prefix) or msg.frm == self.bot_identifier:
            return  # commands are errbot's; never answer ourselves
        for reply in replies_or_error(shared_bot(), str(msg.frm), msg.body):
            self.send(msg.frm, reply)
