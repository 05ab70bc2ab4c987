"""The dialogue harness with a scripted stand-in backend (pure Python, no model): the harness logic alone."""

from personae.llm.backends import LLMBackend
from personae.llm.dialogue import PersonaDialogue, run_dialogues


class EchoBackend(LLMBackend):
    """Replies 'reply to <last user line> (<n> msgs)' so tests can see exactly what context each call got."""

    name = "echo"

    def __init__(self):
        self.calls = []

    def chat(self, conversations, *, max_new_tokens=48, temperature=0.0, seed=0):
        self.calls.append(conversations)
        return [f"reply to {c[-1]['content']} ({len(c)} msgs)" for c in conversations]


def test_scripted_partner_runs_every_turn_with_the_growing_history():
    b = EchoBackend()
    tr = PersonaDialogue(b, "You are a pirate.").run(["Hi", "How are you?", "Bye"])
    assert [t.partner for t in tr.turns] == ["Hi", "How are you?", "Bye"]
    assert tr.replies() == ["reply to Hi (2 msgs)", "reply to How are you? (4 msgs)", "reply to Bye (6 msgs)"]
    assert tr.messages()[0] == {"role": "system", "content": "You are a pirate."}
    assert all(t.activation is None for t in tr.turns)  # this backend has no hidden states


def test_callable_partner_sees_the_transcript_and_ends_the_dialogue_with_none():
    def partner(transcript):
        n = len(transcript.turns)
        return None if n == 2 else f"turn {n} after: {transcript.turns[-1].reply if n else '-'}"

    tr = PersonaDialogue(EchoBackend(), None).run(partner)
    assert len(tr.turns) == 2
    assert tr.turns[1].partner == "turn 1 after: reply to turn 0 after: - (1 msgs)"


def test_dialogues_of_different_lengths_are_batched_turn_by_turn():
    b = EchoBackend()
    trs = run_dialogues(b, ["A", "B"], [["x", "y", "z"], ["only"]])
    assert [len(t.turns) for t in trs] == [3, 1]
    assert [len(c) for c in b.calls] == [2, 1, 1]  # both dialogues in the first call


def test_history_turns_bounds_the_context():
    b = EchoBackend()
    tr = run_dialogues(b, ["S"], [["1", "2", "3", "4"]], history_turns=1)[0]
    assert tr.turns[-1].reply == "reply to 4 (4 msgs)"  # system + 1 previous turn (2) + new line
