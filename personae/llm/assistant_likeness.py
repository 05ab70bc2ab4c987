"""Is a simulated user's turn written like the assistant? Two readings that do not use the persona axis.

- A classifier on MiniLM sentence embeddings (L2-regularised logistic regression), trained on the model's own
  default replies (what it says, with no system prompt, to a user's line) against the user-style lines of
  `personae/llm/data/user_lines.json` (written for personae; provenance in the file). Lines are split into
  training and held-out lines, and each line's default reply goes with it, so no held-out text, nor the reply
  to a held-out line, is seen in training. Its held-out accuracy is reported with an interval over held-out
  lines and beside a shuffled-label null (the same classifier trained on labels dealt at random), and so is
  the share of held-out user-style lines it flags: the floor of any route's assistant-like share.
- The share of turns that offer help or present the speaker as an AI (`offers_help_or_ai`): a fixed list of
  the assistant's stock phrases, written before any route was run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from personae.llm.backends import LLMBackend

_ASSISTANT_PHRASES = re.compile(
    r"\b(how (?:can|may|could) i (?:help|assist)|i(?:'m| am) (?:here|happy|glad) to (?:help|assist)"
    r"|(?:happy|glad) to help|let me know if|feel free to|is there anything (?:else )?i can"
    r"|i(?:'m| am) (?:an|a) (?:ai|artificial intelligence|language model|virtual assistant|chatbot|assistant)"
    r"|as an (?:ai|artificial intelligence|language model|assistant)|ai assistant|language model"
    r"|i can help you|i'd be happy to|i would be happy to|what can i do for you|assist you)\b", re.IGNORECASE)


def offers_help_or_ai(text: str) -> bool:
    """True when the text offers help in the assistant's stock phrases or says it is an AI."""
    return bool(_ASSISTANT_PHRASES.search(text))


def default_replies(backend: LLMBackend, lines: list[str], *, max_new_tokens: int = 32, seed: int = 0) -> list[str]:
    """The model's default persona speaking: its greedy reply to each user line, no system prompt."""
    return backend.chat([[{"role": "user", "content": line}] for line in lines], max_new_tokens=max_new_tokens,
                        temperature=0.0, seed=seed)


def split_lines(n_lines: int, heldout_share: float = 1 / 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Line indices for training and held-out validation (a seeded permutation)."""
    order = np.random.default_rng(seed).permutation(n_lines)
    n_held = max(2, round(n_lines * heldout_share))
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 200) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by L-BFGS on (n, d) features and (n,) 0/1 labels -> (w (d,), b)."""
    import torch

    xt, yt = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + l2 * (w @ w)
        value.backward()
        return value

    opt.step(loss)
    return w.detach().numpy(), float(b.item())


class LineJudge(Protocol):
    """Anything that calls lines the assistant's: the MiniLM classifier here, personae.llm.ngram_judge."""

    validation: dict

    def is_assistant_like(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class AssistantLikeness:
    """The trained classifier: P(assistant-like | text) from a MiniLM embedding."""

    weights: np.ndarray  # (384,)
    bias: float
    validation: dict  # held-out accuracy interval, shuffled-label null, sizes

    def probability(self, texts: list[str]) -> np.ndarray:
        from personae.llm.embeddings import embed

        if not texts:
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(-(embed(texts).astype(np.float64) @ self.weights + self.bias)))

    def is_assistant_like(self, texts: list[str]) -> np.ndarray:
        return self.probability(texts) > 0.5


def heldout_accuracy(x_user: np.ndarray, x_reply: np.ndarray, train: np.ndarray, held: np.ndarray,
                     labels_seed: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit on the training lines (user line = 0, its default reply = 1) and score the held-out lines.
    labels_seed: deal the training labels at random instead (the shuffled-label null).
    Returns (w, b) and two (n_held,) booleans: each held-out user line read as a user, each reply as the
    assistant (a line's accuracy is their mean)."""
    x = np.concatenate([x_user[train], x_reply[train]])
    y = np.concatenate([np.zeros(len(train)), np.ones(len(train))])
    if labels_seed is not None:
        y = np.random.default_rng(labels_seed).permutation(y)
    w, b = fit_logistic(x, y)
    return w, b, (x_user[held] @ w + b) < 0, (x_reply[held] @ w + b) > 0


def heldout_validation(right_user: np.ndarray, right_reply: np.ndarray, null_accuracies: np.ndarray, n_train: int,
                       heldout_users: list[str], heldout_replies: list[str]) -> dict:
    """A judge's validation record from its held-out readings: accuracy with its interval over held-out lines
    (personae.stats) beside the shuffled-label null, and the two error shares; every judge reports these."""
    from personae.stats import binomial_interval, mean_interval

    per_line = (right_user.astype(float) + right_reply.astype(float)) / 2
    flagged, missed = int((~right_user).sum()), int((~right_reply).sum())  # user lines as the assistant, and back
    accuracy = mean_interval(per_line, unit="held-out lines")
    n_held = len(per_line)
    return {"heldout_accuracy": accuracy.to_dict(), "n_train_lines": n_train, "n_heldout_lines": n_held,
            "shuffled_label_accuracy_mean": float(null_accuracies.mean()),
            "shuffled_label_accuracy_max": float(null_accuracies.max()),
            "n_null": len(null_accuracies), "beats_chance": bool(accuracy.low > 0.5),
            # The floor of every assistant-like share: what it flags among held-out user lines. A simulator as
            # good as those lines would read this, not 0.
            "user_lines_flagged": binomial_interval(flagged, n_held, unit="held-out user lines").to_dict(),
            "replies_missed": binomial_interval(missed, n_held, unit="held-out default replies").to_dict(),
            "heldout_lines": heldout_users[:3], "heldout_replies": heldout_replies[:3]}


def train_assistant_likeness(user_lines: list[str], replies: list[str], *, heldout_share: float = 1 / 3,
                             n_null: int = 20, seed: int = 0) -> AssistantLikeness:
    """Train on the training lines and their replies; validate on the held-out ones (interval over held-out
    lines from personae.stats) beside `n_null` classifiers trained on shuffled labels."""
    from personae.llm.embeddings import embed

    if len(user_lines) != len(replies):
        raise ValueError(f"one default reply per user line: {len(user_lines)} lines, {len(replies)} replies")
    x_user = embed(user_lines).astype(np.float64)
    x_reply = embed(replies).astype(np.float64)
    train, held = split_lines(len(user_lines), heldout_share, seed)
    w, b, right_user, right_reply = heldout_accuracy(x_user, x_reply, train, held)
    null = np.array([np.mean(heldout_accuracy(x_user, x_reply, train, held, labels_seed=seed + 1 + k)[2:])
                     for k in range(n_null)])
    return AssistantLikeness(w, b, heldout_validation(right_user, right_reply, null, len(train),
                                                      [user_lines[i] for i in held], [replies[i] for i in held]))
