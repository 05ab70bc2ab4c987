"""The language model as a reader of who is speaking: a line's log-probability after "AI assistant:" minus
after "User:", in a written dialogue that holds nothing else. Above zero, the model reads the line as the
assistant's.

Why: every assistant-like share of issue 22 is read by classifiers that were trained (personae.llm.
assistant_likeness on 60 hand-written bank lines, personae.llm.real_lines on ShareGPT). The project's classifier
flags 19% of real users' lines, so a route's share near 10% sits inside its own error, and which of the lines
it flags really take the assistant's part is left to a reader's judgement. This reader trains nothing and
reads every line, simulated or real, in the same bare transcript, with zero (the even prior) as its threshold,
fixed before any reading. It is the *same model* that wrote the simulated lines, read unsteered and without the
persona's prompt: independent of the routes' prompts and steering, not of the model. `validate_reader` says
what it can tell apart, on lines it never wrote and on real people's lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from personae.llm.backends import LLMBackend

HEADER = "The following is a text-message conversation between a user and an AI assistant.\n\n"
ASSISTANT_LABEL, USER_LABEL = "AI assistant", "User"


@dataclass
class SpeakerAttribution:
    """A LineJudge (personae.llm.assistant_likeness) whose reading is the model's own speaker margin. Margins
    are cached by text, since the same reference lines are read against every route."""

    backend: LLMBackend
    validation: dict = field(default_factory=dict)
    _cache: dict[str, float] = field(default_factory=dict, repr=False)

    def margins(self, texts: list[str]) -> np.ndarray:
        """(n,) log P(text | "AI assistant:") - log P(text | "User:"), each after HEADER."""
        todo = sorted({t for t in texts if t not in self._cache}, key=len)  # similar lengths batch together
        if todo:
            prompts = [HEADER + label + ":" for _ in todo for label in (ASSISTANT_LABEL, USER_LABEL)]
            scored = self.backend.continuation_log_likelihood(prompts, [" " + t for t in todo for _ in range(2)])
            self._cache.update(zip(todo, (scored[0::2] - scored[1::2]).tolist()))
        return np.array([self._cache[t] for t in texts], dtype=np.float64)

    def is_assistant_like(self, texts: list[str]) -> np.ndarray:
        return self.margins(texts) > 0.0


def validate_reader(reader: SpeakerAttribution, user_lines: list[str], replies: list[str], *, n_null: int = 20,
                    seed: int = 0) -> dict:
    """The reader's record on (user line, reply) pairs it never saw, in the form every judge reports
    (assistant_likeness.heldout_validation, with no training lines): accuracy over the pairs beside the
    accuracy of its own flags against labels dealt at random (the null: a reading that knows nothing of who
    wrote the line), the share of user lines it calls the assistant (the floor of any share it reads) and of
    replies it calls a user; and the AUC of the raw margin, which needs no threshold."""
    from personae.llm.assistant_likeness import heldout_validation
    from personae.simulate.discriminator import auc

    if len(user_lines) != len(replies) or not user_lines:
        raise ValueError(f"validate_reader needs paired, non-empty lines and replies, got {len(user_lines)} and "
                         f"{len(replies)}")
    mu, mr = reader.margins(user_lines), reader.margins(replies)
    flags = np.concatenate([mu > 0, mr > 0])
    labels = np.concatenate([np.zeros(len(mu), bool), np.ones(len(mr), bool)])
    rng = np.random.default_rng(seed)
    null = np.array([np.mean(flags == rng.permutation(labels)) for _ in range(n_null)])
    out = heldout_validation(mu <= 0, mr > 0, null, 0, user_lines, replies)
    out["margin_auc"] = auc(np.concatenate([mu, mr]), labels.astype(float))
    return out
