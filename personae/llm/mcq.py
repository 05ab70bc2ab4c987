"""Capability cost on a chat-formatted task with checkable answers: the shipped 4-option multiple-choice set,
scored by the answer letter the model puts first (argmax of its next-token probability over A-D)."""

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
