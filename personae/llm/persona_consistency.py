"""Text consistency of a persona over a multi-turn dialogue (after arXiv:2511.00222), scored by an LLM judge.

- prompt-to-line: is each reply consistent with the persona prompt?
- line-to-line:   is each reply consistent with the persona's previous replies?
- Q&A:            probe questions asked at the start and again at the end: do the two answers agree?
- drift:          the fall of prompt-to-line consistency over the turns (first half minus second half, slope).
A control scores each reply against *another* persona's prompt: a judge that cannot tell the two apart
(matched - mismatched ~ 0) is not measuring consistency at all.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from personae.llm.backends import BackendError, Conversation, LLMBackend
from personae.llm.dialogue import run_dialogues

JUDGE_SYSTEM = "You are a strict, careful evaluator of whether a character stays consistent. Answer YES or NO."

_WORD = re.compile(r"[a-z]+")
_RATIO = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)")
_CONTRACTION = re.compile(r"n['\u2019]t\b")  # isn't, doesn't, don't (straight or curly apostrophe) -> "is not"
_POSITIVE = {"yes", "true", "consistent", "agree", "agrees"}
_NEGATIVE = {"no", "false", "inconsistent", "disagree", "disagrees", "contradicts", "contradict", "contradiction",
             "contradictions", "inconsistency", "inconsistencies"}
_NEGATORS = {"not", "no", "never", "hardly", "barely"}
_UNSURE = {"sure", "know", "certain"}  # "not sure", "don't know": no answer, not a no


def parse_judgement(text: str) -> float | None:
    """A judge's reply -> score in [0, 1], or None if nothing usable. The first answer word wins: YES/NO,
    true/false, consistent/inconsistent, agree/contradict, or ratios like '7/10', '4 out of 5'.

    Negation flips an answer word within the three words before it ("isn't consistent", "not really
    consistent" -> 0; "doesn't contradict", "no contradiction" -> 1), and a "not" with no answer word just
    after it is itself a no ("Not really.", "It doesn't fit.")."""
    low = _CONTRACTION.sub(" not", text.lower())
    m = _RATIO.search(low)
    words = _WORD.findall(low)
    for i, w in enumerate(words):
        after, before = words[i + 1:i + 3], words[max(0, i - 3):i]
        if w in _NEGATORS and any(a in _POSITIVE | _NEGATIVE for a in (after[:1] if w == "no" else after)):
            continue  # the answer word that follows carries the meaning ("no contradiction", "not consistent")
        if w == "not" and after[:1] and after[0] in _UNSURE:
            return None
        negated = any(b in _NEGATORS for b in before)
        if w in _POSITIVE:
            return 0.0 if negated else 1.0
        if w in _NEGATIVE or w == "not":
            return 1.0 if negated and w != "not" else 0.0
    if m:
        num, den = float(m.group(1)), float(m.group(2))
        if den > 0 and 0 <= num <= den:
            return num / den
    return None


def judge_prompt_to_line(persona: str, line: str) -> Conversation:
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"Character description:\n{persona}\n\nSomething the character said:\n\"{line}\"\n\n"
                                        "Is what they said consistent with the character description? Answer YES or NO."}]


def judge_line_to_line(previous: list[str], line: str) -> Conversation:
    prev = "\n".join(f"- \"{p}\"" for p in previous)
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"Earlier, a character said:\n{prev}\n\nLater the same character said:\n\"{line}\"\n\n"
                                        "Is the later statement consistent with the earlier ones (no contradiction)? "
                                        "Answer YES or NO."}]


def judge_qa(question: str, first: str, second: str) -> Conversation:
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"A character was asked twice: \"{question}\"\nFirst answer: \"{first}\"\n"
                                        f"Second answer: \"{second}\"\n\nDo the two answers agree? Answer YES or NO."}]


class Judge:
    """Scores YES/NO questions with a backend. Local: P(yes) / (P(yes) + P(no)) from the first reply token
    (never unparsed); remote: the reply text through `parse_judgement` (None when unusable)."""

    def __init__(self, backend: LLMBackend, temperature: float = 0.0, seed: int = 0):
        self.backend, self.temperature, self.seed = backend, temperature, seed

    def score(self, convs: list[Conversation]) -> list[float | None]:
        if not convs:
            return []
        if self.backend.supports_hidden_states:
            try:
                p = self.backend.choose(convs, ["Yes", "No", "YES", "NO"])
                yes, no = p[:, 0] + p[:, 2], p[:, 1] + p[:, 3]
            except BackendError:  # a tokenizer where the spellings collide
                p = self.backend.choose(convs, ["Yes", "No"])
                yes, no = p[:, 0], p[:, 1]
            return (yes / (yes + no)).tolist()
        replies = self.backend.chat(convs, max_new_tokens=16, temperature=self.temperature, seed=self.seed)
        return [parse_judgement(r) for r in replies]


def _mean(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(np.mean(vals)) if vals else None


def discrimination_interval(per_persona: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Own-persona minus mismatched-persona prompt-to-line score, paired over the personas that have both: does
    the judge tell personas apart beyond its noise? None below 2 such personas (no interval exists)."""
    from personae.stats import compare_paired

    pairs = [(p["prompt_to_line"], p["prompt_to_line_mismatched"]) for p in per_persona
             if p["prompt_to_line"] is not None and p["prompt_to_line_mismatched"] is not None]
    if len(pairs) < 2:
        return None
    own, mismatched = np.array(pairs, dtype=np.float64).T
    return compare_paired(own, mismatched, unit="personas", seeded=False).to_dict()


def run_consistency(backend: LLMBackend, personas: list[dict], partner_turns: list[str], probes: list[str], *,
                    judge: Judge | None = None, n_turns: int = 6, n_probes: int = 2, max_new_tokens: int = 32,
                    history_turns: int = 4, seed: int = 0) -> dict[str, Any]:
    """Each persona talks through: probes, then `n_turns` scripted partner turns, then the probes again.
    Returns per-persona and overall scores; every score is a mean of judge scores in [0, 1]."""
    t0 = time.time()
    judge = judge or Judge(backend, seed=seed)
    probes = probes[:n_probes]
    script = probes + partner_turns[:n_turns] + probes
    transcripts = run_dialogues(backend, [p["prompt"] for p in personas], [script] * len(personas),
                                max_new_tokens=max_new_tokens, seed=seed, capture_hidden=False,
                                history_turns=history_turns)
    k = len(probes)
    per_persona, p2l_by_turn = [], []
    for idx, (persona, tr) in enumerate(zip(personas, transcripts)):
        lines = tr.replies()
        other = personas[(idx + 1) % len(personas)]["prompt"]
        p2l = judge.score([judge_prompt_to_line(persona["prompt"], ln) for ln in lines])
        control = judge.score([judge_prompt_to_line(other, ln) for ln in lines]) if len(personas) > 1 else []
        l2l = judge.score([judge_line_to_line(lines[max(0, t - 3):t], lines[t]) for t in range(1, len(lines))])
        qa = judge.score([judge_qa(q, lines[j], lines[len(lines) - k + j]) for j, q in enumerate(probes)])
        p2l_by_turn.append([np.nan if s is None else s for s in p2l])
        half = len(p2l) // 2
        per_persona.append({
            "name": persona["name"], "prompt_to_line": _mean(p2l), "prompt_to_line_mismatched": _mean(control),
            "line_to_line": _mean(l2l), "qa": _mean(qa), "prompt_to_line_by_turn": p2l,
            "drift_first_minus_second_half": (_mean(p2l[:half]) or 0.0) - (_mean(p2l[half:]) or 0.0),
            "unparsed": sum(s is None for s in p2l + control + l2l + qa), "transcript": tr.to_dict()})
    by_turn = np.nanmean(np.array(p2l_by_turn, dtype=float), axis=0)  # (turns,)
    t = np.arange(len(by_turn), dtype=float)
    ok = ~np.isnan(by_turn)

    def overall(key: str) -> float | None:
        return _mean([p[key] for p in per_persona])

    p2l_all, ctrl_all = overall("prompt_to_line"), overall("prompt_to_line_mismatched")
    return {"judge_discrimination_interval": discrimination_interval(per_persona),"n_personas": len(personas), "n_turns": len(script), "n_probes": k, "max_new_tokens": max_new_tokens,
            "judge": getattr(judge.backend, "name", "?"), "prompt_to_line": p2l_all,
            "prompt_to_line_mismatched": ctrl_all,
            "judge_discrimination": None if p2l_all is None or ctrl_all is None else p2l_all - ctrl_all,
            "line_to_line": overall("line_to_line"), "qa": overall("qa"),
            "prompt_to_line_by_turn": by_turn.tolist(),
            "drift_slope_per_turn": float(np.polyfit(t[ok], by_turn[ok], 1)[0]) if ok.sum() >= 2 else None,
            "drift_first_minus_second_half": overall("drift_first_minus_second_half"),
            "unparsed": int(sum(p["unparsed"] for p in per_persona)),
            "personas": per_persona, "seconds": round(time.time() - t0, 1)}


def plot_consistency(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    keys = ["prompt_to_line", "prompt_to_line_mismatched", "line_to_line", "qa"]
    a1.bar(["prompt-line", "mismatched\n(control)", "line-line", "Q&A"],
           [result[k] if result[k] is not None else 0 for k in keys], color=["C0", "gray", "C1", "C2"])
    a1.tick_params(axis="x", labelsize=7)
    a1.set(ylim=(0, 1), ylabel="judge score (0-1)", title="Consistency")
    a2.plot(range(1, len(result["prompt_to_line_by_turn"]) + 1), result["prompt_to_line_by_turn"], "o-")
    a2.set(xlabel="turn", ylabel="prompt-to-line", ylim=(0, 1), title="Prompt-to-line over turns")
    save_figure(fig, path)
