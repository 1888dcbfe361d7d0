"""The latest events of the conversations a store served last (``RecentEvents``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from memchat.store.event import Event


@dataclass
class Kept:
    events: list[Event]  # the latest of a conversation, oldest first, seqs without a gap
    whole: bool  # from its first event on


class RecentEvents:
    """The latest events of the conversations a store served last, shared by its threads.

    What is kept is never stale, only short: rows are never changed once stored, and every read
    asks the database for the rows after the last kept one. Bounded: ``EVENTS`` events of each of
    ``CONVERSATIONS`` conversations (a project bot's whole conversation, as long as most are, and
    four times a dialog bAbI bot's memory window of 101)."""

    CONVERSATIONS = 256
    EVENTS = 400

    def __init__(self):
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> Kept | None:
        with self._lock:
            kept = self._kept.get(conversation_id)
            if kept is not None:
                self._kept.move_to_end(conversation_id)
            return kept

    def put(self, conversation_id: str, events: list[Event], whole: bool) -> None:
        if events:  # a conversation not stored yet is not kept: any id may be asked for
            with self._lock:
                self._keep(conversation_id, Kept(events[-self.EVENTS :], whole and len(events) <= self.EVENTS))

    def add(self, conversation_id: str, new: list[Event], kept: Kept | None = None) -> list[Event]:
        """Keep ``new`` (events just stored, or just read after ``kept``) after the kept events of
        the conversation; returns them all, a copy. Events that do not follow what is kept
        without a gap (or are not a conversation's first) are not kept, and what was is dropped."""
        with self._lock:
            kept = kept or self._kept.get(conversation_id)
            if kept is None and new and new[0].seq == 1:
                kept = Kept([], True)  # a new conversation
            if kept is None or not new or new[0].seq != (kept.events[-1].seq + 1 if kept.events else 1):
                self._kept.pop(conversation_id, None)
                return list(new)
            events = kept.events + new
            self._keep(conversation_id, Kept(events[-self.EVENTS :], kept.whole and len(events) <= self.EVENTS))
            return events

    def _keep(self, conversation_id: str, kept: Kept) -> None:
        self._kept[conversation_id] = kept
        self._kept.move_to_end(conversation_id)
        while len(self._kept) > self.CONVERSATIONS:
            self._kept.popitem(last=False)
