"""The answer-scored (cloze) multiple-choice cost: generated questions, the log-likelihood it rests on, and a
model against itself (no cost, and too few questions to bound one)."""

import numpy as np
import pytest

from personae.llm.backends import LLMBackend
from personae.llm.mcq import (
    LETTERS,
    arithmetic_questions,
    mcq_cloze_conversation,
    mcq_cloze_correct_probability,
)
from personae.llm.users import mcq_cost


def test_arithmetic_questions_have_one_right_answer_among_distinct_options_and_are_seeded():
    qs = arithmetic_questions(200, seed=3)
    assert qs == arithmetic_questions(200, seed=3) and qs != arithmetic_questions(200, seed=4)
    for q in qs:
        a, op, b = q["question"].removeprefix("What is ").removesuffix("?").split()
        right = int(a) + int(b) if op == "+" else int(a) - int(b)
        assert q["options"][LETTERS.index(q["answer"])] == str(right) and right >= 0
        assert len(set(q["options"])) == 4 and all(int(o) >= 0 for o in q["options"])
    counts = np.bincount([LETTERS.index(q["answer"]) for q in qs], minlength=4)
    assert counts.min() >= 30  # the right answer is not parked on one letter


@pytest.mark.slow
def test_response_log_likelihood_is_the_replys_token_log_probability_whatever_the_batch(smol):
    import torch

    convs = [[{"role": "user", "content": "Name a colour."}],
             [{"role": "user", "content": "What is 2 + 2? Answer with the answer only."}]]
    replies = ["Blue", "It is four, of course, and nothing else."]
    batched = smol.response_log_likelihood(convs, replies)
    one_by_one = np.concatenate([smol.response_log_likelihood([c], [r]) for c, r in zip(convs, replies)])
    assert np.allclose(batched, one_by_one, atol=1e-3)  # left padding changes nothing
    prompt = smol.prompt_ids(convs[1])
    reply = smol.tokenizer(replies[1], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + reply])
    labels = ids.clone()
    labels[0, :len(prompt)] = -100  # the loss over the reply's tokens only
    with torch.no_grad():
        loss = smol.model(input_ids=ids, labels=labels).loss.item()
    assert batched[1] == pytest.approx(-loss * len(reply), rel=1e-3)


@pytest.mark.slow
def test_cloze_scoring_picks_the_obvious_answer(smol):
    qs = [{"question": "What is the capital of France?", "options": ["Banana", "Paris", "Seventeen", "Blue"],
           "answer": "B"},
          {"question": "What colour is the sky on a clear day?", "options": ["Blue", "Loud", "Seven", "Tuesday"],
           "answer": "A"}]
    right, prob = mcq_cloze_correct_probability(smol, qs)
    assert right.tolist() == [1.0, 1.0] and (prob > 0.25).all()
    assert "A." not in mcq_cloze_conversation(qs[0])[-1]["content"]  # the options are scored, not listed


@pytest.mark.slow
def test_a_model_against_itself_costs_nothing_and_eight_questions_cannot_bound_a_cost(smol):
    cost = mcq_cost(smol, smol, n_mcq=4, n_arithmetic=4)
    cloze = cost["cloze"]
    assert cloze["n_questions"] == 8 and cloze["accuracy_diff"]["estimate"] == 0
    assert not cloze["accuracy_diff"]["effect"] and cloze["accuracy_diff"]["unit"] == "questions"
    assert cloze["smallest_detectable_difference"] > 0.05 and not cloze["bounded_at_0.05"]


class _FixedScores(LLMBackend):
    """FAKE backend (named as such): fixed log-likelihoods, so the cost's sign and its bound can be checked
    without a model. `wrong_every` > 0 puts the right option last on every wrong_every-th question."""

    def __init__(self, wrong_every: int = 0):
        self.wrong_every = wrong_every

    def choose(self, conversations, options, *, temperature=1.0, seed=0):
        return np.full((len(conversations), len(options)), 1 / len(options))

    def response_log_likelihood(self, conversations, responses):
        out, questions = [], arithmetic_questions(1000)
        by_text = {q["question"]: q for q in questions}
        for conv, reply in zip(conversations, responses):
            q = by_text.get(conv[-1]["content"].split("\n")[0])
            right = q is not None and reply == q["options"][LETTERS.index(q["answer"])]
            broken = self.wrong_every and q is not None and questions.index(q) % self.wrong_every == 0
            out.append((-9.0 if broken else 0.0) if right else -1.0)
        return np.array(out)


def test_the_cost_bound_holds_only_with_enough_questions_and_a_detected_cost_is_not_bounded():
    # 40 shipped (the fake ties their options: the same answer for both models) + 80 generated = 120 questions.
    same = mcq_cost(_FixedScores(), _FixedScores(), n_mcq=40, n_arithmetic=80)["cloze"]
    assert same["n_questions"] == 120 and same["accuracy_diff"]["estimate"] == 0
    assert same["bounded_at_0.05"]  # 120 questions can detect 0.05, and none changed
    worse = mcq_cost(_FixedScores(wrong_every=5), _FixedScores(), n_mcq=40, n_arithmetic=80)["cloze"]
    assert worse["accuracy_diff"]["estimate"] == pytest.approx(-16 / 120) and worse["accuracy_diff"]["effect"]
    assert not worse["bounded_at_0.05"]
