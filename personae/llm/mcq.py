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
