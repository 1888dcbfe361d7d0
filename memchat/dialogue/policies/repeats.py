"""What would repeat the bot's previous turn right after it (a loop): the policies never choose it.

Each function takes ``dm``, the ``DialogueManager`` running the turn (not imported here: it
imports this module)."""

from __future__ import annotations

from memchat.dialogs import BOT
from memchat.dialogue.turn import TurnState, last_messages, slots_set
from memchat.project.rules import follow_up


def repeats(dm, turn: TurnState) -> set[str]:
    """What would be the bot's previous turn again, right after it -- a loop (issue: "the same
    action with the same arguments is not run twice in a row"):

    - the knowledge-base search, and the actions a follow-up rule runs it after ("Let me look
      for..."), when it ran in the bot's previous turn and no slot people fill changed since;
      or when it ran before, no such slot was set since, and the user's message names no
      value ("where will i find it" after a booking asks for no search);
    - a response with slots in it ("What do you think of {restaurant}?") said in the bot's
      previous turn, when none of its slots was set since and no custom action ran in this
      turn (a new search may find the same restaurant): the same suggestion again;
    - the knowledge-base suggestion, when it ran in the bot's previous turn and found none
      left (``found`` false), and no slot people fill changed since.

    A question with no slots in it (a form's) may come again: the user did not answer it."""
    events = turn.tracker.events
    said = last_messages(events, 2)
    if len(said) < 2:
        return set()
    previous = range(said[1] + 1, said[0])  # the bot's previous turn
    set_after = slots_set(events, said[1] + 1)  # since the previous turn began
    again, question = set(), dm.question(turn.tracker)
    search = (dm.spec.kb or {}).get("search")
    filled = {s for s, entities in dm.spec.slot_entities.items() if entities}
    if search and not filled & set_after.keys():
        ran = (i for i in range(said[0] - 1, -1, -1) if events[i].speaker == BOT and events[i].text == search)
        last = next(ran, None)  # the last search before this message
        if last is not None and (
            last in previous or (not turn.named and not filled & slots_set(events, last + 1).keys())
        ):
            slots = turn.tracker.slots
            announce = {a for a in dm.announcers if follow_up(dm.spec.rules, [a], slots, None) == search}
            again |= {search} | announce
    suggest = (dm.spec.kb or {}).get("suggest")
    if (
        suggest
        and turn.tracker.slots.get("found") == "false"
        and not filled & set_after.keys()
        and any(events[i].speaker == BOT and events[i].text == suggest for i in previous)
    ):
        again.add(suggest)  # none was left then, and nothing changed since: none is left now
    if any(dm.spec.kind(a) == "action" for a in turn.taken):
        return again  # an action ran since: it may have set the slots again, to the same values
    for i in previous:
        e = events[i]
        if e.speaker == BOT and e.text != question and (names := dm.named_slots.get(e.text)):
            if all(set_after.get(s, -1) < i for s in names):
                again.add(e.text)
    return again
