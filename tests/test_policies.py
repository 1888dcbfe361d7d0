"""The policies that choose a project bot's next action, each alone, and the ordered list as the
processor's seam: a policy added to the list is asked in its place, without touching the loop."""

from types import SimpleNamespace

from memchat.dialogue.policies import POLICIES, Decision
from memchat.dialogue.policies.forms import FormAnswered
from memchat.dialogue.policies.lead import Lead
from memchat.dialogue.policies.limits import MaxActions
from memchat.dialogue.turn import Tracker, TurnState
from memchat.project.spec import LISTEN


def decision(step=0, lead=None, active=None, form_goes_on=False, max_actions=10) -> Decision:
    tracker = Tracker("c", {}, active, "hi")
    turn = TurnState("c", [], 0, tracker, form_goes_on=form_goes_on, lead=lead, step=step)
    return Decision(SimpleNamespace(max_actions=max_actions), turn, ranking=None)


def test_max_actions_listens_at_the_limit_only():
    assert MaxActions().next_action(decision(step=10)) == LISTEN
    assert MaxActions().next_action(decision(step=9)) is None


def test_the_lead_comes_first_and_once():
    lead = ("utter_unknown_city", {"city": "dublin"})
    assert Lead().next_action(decision(lead=lead)) == "utter_unknown_city"
    assert Lead().next_action(decision(lead=lead, step=1)) is None
    assert Lead().next_action(decision()) is None


def test_an_answered_form_goes_on_right_after_the_lead():
    assert FormAnswered().next_action(decision(active="order_form", form_goes_on=True)) == "order_form"
    assert FormAnswered().next_action(decision(active="order_form")) is None  # not answered
    lead = ("utter_default", {})
    assert FormAnswered().next_action(decision(active="order_form", lead=lead, step=1)) == "order_form"
    assert FormAnswered().next_action(decision(form_goes_on=True)) is None  # no form


class Greets:
    """A policy of a bot author's: greets whenever the bot has said nothing yet this turn."""

    def next_action(self, at: Decision) -> str | None:
        return "utter_greet" if not at.turn.taken else None


def test_a_policy_added_to_the_list_is_asked_in_its_place(pizza_bot):
    manager = pizza_bot.manager
    assert manager.policies == POLICIES
    before = pizza_bot.respond("a", "a large pizza with mushrooms")
    assert "Hello! Welcome to Luigi's. What can I get you?" not in before
    manager.policies = (POLICIES[0], Greets(), *POLICIES[1:])
    after = pizza_bot.respond("b", "a large pizza with mushrooms")
    assert after[0] == "Hello! Welcome to Luigi's. What can I get you?"
