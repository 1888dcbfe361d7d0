"""The policies that choose a project bot's next action, in the order the processor asks them:
the first that names an action wins; when none does, the bot listens. Each is a small class with
one method, ``next_action(at: Decision) -> str | None`` (``base.py``); adding one is a module
here and a line in ``POLICIES``. They may import the turn's types, the model's ranking, the
project's runtime and the plugins, never the processor (it imports them)."""

from memchat.dialogue.policies.base import Decision, Policy
from memchat.dialogue.policies.forms import FormAnswered, FormResumes
from memchat.dialogue.policies.lead import Lead
from memchat.dialogue.policies.limits import MaxActions
from memchat.dialogue.policies.memory_network import MemoryNetwork
from memchat.dialogue.policies.no_stall import NoStall
from memchat.dialogue.policies.rules import FollowUpRules, IntentRules

POLICIES: tuple[Policy, ...] = (
    MaxActions(),  # a bot that never listens is made to
    Lead(),  # "Sorry, I don't know any restaurants in dublin" first
    FormAnswered(),  # the user answered the form's question: it goes on
    IntentRules(),  # a rule the message's certain intent fired
    FollowUpRules(),  # the chain of actions the author wrote goes on
    MemoryNetwork(),  # the model's best candidate that may be said now
    FormResumes(),  # an off-topic message answered: the form asks again
    NoStall(),  # never listen without a word said
)

__all__ = ["POLICIES", "Decision", "Policy"]
