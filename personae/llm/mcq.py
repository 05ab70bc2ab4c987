"""Capability cost on a chat-formatted task with checkable answers: the shipped 4-option multiple-choice set.

Two ways to score it. By letter: the answer letter the model puts first (argmax of its next-token probability
over A-D); small models sit near chance this way (Qwen2.5-Coder-0.5B: 0.35 on the shipped set, issue 22), so a
cost has little to take away. By answer (cloze): the question alone, then each option's summed log-likelihood as
the reply; the option the model finds likeliest is its answer (the same 0.5B: 0.85). Generated arithmetic
questions add as many paired questions as a bound on the cost needs."""

from __future__ import annotations

import numpy as np

from personae.llm.backends import Conversation, LLMBackend

LETTERS = ["A", "B", "C", "D"]


def mcq_conversation(q: dict, system: str | None = None) -> Conversation:
    body = q["question"] + "\n" + "\n".join(f"{k}. {o}" for k, o in zip(LETTERS, q["options"]))
    msgs: Conversation = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": body + "\nAnswer with the letter of the correct option only."}]


def mcq_correct(backend: LLMBackend, questions: list[dict], system: str | None = None) -> np.ndarray:
    """(n,) 1.0 where the most probable first letter is the right answer."""
    probs = backend.choose([mcq_conversation(q, system) for q in questions], LETTERS)  # (n, 4)
    return (probs.argmax(1) == np.array([LETTERS.index(q["answer"]) for q in questions])).astype(np.float64)


def mcq_correct_probability(backend: LLMBackend, questions: list[dict],
                            system: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n,) right (1.0 where the most probable letter is the answer) and (n,) the probability given to the
    right letter: a finer measure than accuracy when a change moves probabilities but flips no answer."""
    probs = backend.choose([mcq_conversation(q, system) for q in questions], LETTERS)  # (n, 4)
    answer = np.array([LETTERS.index(q["answer"]) for q in questions])
    return (probs.argmax(1) == answer).astype(np.float64), probs[np.arange(len(questions)), answer]


def smallest_detectable_difference(n_questions: int, alpha: float = 0.05) -> float:
    """The smallest accuracy difference that n paired questions can show at all: the fewest discordant
    questions, all moving one way, that an exact two-sided sign test rejects at `alpha`, over n. Any smaller
    difference is "not shown" whatever happened, so "no MCQ cost" means only "none as large as this"."""
    discordant = 1
    while 2 * 0.5 ** discordant > alpha:
        discordant += 1
    return discordant / n_questions if n_questions else float("inf")


def mcq_cloze_conversation(q: dict, system: str | None = None) -> Conversation:
    """The question without its options: the options are scored as replies, not read as a list."""
    msgs: Conversation = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": q["question"] + "\nAnswer with the answer only."}]


def mcq_cloze_correct_probability(backend: LLMBackend, questions: list[dict],
                                  system: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n,) right (1.0 where the option with the highest summed log-likelihood is the answer) and (n,) the
    probability of the right option (softmax of the four log-likelihoods). Summed, not per token, so a longer
    option pays for every token it adds (digits are single tokens, so "9" beside "10" is favoured). The reply's
    end-of-turn token is not scored, so an option that is a prefix of another ("1" beside "11") always beats
    it: 5 of the 160 default generated questions hold such a pair. Both biases are the same for the two models
    a cost compares, so they sit in accuracy levels more than in paired differences."""
    convs = [mcq_cloze_conversation(q, system) for q in questions]
    loglik = backend.response_log_likelihood([c for c in convs for _ in LETTERS],
                                             [str(o) for q in questions for o in q["options"]])
    loglik = loglik.reshape(len(questions), len(LETTERS))
    answer = np.array([LETTERS.index(q["answer"]) for q in questions])
    probs = np.exp(loglik - loglik.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return (loglik.argmax(1) == answer).astype(np.float64), probs[np.arange(len(questions)), answer]


def arithmetic_questions(n: int, seed: int = 0) -> list[dict]:
    """`n` generated questions, two-digit addition and subtraction, each with three near-miss distractors
    (off by 1, 10 or 11): a capability any route must keep, in as many paired questions as a bound needs. Seeded,
    so every route and run scores the same questions."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a, b = (int(x) for x in rng.integers(11, 90, size=2))
        if i % 2:
            a, b = max(a, b), min(a, b)
            question, right = f"What is {a} - {b}?", a - b
        else:
            question, right = f"What is {a} + {b}?", a + b
        wrong = [w for w in (right + 1, right - 1, right + 10, right - 10, right + 11) if w >= 0]
        options = [right, *rng.choice(wrong, size=3, replace=False).tolist()]
        order = rng.permutation(4)
        options = [options[k] for k in order]
        out.append({"question": question, "options": [str(o) for o in options],
                    "answer": LETTERS[int(np.flatnonzero(order == 0)[0])]})
    return out
