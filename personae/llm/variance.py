"""Run-to-run versus cross-persona variance: ICC(1) over P personas x R repeated sampled runs.

ICC(1) (one-way random effects, Shrout & Fleiss) with its F-based interval and the shuffled-label null comes
from `personae.stats.icc1`, the one copy; this module only lays the answers out for it. Items are pooled by
stacking them as dimensions of one observation per (persona, run), so the sums of squares add over items (a
trace ICC: one figure for the whole questionnaire). ICC(1) <= 0.5 means run-to-run variance matches or
exceeds cross-persona variance (the published finding).
"""

from __future__ import annotations

import re
import time

import numpy as np

from personae.llm.backends import Conversation, LLMBackend


def as_observations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (P, R[, n_items[, D]]) -> values (P*R, n_items*D) and groups (P*R,) persona labels for icc1."""
    x = np.asarray(x, dtype=np.float64)
    p, r = x.shape[:2]
    if p < 2 or r < 2:
        raise ValueError(f"ICC needs at least 2 personas and 2 runs, got {p} x {r}")
    return x.reshape(p * r, -1), np.repeat(np.arange(p), r)


def icc_pooled(x: np.ndarray, unit: str = "personas", seed: int = 0):
    """personae.stats Interval for the pooled ICC(1) of x (P, R[, n_items[, D]]) with no NaN: F interval and
    the shuffled-label null in `.null`."""
    from personae.stats import icc1

    if np.isnan(x).any():
        raise ValueError("ICC input contains NaN (unparsed answers); drop those items first")
    values, groups = as_observations(x)
    return icc1(values, groups, unit=unit, seed=seed)


def icc_estimate(x: np.ndarray) -> float:
    """The pooled ICC(1) of x (P, R[, n_items[, D]]) alone (personae.stats.icc_value)."""
    from personae.stats import icc_value

    return float(icc_value(*as_observations(x)))


def icc1(x: np.ndarray) -> dict:
    """{"icc1": pooled ICC(1)} of x (P, R[, D]); kept for personae.simulate.run_stability, which should call
    personae.stats.icc_value directly."""
    return {"icc1": icc_estimate(x)}


def answered_items(x: np.ndarray) -> np.ndarray:
    """(n_items,) bool: items every persona answered in every run (an ICC needs complete rows)."""
    return ~np.isnan(x.reshape(x.shape[0], x.shape[1], x.shape[2], -1)).any(axis=(0, 1, 3))


def icc_over_items(x: np.ndarray) -> dict:
    """x (P, R, n_items[, D]): ICC(1) per item and pooled over the items every persona answered in every run
    (items with a NaN answer are skipped and counted), plus the pooled within-persona (run-to-run) variance."""
    keep = answered_items(x)
    per_item = [icc_estimate(x[:, :, j]) for j in np.flatnonzero(keep)]
    if not keep.any():
        return {"icc1_pooled": float("nan"), "icc1_per_item": [], "items_skipped": len(keep),
                "var_within_pooled": float("nan")}
    kept = x[:, :, keep]
    within = float(kept.reshape(kept.shape[0], kept.shape[1], -1).var(axis=1, ddof=1).mean(0).sum())
    return {"icc1_pooled": icc_estimate(kept), "icc1_per_item": per_item,
            "items_skipped": int((~keep).sum()), "var_within_pooled": within}


def icc_by_item(x: np.ndarray) -> list[dict]:
    """x (P, R, n_items) with NaN for unread answers: per item, ICC(1) over the answers that were read (groups
    may be unequal), or why there is none. Unlike the pooled figure, an item need not be complete."""
    from personae.stats import icc_value

    rows = []
    for j in range(x.shape[2]):
        answered = ~np.isnan(x[:, :, j])
        groups = np.nonzero(answered)[0]  # persona of each read answer
        counts = np.bincount(groups, minlength=x.shape[0])
        if (counts > 0).sum() < 2:
            rows.append({"item": j, "icc1": None, "n_answers": int(answered.sum()),
                         "why": f"answers read from {(counts > 0).sum()} persona(s); an ICC needs 2"})
        elif not (counts >= 2).any():
            rows.append({"item": j, "icc1": None, "n_answers": int(answered.sum()),
                         "why": "no persona has 2 read answers: run-to-run variance unknown"})
        else:
            value = icc_value(x[:, :, j][answered], groups)
            rows.append({"item": j, "icc1": None if not np.isfinite(value) else float(value),
                         "n_answers": int(answered.sum()),
                         "why": None if np.isfinite(value) else "every read answer is the same"})
    return rows


def icc_with_null(x: np.ndarray, unit: str = "personas", seed: int = 0) -> dict:
    """Pooled ICC(1) of x (P, R, n_items[, D]) over the fully answered items: the F-based interval and the
    shuffled-label null from personae.stats, and `persona_effect` (interval above zero and above the null)."""
    res = icc_over_items(x)
    if not np.isfinite(res["icc1_pooled"]):
        return {**res, "interval": None, "persona_effect": False,
                "note": "no item was answered by every persona in every run"}
    interval = icc_pooled(x[:, :, answered_items(x)], unit=unit, seed=seed)
    return {**res, "interval": interval.to_dict(), "persona_effect": persona_effect(interval)}


def persona_effect(interval) -> bool:
    """An ICC shows a persona effect when its interval excludes zero from above and the observed value beats
    the shuffled-label null at the 5% level."""
    return bool(interval.low > 0 and null_p_value(interval) < 0.05)


def null_p_value(interval) -> float:
    """One-sided p-value of the observed ICC against the shuffled-label null carried by the Interval
    (1.0 when there is none, e.g. no variance at all)."""
    return float((interval.null or {}).get("p_value", 1.0))


# ---------------------------------------------------------------------------------------------- measure


def _persona_system(name: str) -> str:
    return f"You are {'an' if name[0] in 'aeiou' else 'a'} {name}. Stay fully in character."


RATING_OPTIONS = ["1", "2", "3", "4", "5"]


def rating_conversations(personas: list[str], prompts: list[str]) -> list[Conversation]:
    """One chat per (persona, prompt), persona-major."""
    return [[{"role": "system", "content": _persona_system(p)}, {"role": "user", "content": q}]
            for p in personas for q in prompts]


_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_NUMBER = re.compile(r"\b(\d+(?:\.\d+)?|one|two|three|four|five)\b")


def parse_rating(text: str) -> tuple[float | None, str | None]:
    """A reply -> (rating 1-5, None), or (None, why it could not be read). The first number in the reply
    counts, as a digit or a word ("4", "I'd say four"); a first number outside 1-5 is not a rating."""
    if not text.strip():
        return None, "empty reply"
    m = _NUMBER.search(text.lower())
    if m is None:
        return None, "no number in the reply"
    word = m.group(1)
    value = float(_NUMBER_WORDS.get(word, word))
    if value not in (1.0, 2.0, 3.0, 4.0, 5.0):
        return None, f"first number {word} is not a rating 1-5"
    return value, None


def sample_ratings(backend: LLMBackend, personas: list[str], prompts: list[str], runs: int, *,
                   temperature: float = 1.0, seed: int = 0,
                   max_new_tokens: int = 8) -> tuple[np.ndarray, list[dict]]:
    """(P, R, n_items) answers 1-5, NaN where unparsed, and one record per unparsed answer (persona, run,
    item, the reply, why). Every run is an independent sampled generation with its own seed (seed + 1000 r):
    run-to-run variance is the variance of what the model actually says, not of draws from one fixed
    distribution. Local and remote backends are read the same way, from the reply text."""
    convs = rating_conversations(personas, prompts)
    out = np.full((len(personas), runs, len(prompts)), np.nan)
    unparsed = []
    for r in range(runs):
        replies = backend.chat(convs, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + 1000 * r)
        for i, text in enumerate(replies):
            p, j = divmod(i, len(prompts))
            value, why = parse_rating(text)
            if value is None:
                unparsed.append({"persona": p, "run": r, "item": j, "reply": text, "reason": why})
            else:
                out[p, r, j] = value
    return out, unparsed


def unparsed_by_item(unparsed: list[dict], prompts: list[str]) -> list[dict]:
    """Per item that lost answers: how many, the reasons with their counts, and one reply as an example."""
    rows = []
    for j, prompt in enumerate(prompts):
        mine = [u for u in unparsed if u["item"] == j]
        if mine:
            reasons: dict[str, int] = {}
            for u in mine:
                reasons[u["reason"]] = reasons.get(u["reason"], 0) + 1
            rows.append({"item": j, "prompt": prompt, "unparsed": len(mine), "reasons": reasons,
                         "example_reply": mine[0]["reply"]})
    return rows


def analytic_within_variance(probs: np.ndarray) -> float:
    """probs (P, n_items, 5): the first reply token's distribution over '1'..'5' (renormalised) per persona and
    item. The run-to-run variance that pure sampling noise from that distribution would give, summed over items
    and averaged over personas (comparable to `var_within_pooled`)."""
    k = np.arange(1, 6, dtype=np.float64)
    mean = (probs * k).sum(-1)
    var = (probs * k ** 2).sum(-1) - mean ** 2  # (P, n_items)
    return float(var.mean(0).sum())


def sample_free_text(backend: LLMBackend, personas: list[str], questions: list[str], runs: int, *,
                     max_new_tokens: int = 32, temperature: float = 1.0, seed: int = 0) -> list[list[list[str]]]:
    """[persona][run][question] sampled replies; run r uses seed + r."""
    convs = [[{"role": "system", "content": _persona_system(p)}, {"role": "user", "content": q}]
             for p in personas for q in questions]
    by_run = [backend.chat(convs, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + 7919 * r)
              for r in range(runs)]
    return [[[by_run[r][i * len(questions) + j] for j in range(len(questions))] for r in range(runs)]
            for i in range(len(personas))]


def run_icc(backend: LLMBackend, items: dict[str, list[str]], *, n_personas: int = 10, runs: int = 5,
            n_items: int = 20, n_open: int = 3, max_new_tokens: int = 32, temperature: float = 1.0,
            temperatures: tuple[float, ...] | None = None, seed: int = 0) -> dict:
    """ICC(1) on movie ratings and statement agreement (both 1-5) at each temperature of the sweep, each with
    its F-based interval over personas, the shuffled-label null, and the analytic sampling variance beside the
    observed run-to-run variance; and on MiniLM embeddings of free-text answers (first temperature; n_open=0
    skips it). Answers that could not be read are listed per item with the reason (`unparsed_by_item`); items
    without a complete set of answers leave the ICC. The top-level `movies`/`statements` are the first
    temperature's."""
    t0 = time.time()
    temps = tuple(temperatures) if temperatures else (temperature,)
    personas = items["personas"][:n_personas]
    movies = [f"Rate the movie \"{m}\" from 1 (hate it) to 5 (love it). Answer with a single digit."
              for m in items["movies"][:n_items]]
    statements = [f"\"{s}\" How much do you agree, from 1 (strongly disagree) to 5 (strongly agree)? "
                  "Answer with a single digit." for s in items["statements"][:n_items]]
    result: dict = {"personas": personas, "runs": runs, "temperatures": list(temps), "seed": seed,
                    "n_generations": 0, "by_temperature": []}
    for ti, t in enumerate(temps):
        row: dict = {"temperature": t}
        for ki, (name, prompts) in enumerate((("movies", movies), ("statements", statements))):
            # Own seeds per temperature and kind: shared random numbers would make the conditions look alike.
            x, unparsed = sample_ratings(backend, personas, prompts, runs, temperature=t,
                                         seed=seed + 100_000 * ti + 10_000 * ki)
            result["n_generations"] += x.size
            answered = ~np.isnan(x)
            row[name] = {**icc_with_null(x), "n_items": len(prompts), "unparsed_share": float(np.isnan(x).mean()),
                         "unparsed_by_item": unparsed_by_item(unparsed, prompts), "icc_by_item": icc_by_item(x),
                         "mean_answer_by_persona": [float(x[p][answered[p]].mean()) if answered[p].any() else None
                                                    for p in range(len(personas))], "answers": x}
            if backend.supports_hidden_states and t > 0:
                probs = backend.choose(rating_conversations(personas, prompts), RATING_OPTIONS, temperature=t)
                row[name]["var_within_analytic"] = analytic_within_variance(
                    probs.reshape(len(personas), len(prompts), 5))
        result["by_temperature"].append(row)
    result.update(movies=result["by_temperature"][0]["movies"], statements=result["by_temperature"][0]["statements"],
                  temperature=temps[0])
    if n_open > 0:
        from personae.llm.embeddings import embed

        questions = items["open_questions"][:n_open]
        texts = sample_free_text(backend, personas, questions, runs, max_new_tokens=max_new_tokens,
                                 temperature=temps[0], seed=seed)
        flat = [t for per in texts for run in per for t in run]
        e = embed(flat).reshape(len(personas), runs, len(questions), -1)  # (P, R, Q, 384)
        result["n_generations"] += len(flat)
        result["free_text"] = {**icc_with_null(e), "n_questions": len(questions),
                               "max_new_tokens": max_new_tokens,
                               "examples": {p: texts[i][0][0] for i, p in enumerate(personas[:4])}}
    result["seconds"] = round(time.time() - t0, 1)
    return result


def plot_icc(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    kinds = [k for k in ("movies", "statements", "free_text") if k in result and result[k].get("interval")]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    vals = np.array([result[k]["icc1_pooled"] for k in kinds])
    ci = np.array([[result[k]["interval"]["low"], result[k]["interval"]["high"]] for k in kinds]).reshape(-1, 2)
    ax.bar(kinds, vals, yerr=np.abs(ci.T - vals), color=["C0", "C1", "C2"][:len(kinds)], capsize=3,
           label="ICC(1), F-based 95% interval")
    ax.axhline(0.5, color="gray", ls=":", label="run-to-run = cross-persona")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(ylabel="ICC(1), pooled over items", ylim=(min(0, *ci.ravel()) - 0.05 if len(ci) else -0.1, 1),
           title=f"{len(result['personas'])} personas x {result['runs']} runs")
    ax.legend(fontsize=7)
    save_figure(fig, path)
