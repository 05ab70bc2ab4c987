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
    are cached by text, since the same reference lines are read against every route. `validation` holds the
    records `validate_reader` wrote, by the name of the pairs it read."""

    backend: LLMBackend
    validation: dict = field(default_factory=dict)
    _cache: dict[str, float] = field(default_factory=dict, repr=False)

    def margins(self, texts: list[str]) -> np.ndarray:
        """(n,) log P(text | "AI assistant:") - log P(text | "User:"), each after HEADER."""
        # Read in a fixed order (length, then text), so batches, padding and so every margin are reproducible.
        todo = sorted({t for t in texts if t not in self._cache}, key=lambda t: (len(t), t))
        if todo:
            prompts = [HEADER + label + ":" for _ in todo for label in (ASSISTANT_LABEL, USER_LABEL)]
            scored = self.backend.continuation_log_likelihood(prompts, [" " + t for t in todo for _ in range(2)])
            self._cache.update(zip(todo, (scored[0::2] - scored[1::2]).tolist()))
        return np.array([self._cache[t] for t in texts], dtype=np.float64)

    def is_assistant_like(self, texts: list[str]) -> np.ndarray:
        return self.margins(texts) > 0.0


def validate_reader(reader: SpeakerAttribution, user_lines: list[str], replies: list[str], name: str, *,
                    seed: int = 0) -> dict:
    """The reader's record on (user line, reply) pairs it never saw: accuracy over pairs (t interval), the AUC
    of the raw margin, which needs no threshold (bootstrap over pairs, null 0.5), the share of user lines it
    calls the assistant (the floor of any share it reads) and of replies it calls a user. The reader trains
    nothing, so a shuffled-label null says nothing here; its control is this same record on pairs whose two
    sides are both user lines, where accuracy and AUC must read 0.5. Stored in reader.validation[name]."""
    from personae.simulate.discriminator import auc
    from personae.stats import binomial_interval, bootstrap_interval, mean_interval

    n = len(user_lines)
    if n != len(replies) or n < 2:
        raise ValueError(f"validate_reader needs paired lines and replies, at least 2 of each, got {n} and "
                         f"{len(replies)}")
    mu, mr = reader.margins(user_lines), reader.margins(replies)
    right = ((mu <= 0).astype(float) + (mr > 0).astype(float)) / 2  # each pair: both sides read right = 1

    def pair_auc(idx: np.ndarray) -> float:
        return auc(np.concatenate([mu[idx], mr[idx]]), np.r_[np.zeros(len(idx)), np.ones(len(idx))])

    record = {"n_pairs": n,
              "accuracy": mean_interval(right, unit="pairs").to_dict(),
              "margin_auc": bootstrap_interval(pair_auc, n, unit="pairs", seed=seed, null_value=0.5).to_dict(),
              "user_lines_called_the_assistant": binomial_interval(int((mu > 0).sum()), n,
                                                                   unit="user lines").to_dict(),
              "replies_called_a_user": binomial_interval(int((mr <= 0).sum()), n, unit="replies").to_dict()}
    reader.validation[name] = record
    return record
