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

from personae.llm.backends import LLMBackend


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


def sample_ratings(backend: LLMBackend, personas: list[str], prompts: list[str], runs: int, *,
                   temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """(P, R, n_items) answers 1-5, NaN where unparsed. Local: the reply's first token is sampled from the
    model's distribution restricted to '1'..'5' (one forward pass per item, then R seeded draws);
    remote: one sampled chat reply per run, parsed."""
    options = ["1", "2", "3", "4", "5"]
    convs = [[{"role": "system", "content": _persona_system(p)}, {"role": "user", "content": q}]
             for p in personas for q in prompts]
    out = np.full((len(personas), runs, len(prompts)), np.nan)
    if backend.supports_hidden_states:
        probs = backend.choose(convs, options, temperature=temperature).reshape(len(personas), len(prompts), 5)
        for r in range(runs):
            rng = np.random.default_rng(seed + r)
            u = rng.random((len(personas), len(prompts), 1))
            out[:, r] = (u > np.cumsum(probs, -1)).sum(-1) + 1  # inverse-CDF draw
        return np.minimum(out, 5)
    for r in range(runs):
        probs = backend.choose(convs, options, temperature=temperature, seed=seed + 1000 * r)
        vals = np.where(np.isnan(probs).any(1), np.nan, probs.argmax(1) + 1.0)
        out[:, r] = vals.reshape(len(personas), len(prompts))
    return out


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
            seed: int = 0) -> dict:
    """ICC(1) on movie ratings, statement agreement (both 1-5) and MiniLM embeddings of free-text answers."""
    from personae.llm.embeddings import embed

    t0 = time.time()
    personas = items["personas"][:n_personas]
    movies = [f"Rate the movie \"{m}\" from 1 (hate it) to 5 (love it). Answer with a single digit."
              for m in items["movies"][:n_items]]
    statements = [f"\"{s}\" How much do you agree, from 1 (strongly disagree) to 5 (strongly agree)? "
                  "Answer with a single digit." for s in items["statements"][:n_items]]
    result = {"personas": personas, "runs": runs, "temperature": temperature, "seed": seed}
    for name, prompts in (("movies", movies), ("statements", statements)):
        x = sample_ratings(backend, personas, prompts, runs, temperature=temperature, seed=seed)
        result[name] = {**icc_over_items(x), "n_items": len(prompts), "unparsed_share": float(np.isnan(x).mean()),
                        "mean_answer_by_persona": np.nanmean(x, axis=(1, 2)).tolist(), "answers": x}
    questions = items["open_questions"][:n_open]
    texts = sample_free_text(backend, personas, questions, runs, max_new_tokens=max_new_tokens,
                             temperature=temperature, seed=seed)
    flat = [t for per in texts for run in per for t in run]
    e = embed(flat).reshape(len(personas), runs, len(questions), -1)  # (P, R, Q, 384)
    result["free_text"] = {**icc_over_items(e), "n_questions": len(questions), "max_new_tokens": max_new_tokens,
                           "examples": {p: texts[i][0][0] for i, p in enumerate(personas[:4])}}
    result["seconds"] = round(time.time() - t0, 1)
    return result


def plot_icc(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    kinds = ["movies", "statements", "free_text"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.bar(kinds, [result[k]["icc1_pooled"] for k in kinds], color=["C0", "C1", "C2"])
    a1.axhline(0.5, color="gray", ls=":", label="run-to-run = cross-persona")
    a1.set(ylabel="ICC(1), pooled over items", ylim=(min(0, *[result[k]["icc1_pooled"] for k in kinds]) - 0.05, 1),
           title=f"{len(result['personas'])} personas x {result['runs']} runs")
    a1.legend(fontsize=7)
    w = np.arange(len(kinds))
    a2.bar(w - 0.2, [result[k]["var_between_pooled"] for k in kinds], 0.4, label="cross-persona (between)")
    a2.bar(w + 0.2, [result[k]["var_within_pooled"] for k in kinds], 0.4, label="run-to-run (within)")
    a2.set_xticks(w, kinds)
    a2.set(ylabel="variance component (summed over items)", title="Variance components")
    a2.legend(fontsize=7)
    save_figure(fig, path)
