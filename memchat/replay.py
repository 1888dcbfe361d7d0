"""Live replay: the user side of recorded dialogues played through the dialogue manager.

Each dialogue becomes a fresh conversation. Its user turns are sent one by one; the bot's
replies are compared with the recorded ones. Result lines that follow a recorded api call are
not sent: the knowledge-base plugin answers the bot's own api calls instead. Other result lines
(task 3 and 4 dialogues open with them) are stored as they are, as context. The bot goes on
by itself (an action, its results, then a reply; or a reply its training users let it go on
from): each further reply of a turn answers the next recorded ``<SILENCE>`` turn.

Where the recorded user cut in -- tasks 2 and 5 record no results for a call the user then
changes ("instead could it be ..."), and users speak again before the bot went on -- the replay
cuts in too (``cut_in=True``, the default): the turn ends after the replies recorded before the
user spoke again, and an api call no results follow is stored but not run. With ``cut_in=False`` every call
runs and the bot goes on with a proposal before the recorded user changes the request, a
situation the training dialogues never show.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from memchat.dialogs import BOT, KB, SILENCE, USER, Dialog
from memchat.dialogue.processor import DialogueManager
from memchat.nn.scores import Scores
from memchat.store.event import Event


@dataclass
class ReplayMistake:
    conversation_id: str
    user: str
    gold: str
    said: str


@dataclass
class ReplayResult:
    scores: Scores
    mistakes: list[ReplayMistake] = field(default_factory=list)


def replay(
    manager: DialogueManager, dialogs: Sequence[Dialog], prefix: str = "replay", cut_in: bool = True
) -> ReplayResult:
    run = uuid.uuid4().hex[:8]
    responses = right = dialogs_right = 0
    mistakes: list[ReplayMistake] = []
    for j, dialog in enumerate(dialogs):
        cid = f"{prefix}-{run}-{j + 1}"
        turns = dialog.turns
        pending: deque[str] = deque()  # replies the bot said after an action, not yet matched
        after_action = False
        all_right = True
        for k, turn in enumerate(turns):
            if turn.speaker == KB:
                if not after_action:
                    manager.store.append(cid, [Event(KB, turn.text)])
                continue
            if turn.speaker != USER:
                continue
            gold = turns[k + 1].text if k + 1 < len(turns) and turns[k + 1].speaker == BOT else None
            if turn.text == SILENCE and pending:
                said = pending.popleft()
            else:
                pending.clear()
                # the recorded user cut in: after the replies recorded before they spoke again, or
                # after an api call of this turn that no results follow
                chain = _chain(turns, k)
                cut = cut_in and any(not results for reply, results in chain if reply.startswith("api_call"))
                replies = manager.respond(cid, turn.text, run_actions=not cut, most=len(chain) if cut_in else None)
                said = replies[0].text if replies else ""
                pending.extend(r.text for r in replies[1:])
            after_action = gold is not None and gold.startswith("api_call")  # its results follow in the file
            if gold is None:
                continue
            responses += 1
            if said == gold:
                right += 1
            else:
                all_right = False
                mistakes.append(ReplayMistake(cid, turn.text, gold, said))
        dialogs_right += all_right
    return ReplayResult(Scores(responses, len(dialogs), right, dialogs_right), mistakes)


def _chain(turns, k: int) -> list[tuple[str, bool]]:
    """The recorded bot replies of the user turn at ``k`` and of the <SILENCE> turns after it, until
    the user speaks: (reply, whether result lines follow it)."""
    out, j = [], k
    while j < len(turns):
        if turns[j].speaker == USER and (j == k or turns[j].text == SILENCE):
            if j + 1 < len(turns) and turns[j + 1].speaker == BOT:
                out.append((turns[j + 1].text, j + 2 < len(turns) and turns[j + 2].speaker == KB))
            j += 2
        elif turns[j].speaker == KB:
            j += 1
        else:
            break
    return out
