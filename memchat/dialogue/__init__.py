"""The conversation runtime: the processor that runs a turn (``processor.py``: lock, read,
act until the bot listens, commit), the policies asked for the next action (``policies/``), the
actions that run (``actions.py``; a dialog bAbI bot's turn in ``babi_turn.py``), and the turn's
state (``turn.py``) and input checks (``text.py``); what a message says beyond its words: the
slots it sets and what the bot says first (``reading.py``), the suggestion it points back at
(``references.py``); Rasa's action server and tracker (``action_server.py``,
``rasa_tracker.py``). It imports the store, the live ranker (``memchat.nn.ranker``), the
project's runtime (``memchat.project.spec``) and the plugins; never the channels or the command
line."""
