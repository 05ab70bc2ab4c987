"""An assistant-likeness judge that reads how a line is written: word and character n-grams.

Why: the MiniLM classifiers read what a line is about more than how it is said. Trained on ShareGPT's real
users against the openings of ChatGPT's replies to them (cut to the line's length), MiniLM with logistic
regression tells them apart 0.68 of the time on held-out pairs; word 1-2-grams with character 2-5-grams reach
0.90 on the same pairs. A real assistant is recognised by its register ("I apologize for the confusion",
"Sure, here is a list"), which is in its words and punctuation, not in its topic. The settings below (tf-idf
with sublinear counts, terms seen at least twice, C = 4, lower-cased) were the first tried; the three feature
sets were compared once, on 1,000 pairs, before this judge read any simulated line (a one-off, not recorded),
and none was tuned. The recorded control is MiniLM on this judge's own pairs (bench/llm_users.py
--real-lines).

The vocabulary is fitted on the training lines only, so a held-out line's words carry no weight they did not
earn in training. Nothing is saved: the judge is rebuilt from the pinned data in seconds, so it is never
pickled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from personae.llm.assistant_likeness import heldout_validation, split_lines

INVERSE_REGULARISATION = 4.0


@dataclass
class NgramJudge:
    """P(assistant-like | text) from tf-idf word and character n-grams, by logistic regression."""

    vectorizers: tuple  # fitted sklearn TfidfVectorizer: words (1-2), characters within words (2-5)
    classifier: object  # fitted sklearn LogisticRegression
    validation: dict  # held-out accuracy interval, shuffled-label null, sizes

    def features(self, texts: list[str]):
        return _features(self.vectorizers, texts)

    def probability(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        return self.classifier.predict_proba(self.features(texts))[:, 1]

    def is_assistant_like(self, texts: list[str]) -> np.ndarray:
        return self.probability(texts) > 0.5

    def heaviest_terms(self, n: int = 15) -> dict[str, list[str]]:
        """The n terms whose weights push hardest toward each side, so a reader can see what it reads
        (character n-grams are shown in quotes with their spaces)."""
        names = [f"w:{t}" for t in self.vectorizers[0].get_feature_names_out()]
        names += [f"c:{t!r}" for t in self.vectorizers[1].get_feature_names_out()]
        order = np.argsort(self.classifier.coef_[0])
        return {"user": [names[i] for i in order[:n]], "assistant": [names[i] for i in order[::-1][:n]]}


def _features(vectorizers: tuple, texts: list[str]):
    from scipy.sparse import hstack

    return hstack([v.transform(texts) for v in vectorizers]).tocsr()


def _fit(x, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=INVERSE_REGULARISATION, max_iter=2000).fit(x, y)


def train_ngram_judge(user_lines: list[str], replies: list[str], *, heldout_share: float = 1 / 3,
                      n_null: int = 20, seed: int = 0) -> NgramJudge:
    """Fit the vocabulary and the classifier on the training lines and their replies (user line = 0, reply =
    1); validate on the held-out ones beside `n_null` classifiers trained on shuffled labels, with the same
    record as the MiniLM classifier (assistant_likeness.heldout_validation)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(user_lines) != len(replies):
        raise ValueError(f"one reply per user line: {len(user_lines)} lines, {len(replies)} replies")
    train, held = split_lines(len(user_lines), heldout_share, seed)
    texts = [user_lines[i] for i in train] + [replies[i] for i in train]
    y = np.concatenate([np.zeros(len(train)), np.ones(len(train))])
    vectorizers = (TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts),
                   TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True).fit(texts))
    x = _features(vectorizers, texts)
    held_users, held_replies = [user_lines[i] for i in held], [replies[i] for i in held]
    x_users, x_replies = _features(vectorizers, held_users), _features(vectorizers, held_replies)

    def right(classifier) -> tuple[np.ndarray, np.ndarray]:
        return classifier.predict_proba(x_users)[:, 1] <= 0.5, classifier.predict_proba(x_replies)[:, 1] > 0.5

    classifier = _fit(x, y)
    right_user, right_reply = right(classifier)
    null = np.array([np.mean(np.concatenate(right(_fit(x, np.random.default_rng(seed + 1 + k).permutation(y)))))
                     for k in range(n_null)])
    return NgramJudge(vectorizers, classifier,
                      heldout_validation(right_user, right_reply, null, len(train), held_users, held_replies))
