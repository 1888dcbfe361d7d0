"""A turn on its way and what it gives: the replies (``Reply``), the turn's state (``TurnState``),
the conversation as an action sees it (``Tracker``), and small readings of a conversation's events."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from memchat.dialogs import KB, SILENCE, USER, Turn
from memchat.nn.ranker import Ranking
from memchat.plugins import PluginFailure
from memchat.project.spec import SLOT_LINE, BotSpec
from memchat.store.event import Event

FALLBACK = "utter_default"  # Rasa's fallback response: said before a form's question asked again


@dataclass
class Reply:
    text: str  # what the bot did, as stored: a candidate reply, or a project's action name
    ranking: Ranking | None  # what the model scored and looked at; None: a stored reply sent again
    action_results: list[str] | None = None  # the result lines when the reply was an action
    plugin_failures: list[PluginFailure] = field(default_factory=list)  # plugins that raised on the way
    message: dict | None = None  # what a person sees ({"text": ..., "buttons": ...}); None: nothing

    @property
    def is_action(self) -> bool:
        """An action people never see as text: an api call, a custom action, a form, a listen."""
        return self.message is None


@dataclass
class TurnState:
    """One turn on its way: the memory window, the conversation's last seq, what was done so far."""

    conversation_id: str
    turns: list[Turn]  # the memory window (and the query), kept up to date
    last_seq: int
    tracker: Tracker | None  # a project bot's slots and form; None for dialog bAbI bots
    form_goes_on: bool = False  # the user's message filled a slot of the active form
    replies: list[Reply] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)  # plugins that raised before a reply
    step: int = 0  # actions taken
    previous: str | None = None  # the action just taken
    taken: list[str] = field(default_factory=list)  # the actions of this turn, in order
    base_seq: int = 0  # the conversation's last seq before this turn
    pending: list[Event] = field(default_factory=list)  # this turn's events, stored by commit()
    # what the bot says first, before the model: utter_unknown_SLOT and the slot filled with the
    # words it has no record of ("Sorry, I don't know any restaurants in dublin"), or utter_default
    # for a message of words it never saw
    lead: tuple[str, dict] | None = None
    named: bool = False  # the user's message named a value of a slot people fill (new or not)
    rule: dict | None = None  # the intent rule the message fired (rules.py), while its actions go on
    followup: str | None = None  # the action an action server's followup event asks for next
    changed: dict = field(default_factory=dict)  # the slots the user's message set (for validate_<form>)
    validated: bool = False  # validate_<form> ran on them


@dataclass
class Tracker:
    """A conversation as an action sees it (the ``execute_action`` hook's ``tracker``)."""

    conversation_id: str
    slots: dict[str, str]
    active_loop: str | None
    latest_message: str
    spec: BotSpec | None = None  # a project bot's runtime: responses, forms, knowledge base
    events: list[Event] = field(default_factory=list)  # the whole conversation so far


def in_memory(event: Event) -> bool:
    """Whether the model reads ``event``: all but slots that do not influence the conversation."""
    return not (event.data and event.data.get("memory") is False)


def last_messages(events: list[Event], n: int) -> list[int]:
    """The indexes of the user's last ``n`` messages (not the implicit silences), the last first:
    found from the end, as a conversation may be long."""
    said = (i for i in range(len(events) - 1, -1, -1) if events[i].speaker == USER and events[i].text != SILENCE)
    return list(islice(said, n))


def slots_set(events: list[Event], start: int) -> dict[str, int]:
    """The slots set from ``events[start]`` on: slot -> the index it was last set at."""
    prefix = f"{SLOT_LINE} "
    return {
        events[i].text.split(" ")[1]: i
        for i in range(start, len(events))
        if events[i].speaker == KB and events[i].text.startswith(prefix)
    }
