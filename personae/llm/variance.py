"""Run-to-run versus cross-persona variance: ICC(1) over P personas x R repeated sampled runs.

ICC(1) (one-way random effects, Shrout & Fleiss) from the one-way ANOVA with personas as groups:
    MSB = R * sum_p (mean_p - grand)^2 / (P - 1),   MSW = sum_{p,r} (x_pr - mean_p)^2 / (P (R - 1))
    var_between = (MSB - MSW) / R,   var_within = MSW
    ICC(1) = var_between / (var_between + var_within) = (MSB - MSW) / (MSB + (R - 1) MSW)
ICC(1) <= 0.5 means run-to-run variance matches or exceeds cross-persona variance (the published finding).
For embeddings (P, R, D) the sums of squares add over dimensions (a trace / distance-based ICC).
"""

from __future__ import annotations

import time

import numpy as np

from personae.llm.backends import Conversation, LLMBackend, match_option
from personae.llm.stats import bootstrap_units, null_summary


def anova_components(x: np.ndarray) -> tuple[float, float]:
    """x (P, R) or (P, R, D) -> (MSB, MSW), summed over D. NaNs are not allowed: drop such items first."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[..., None]
    p, r, _ = x.shape
    if p < 2 or r < 2:
        raise ValueError(f"ICC needs at least 2 personas and 2 runs, got {p} x {r}")
    if np.isnan(x).any():
        raise ValueError("ICC input contains NaN (unparsed answers); drop those items first")
    means = x.mean(1)  # (P, D)
    grand = means.mean(0)  # (D,)
    msb = r * ((means - grand) ** 2).sum() / (p - 1)
    msw = ((x - means[:, None]) ** 2).sum() / (p * (r - 1))
    return float(msb), float(msw)


def icc1(x: np.ndarray) -> dict:
    """ICC(1) of x (P personas, R runs[, D dims]) with its variance components.
    `icc1` is NaN when there is no variance at all (every answer identical)."""
    msb, msw = anova_components(x)
    r = np.asarray(x).shape[1]
    denom = msb + (r - 1) * msw
    var_between = (msb - msw) / r
    return {"icc1": (msb - msw) / denom if denom > 0 else float("nan"), "var_between": var_between,
            "var_within": msw, "msb": msb, "msw": msw}


def icc_over_items(x: np.ndarray) -> dict:
    """x (P, R, n_items[, D]): ICC(1) per item (items with NaN or no variance are skipped), the mean over
    items, and the pooled components (MS summed over items: one ICC for the whole questionnaire)."""
    per_item, msb_sum, msw_sum, skipped = [], 0.0, 0.0, 0
    r = x.shape[1]
    for j in range(x.shape[2]):
        xi = x[:, :, j]
        if np.isnan(xi).any():
            skipped += 1
            continue
        res = icc1(xi)
        msb_sum += res["msb"]
        msw_sum += res["msw"]
        if np.isnan(res["icc1"]):
            skipped += 1
            continue
        per_item.append(res["icc1"])
    denom = msb_sum + (r - 1) * msw_sum
    pooled = (msb_sum - msw_sum) / denom if denom > 0 else float("nan")
    return {"icc1_mean": float(np.mean(per_item)) if per_item else float("nan"),
            "icc1_pooled": float(pooled), "icc1_per_item": per_item,
            "var_between_pooled": (msb_sum - msw_sum) / r, "var_within_pooled": msw_sum,
            "run_to_run_ge_cross_persona": bool(msw_sum >= (msb_sum - msw_sum) / r), "items_skipped": skipped}


# ---------------------------------------------------------------------------------------------- measure


def _persona_system(name: str) -> str:
    return f"You are {'an' if name[0] in 'aeiou' else 'a'} {name}. Stay fully in character."


RATING_OPTIONS = ["1", "2", "3", "4", "5"]


def rating_conversations(personas: list[str], prompts: list[str]) -> list[Conversation]:
    """One chat per (persona, prompt), persona-major."""
    return [[{"role": "system", "content": _persona_system(p)}, {"role": "user", "content": q}]
            for p in personas for q in prompts]


def sample_ratings(backend: LLMBackend, personas: list[str], prompts: list[str], runs: int, *,
                   temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 4) -> np.ndarray:
    """(P, R, n_items) answers 1-5, NaN where unparsed. Every run is an independent sampled generation with
    its own seed (seed + 1000 r), whose reply is parsed for the first digit 1-5: run-to-run variance is the
    variance of what the model actually says, not of draws from one fixed distribution."""
    convs = rating_conversations(personas, prompts)
    out = np.full((len(personas), runs, len(prompts)), np.nan)
    for r in range(runs):
        replies = backend.chat(convs, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + 1000 * r)
        vals = [match_option(t, RATING_OPTIONS) for t in replies]
        out[:, r] = np.array([np.nan if v is None else v + 1.0 for v in vals]).reshape(len(personas), len(prompts))
    return out


def analytic_within_variance(probs: np.ndarray) -> float:
    """probs (P, n_items, 5): the first reply token's distribution over '1'..'5' (renormalised) per persona and
    item. The run-to-run variance that pure sampling noise from that distribution would give, summed over items
    and averaged over personas (comparable to `var_within_pooled`)."""
    k = np.arange(1, 6, dtype=np.float64)
    mean = (probs * k).sum(-1)
    var = (probs * k ** 2).sum(-1) - mean ** 2  # (P, n_items)
    return float(var.mean(0).sum())


def shuffled_label_null(x: np.ndarray, n: int = 200, seed: int = 0) -> np.ndarray:
    """Pooled ICC(1) after reassigning the P*R answer rows of each item to personas at random: the ICC that
    persona labels carrying no information give at these sizes. (n,)"""
    rng = np.random.default_rng(seed)
    p, r = x.shape[:2]
    out = []
    for _ in range(n):
        perm = np.stack([rng.permutation(p * r) for _ in range(x.shape[2])], 1)  # (P*R, n_items)
        flat = x.reshape(p * r, x.shape[2], *x.shape[3:])
        shuffled = np.take_along_axis(flat, perm.reshape(perm.shape + (1,) * (flat.ndim - 2)), 0)
        out.append(icc_over_items(shuffled.reshape(x.shape))["icc1_pooled"])
    return np.asarray(out)


def icc_with_null(x: np.ndarray, *, n_null: int = 200, seed: int = 0) -> dict:
    """Pooled ICC(1) of x (P, R, n_items[, D]) with a bootstrap CI over personas and the shuffled-label null."""
    res = icc_over_items(x)
    ci = bootstrap_units(lambda idx: icc_over_items(x[idx])["icc1_pooled"], x.shape[0], seed=seed, resamples=300)
    null = null_summary(res["icc1_pooled"], shuffled_label_null(x, n_null, seed))
    return {**res, "icc1_pooled_ci95": ci, "shuffled_label_null": null,
            "persona_effect": bool(ci[0] > 0 and null["p_value"] < 0.05)}


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
            temperatures: tuple[float, ...] | None = None, n_null: int = 200, seed: int = 0) -> dict:
    """ICC(1) on movie ratings and statement agreement (both 1-5) at each temperature of the sweep, each with
    its CI over personas, the shuffled-label null, and the analytic sampling variance beside the observed
    run-to-run variance; and on MiniLM embeddings of free-text answers (first temperature; n_open=0 skips it).
    The top-level `movies`/`statements` are the first temperature's."""
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
            x = sample_ratings(backend, personas, prompts, runs, temperature=t, seed=seed + 100_000 * ti + 10_000 * ki)
            result["n_generations"] += x.size
            row[name] = {**icc_with_null(x, n_null=n_null, seed=seed), "n_items": len(prompts),
                         "unparsed_share": float(np.isnan(x).mean()),
                         "mean_answer_by_persona": np.nanmean(x, axis=(1, 2)).tolist(), "answers": x}
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
        result["free_text"] = {**icc_with_null(e, n_null=min(n_null, 100), seed=seed), "n_questions": len(questions),
                               "max_new_tokens": max_new_tokens,
                               "examples": {p: texts[i][0][0] for i, p in enumerate(personas[:4])}}
    result["seconds"] = round(time.time() - t0, 1)
    return result


def plot_icc(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    kinds = [k for k in ("movies", "statements", "free_text") if k in result]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    vals = np.nan_to_num([result[k]["icc1_pooled"] for k in kinds])
    ci = np.nan_to_num([result[k].get("icc1_pooled_ci95", [v, v]) for k, v in zip(kinds, vals)])  # (k, 2)
    a1.bar(kinds, vals, yerr=np.abs(ci.T - vals), color=["C0", "C1", "C2"][:len(kinds)], capsize=3)
    a1.scatter(kinds, [result[k].get("shuffled_label_null", {}).get("null_p95", np.nan) for k in kinds],
               marker="_", s=300, color="k", label="shuffled-label null, 95th pct")
    a1.axhline(0.5, color="gray", ls=":", label="run-to-run = cross-persona")
    a1.set(ylabel="ICC(1), pooled over items", ylim=(min(0, *ci.ravel()) - 0.05, 1),
           title=f"{len(result['personas'])} personas x {result['runs']} runs")
    a1.legend(fontsize=7)
    w = np.arange(len(kinds))
    a2.bar(w - 0.2, [result[k]["var_between_pooled"] for k in kinds], 0.4, label="cross-persona (between)")
    a2.bar(w + 0.2, [result[k]["var_within_pooled"] for k in kinds], 0.4, label="run-to-run (within)")
    a2.set_xticks(w, kinds)
    a2.set(ylabel="variance component (summed over items)", title="Variance components")
    a2.legend(fontsize=7)
    save_figure(fig, path)
