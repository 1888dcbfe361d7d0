"""What a channel hands the dialogue: the user's text cleaned, the conversation and message ids
checked. Bad input is one line (``MemchatError``), never stored."""

from __future__ import annotations

import re
import unicodedata

from memchat.dialogs import SILENCE
from memchat.errors import MemchatError

MAX_TEXT = 10_000  # characters of one user turn; longer ones are refused, not cut
MAX_CONVERSATION_ID = 255
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str | bytes) -> str:
    """The user's text as the model should see it: valid Unicode, no control characters, one line.
    An empty turn is the dataset's ``<SILENCE>``: the user lets the bot go on."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.encode("utf-8", errors="replace").decode("utf-8")  # lone surrogates
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())
    if len(text) > MAX_TEXT:
        raise MemchatError(f"message too long: {len(text)} characters, at most {MAX_TEXT}")
    return text or SILENCE


def check_conversation_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not conversation_id.strip():
        raise MemchatError("conversation id: expected a non-empty string")
    if len(conversation_id) > MAX_CONVERSATION_ID or not conversation_id.isprintable():
        raise MemchatError(f"conversation id: at most {MAX_CONVERSATION_ID} printable characters")
    return conversation_id


def check_message_id(message_id: str) -> str:
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > MAX_CONVERSATION_ID:
        raise MemchatError(f"message id: expected a non-empty string of at most {MAX_CONVERSATION_ID} characters")
    return message_id
