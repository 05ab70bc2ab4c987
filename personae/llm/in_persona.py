"""Measures of staying in persona for simulated users, each beside its null or control (issue 22, part 1).

For one route's transcripts (P personas x S scripts x R runs x T turns):
- assistant-likeness: share of turns the classifier (personae.llm.assistant_likeness) calls assistant-like,
  and share that offer help or say they are an AI; interval over personas;
- consistency (the three metrics of arXiv:2511.00222), judged by an LLM judge, each beside the same score
  against a mismatched persona (another persona's description or answers): prompt-to-line, line-to-line
  (each line against the same speaker's previous lines), Q&A (the same scripted question answered in two runs
  of one persona should agree; answers of two personas should not);
- ICC(1) of the turns' MiniLM embeddings across personas against run-to-run variance, with its F interval and
  the shuffled-label null (personae.stats.icc1);
- drift: the slope over turns of prompt-to-line consistency and of the projection on the default axis, per
  persona, with a shuffled-turn null;
- a second, independent judge of prompt-to-line: MiniLM cosine between each line and its persona's description,
  against another persona's, and the share of lines whose nearest description is their own, against chance.
  The LLM judge is the simulator's own model; this one shares no weights with it (and f's and g's reward).
Every interval comes from personae.stats and names its unit and count.
"""

from __future__ import annotations

import re

import numpy as np

from personae.llm.assistant_likeness import AssistantLikeness, offers_help_or_ai
from personae.llm.nulls import null_summary
from personae.llm.persona_consistency import Judge, judge_line_to_line, judge_prompt_to_line, judge_qa
from personae.llm.user_routes import RouteTranscripts, echoes_stage_direction


def per_persona(values: np.ndarray) -> np.ndarray:
    """(P, ...) -> (P,) mean over everything but the persona axis, ignoring NaN."""
    v = np.asarray(values, dtype=np.float64)
    return np.nanmean(v.reshape(v.shape[0], -1), axis=1)


def persona_interval(values: np.ndarray) -> dict:
    from personae.stats import mean_interval

    return mean_interval(per_persona(values), unit="personas").to_dict()


def persona_share_interval(flags: np.ndarray) -> dict:
    """flags (P, ...) of 0/1 (a line flagged or not): the share per persona with share_interval over personas,
    whose width never falls below the binomial spread of the lines each persona has."""
    from personae.stats import share_interval

    f = np.asarray(flags, dtype=np.float64)
    return share_interval(per_persona(f), trials=f[0].size, unit="personas").to_dict()


def slope_over_turns(y: np.ndarray) -> np.ndarray:
    """y (..., T) -> (...) least-squares slope per turn (NaN entries left out of each fit)."""
    y = np.asarray(y, dtype=np.float64)
    t = np.arange(y.shape[-1], dtype=np.float64)
    flat = y.reshape(-1, y.shape[-1])
    out = np.full(len(flat), np.nan)
    for i, row in enumerate(flat):
        ok = ~np.isnan(row)
        if ok.sum() >= 2:
            out[i] = np.polyfit(t[ok], row[ok], 1)[0]
    return out.reshape(y.shape[:-1])


def drift(y: np.ndarray, n_null: int = 200, seed: int = 0) -> dict:
    """y (P, S, R, T): slope per conversation, its mean per persona with an interval over personas, and a
    null from the same values with the turns of each conversation shuffled (no order, no drift)."""
    from personae.stats import mean_interval

    slopes = per_persona(slope_over_turns(y))  # (P,)
    rng = np.random.default_rng(seed)
    flat = y.reshape(-1, y.shape[-1])
    null = [np.nanmean(slope_over_turns(np.stack([rng.permutation(row) for row in flat]))) for _ in range(n_null)]
    return {"slope_per_turn": mean_interval(slopes, unit="personas").to_dict(),
            "shuffled_turns_null": null_summary(float(np.nanmean(slopes)), np.asarray(null)),
            "by_turn": np.nanmean(y, axis=(0, 1, 2)).tolist(), "per_persona": slopes.tolist()}


def _scores(judge: Judge, convs: list) -> np.ndarray:
    return np.array([np.nan if s is None else s for s in judge.score(convs)], dtype=np.float64)


def consistency(tr: RouteTranscripts, judge: Judge, qa_turn: int | None = None) -> dict:
    """The three consistency metrics with their mismatched-persona controls; arrays keep (P, S, R, T)."""
    from personae.stats import compare_paired

    p_, s_, r_, t_ = tr.shape
    lines = np.array(tr.lines, dtype=object)  # (P, S, R, T)
    text = [[tr.persona_texts[r][p] for r in range(r_)] for p in range(p_)]  # [p][r]
    idx = list(np.ndindex(p_, s_, r_, t_))
    own = _scores(judge, [judge_prompt_to_line(text[p][r], lines[p, s, r, t]) for p, s, r, t in idx])
    other = _scores(judge, [judge_prompt_to_line(text[(p + 1) % p_][r], lines[p, s, r, t]) for p, s, r, t in idx])
    own, other = own.reshape(p_, s_, r_, t_), other.reshape(p_, s_, r_, t_)
    result = {"prompt_to_line": persona_interval(own), "prompt_to_line_mismatched": persona_interval(other),
              "prompt_to_line_vs_mismatched": compare_paired(per_persona(own), per_persona(other),
                                                             unit="personas", seeded=False).to_dict(),
              "prompt_to_line_by_turn": np.nanmean(own, axis=(0, 1, 2)).tolist()}
    if t_ >= 2:
        later = [(p, s, r, t) for p, s, r, t in idx if t >= 1]
        l2l = _scores(judge, [judge_line_to_line(list(lines[p, s, r, max(0, t - 3):t]), lines[p, s, r, t])
                              for p, s, r, t in later])
        l2l_other = _scores(judge, [judge_line_to_line(list(lines[(p + 1) % p_, s, r, max(0, t - 3):t]),
                                                       lines[p, s, r, t]) for p, s, r, t in later])
        shape = (p_, s_, r_, t_ - 1)
        result.update(line_to_line=persona_interval(l2l.reshape(shape)),
                      line_to_line_mismatched=persona_interval(l2l_other.reshape(shape)),
                      line_to_line_vs_mismatched=compare_paired(per_persona(l2l.reshape(shape)),
                                                                per_persona(l2l_other.reshape(shape)),
                                                                unit="personas", seeded=False).to_dict())
    if r_ >= 2:
        q = t_ - 1 if qa_turn is None else min(qa_turn, t_ - 1)
        pairs = [(p, s, r) for p in range(p_) for s in range(s_) for r in range(r_ - 1)]
        qa = _scores(judge, [judge_qa(tr.scripts[s][q], lines[p, s, r, q], lines[p, s, r + 1, q]) for p, s, r in pairs])
        qa_other = _scores(judge, [judge_qa(tr.scripts[s][q], lines[p, s, r, q], lines[(p + 1) % p_, s, r + 1, q])
                                   for p, s, r in pairs])
        shape = (p_, s_, r_ - 1)
        result.update(qa=persona_interval(qa.reshape(shape)), qa_mismatched=persona_interval(qa_other.reshape(shape)),
                      qa_vs_mismatched=compare_paired(per_persona(qa.reshape(shape)),
                                                      per_persona(qa_other.reshape(shape)), unit="personas",
                                                      seeded=False).to_dict(),
                      qa_turn=q)
    result["_own"] = own
    return result


def without_names(text: str, names: list[str]) -> str:
    """The text with every persona name replaced by "X", so a line that only states who it is ("I'm Dolores")
    is not scored as in persona."""
    return re.sub(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", "X", text) if names else text


def echoes_description(line: str, description: str, n: int = 4) -> bool:
    """Whether a line repeats n words in a row of its persona's description ("I'm X, a retired chess coach
    from Kyiv"): such a line is near its own description by copying, not by speaking as the persona."""
    words = lambda text: re.findall(r"[a-z0-9']+", text.lower())
    grams = lambda w: {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}
    return bool(grams(words(line)) & grams(words(description)))


def copies_an_example(line: str, examples: tuple[str, ...] | list[str]) -> bool:
    """Whether a line repeats 4 words in a row of one of its persona's example lines (routes d and l show
    them): such a line speaks in the persona's voice by copying it."""
    return any(echoes_description(line, e) for e in examples)


def embedding_judge(lines: np.ndarray, descriptions: list[str], names: list[str], n_null: int = 200,
                    seed: int = 0) -> dict:
    """lines (P, S, R, T) of str, descriptions[p]: persona p's own description, names: the persona names
    (masked in lines and descriptions). Cosine of each line with its own description minus with the next
    persona's (paired over personas, the LLM judge's mismatched control), and the share of lines whose nearest
    of the P descriptions is their own, against chance 1/P and against that share with persona labels
    shuffled across lines. The same share over the lines that do not echo 4 words of their description is the
    control for copying (personas with no such line are left out of its interval). Drift: the slope over turns
    of own-minus-mismatched cosine, beside drift()'s shuffled-turn null."""
    from personae.llm.embeddings import embed
    from personae.stats import compare_paired, mean_interval, share_interval

    lines = np.asarray(lines, dtype=object)
    p_ = lines.shape[0]
    flat = embed([without_names(str(x), names) for x in lines.reshape(-1)])
    line_emb = flat.reshape(p_, -1, flat.shape[-1])  # (P, n, d)
    desc_emb = embed([without_names(d, names) for d in descriptions])  # (P, d)
    cos = line_emb @ desc_emb.T  # (P, n, P)
    own = cos[np.arange(p_), :, np.arange(p_)]  # (P, n)
    other = cos[np.arange(p_), :, (np.arange(p_) + 1) % p_]
    nearest = cos.argmax(axis=-1)  # (P, n)
    labels = np.repeat(np.arange(p_), nearest.shape[1])
    hit = (nearest == np.arange(p_)[:, None]).astype(np.float64)
    rng = np.random.default_rng(seed)
    null = np.array([(nearest.reshape(-1) == rng.permutation(labels)).mean() for _ in range(n_null)])
    echo = np.array([[echoes_description(without_names(str(x), names), without_names(descriptions[p], names))
                      for x in lines[p].reshape(-1)] for p in range(p_)])  # (P, n)
    kept = ~echo
    hit_kept = np.array([hit[p][kept[p]].mean() if kept[p].any() else np.nan for p in range(p_)])
    null_kept = np.array([(nearest[kept] == rng.permutation(labels[kept.reshape(-1)])).mean()
                          for _ in range(n_null)]) if kept.any() else np.array([np.nan])
    return {"cosine_own": mean_interval(own.mean(axis=1), unit="personas").to_dict(),
            "cosine_own_vs_mismatched": compare_paired(own.mean(axis=1), other.mean(axis=1), unit="personas",
                                                       seeded=False).to_dict(),
            "nearest_description_is_own": persona_share_interval(hit),
            "chance": 1.0 / p_,
            "shuffled_labels_null": null_summary(float(hit.mean()), null),
            "echoes_description_share": persona_share_interval(echo),
            # Personas keep different numbers of lines: the floor uses the fewest any of them kept (the widest).
            "nearest_is_own_without_echoes": share_interval(hit_kept[~np.isnan(hit_kept)], trials=int(
                kept.sum(axis=1)[kept.any(axis=1)].min()), unit="personas").to_dict()
            if (~np.isnan(hit_kept)).sum() >= 2 else None,
            "without_echoes_null": null_summary(float(hit[kept].mean()), null_kept) if kept.any() else None,
            "drift_cosine_own_vs_mismatched": drift((own - other).reshape(lines.shape), n_null=n_null, seed=seed),
            "judge": "all-MiniLM-L6-v2 cosine with the persona's description (no weights shared with the simulator)",
            "per_persona": {"cosine_own_minus_mismatched": (own - other).mean(axis=1).tolist(),
                            "nearest_is_own": hit.mean(axis=1).tolist(),
                            "nearest_is_own_without_echoes": [None if np.isnan(x) else float(x) for x in hit_kept]}}


def embedding_judge_vs(route: dict, baseline: dict) -> dict:
    """Two embedding_judge results compared, paired by persona: the share of lines nearest their own
    description, with and without the lines that echo it (personas with no kept line in either are left out)."""
    from personae.stats import compare_paired

    a, b = route["per_persona"], baseline["per_persona"]
    both = [(x, y) for x, y in zip(a["nearest_is_own_without_echoes"], b["nearest_is_own_without_echoes"])
            if x is not None and y is not None]
    return {"nearest_is_own_vs_a": compare_paired(a["nearest_is_own"], b["nearest_is_own"], unit="personas",
                                                  seeded=False).to_dict(),
            "nearest_is_own_without_echoes_vs_a": compare_paired([x for x, _ in both], [y for _, y in both],
                                                                 unit="personas", seeded=False).to_dict()}


def measure_route(tr: RouteTranscripts, classifier: AssistantLikeness, judge: Judge, *,
                  projections: np.ndarray | None = None, log_perplexity: np.ndarray | None = None,
                  seed: int = 0) -> dict:
    """Every measure for one route. projections (P, S, R, T): each line's position on the default axis;
    log_perplexity (P, S, R, T): each line's fluency under the unsteered model (both None where the route's
    text was not re-read by a local model)."""
    from personae.llm.embeddings import embed
    from personae.llm.variance import icc_with_null

    p_, s_, r_, t_ = tr.shape
    texts = tr.texts()
    probs = classifier.probability(texts).reshape(p_, s_, r_, t_)
    assistant_like = (probs > 0.5).astype(np.float64)
    help_ai = np.array([offers_help_or_ai(x) for x in texts], dtype=np.float64).reshape(p_, s_, r_, t_)
    copies = np.array([[copies_an_example(str(x), tr.users[p].examples) for x in np.ravel(per)]
                       for p, per in enumerate(np.array(tr.lines, dtype=object))], dtype=np.float64)
    # Lines that repeat route k's stage direction; every route without one is the control (it should read 0).
    stage_echoes = np.array([echoes_stage_direction(x) for x in texts], dtype=np.float64).reshape(p_, s_, r_, t_)
    cons = consistency(tr, judge)
    own = cons.pop("_own")
    by_embedding = embedding_judge(np.array(tr.lines, dtype=object), [u.description for u in tr.users],
                                   [u.name for u in tr.users], seed=seed)
    emb = embed(texts).reshape(p_, s_, r_, t_, -1).transpose(0, 2, 1, 3, 4).reshape(p_, r_, s_ * t_, -1)
    out = {"route": tr.route, "title": tr.title, "n_personas": p_, "n_scripts": s_, "runs": r_, "turns": t_,
           "n_lines": len(texts), "seconds": tr.seconds,
           "assistant_like_share": persona_share_interval(assistant_like),
           "assistant_like_share_turn1": float(assistant_like[..., 0].mean()),
           "assistant_like_by_turn": assistant_like.mean(axis=(0, 1, 2)).tolist(),
           "offers_help_or_ai_share": persona_share_interval(help_ai),
           "copies_example_share": persona_share_interval(copies.reshape(p_, s_, r_, t_)),
           "echoes_stage_direction_share": persona_share_interval(stage_echoes),
           "consistency": cons,
           "consistency_embedding": by_embedding,
           "icc_embeddings": {k: v for k, v in icc_with_null(emb).items() if k != "icc1_per_item"},
           "drift_prompt_to_line": drift(own, seed=seed),
           "examples": {tr.users[p].name: tr.lines[p][0][0][:3] for p in range(min(3, p_))},
           "persona_texts_last_run": tr.persona_texts[-1][:3], **tr.extra}
    if projections is not None:
        out["drift_projection"] = drift(projections, seed=seed)
    if log_perplexity is not None:
        out["log_perplexity"] = persona_interval(log_perplexity)
    # Kept in users.json, so any two routes of a run can be compared after the fact (compare_routes).
    out["per_persona"] = {"assistant_like": per_persona(assistant_like).tolist(), "p2l": per_persona(own).tolist(),
                          "p2l_slope": per_persona(slope_over_turns(own)).tolist(),
                          "embedding_nearest_own": by_embedding["per_persona"]["nearest_is_own"],
                          "embedding_cosine": by_embedding["per_persona"]["cosine_own_minus_mismatched"]}
    if log_perplexity is not None:
        out["per_persona"]["log_perplexity"] = per_persona(log_perplexity).tolist()
    return out


def compare_routes(route: dict, baseline: dict) -> dict:
    """Route minus baseline (any other route of the same run), paired by persona, for assistant-likeness,
    prompt-to-line and its drift slope, the embedding judge's share of lines nearest their own description and
    its own-minus-mismatched cosine, and the lines' log-perplexity where both routes have it. The two shares of
    lines (assistant-like, nearest own) use share_difference_interval, never narrower than the paired t and
    never of zero width, so personas that all move by the same amount do not give a "certain" effect."""
    from personae.stats import compare_paired, share_difference_interval

    a, b = route["per_persona"], baseline["per_persona"]
    trials = min(r["n_lines"] // r["n_personas"] for r in (route, baseline))  # lines per persona; the fewer: wider
    out = {}
    for key in ("assistant_like", "p2l", "p2l_slope", "embedding_nearest_own", "embedding_cosine", "log_perplexity"):
        if key not in a or key not in b:
            continue
        if key in ("assistant_like", "embedding_nearest_own"):
            out[key] = share_difference_interval(a[key], b[key], trials, unit="personas").to_dict()
        else:
            out[key] = compare_paired(a[key], b[key], unit="personas", seeded=False).to_dict()
    return out


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of (n, d) points under (n,) labels, cosine distance (each label needs >= 2 points)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    dist = 1.0 - x @ x.T
    scores = []
    for i in range(len(x)):
        same = (labels == labels[i]) & (np.arange(len(x)) != i)
        if not same.any():
            continue
        a = dist[i, same].mean()
        b = min(dist[i, labels == g].mean() for g in np.unique(labels) if g != labels[i])
        scores.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(scores))


def silhouette_of_accepted(texts: list[list[str]], accepted: list[list[bool]], n_null: int = 200,
                           seed: int = 0) -> dict:
    """Route i's silhouette over the revisions that were accepted (not echoes of the request: a rejected
    revision keeps the old text, and identical texts would cluster by construction). Needs two personas with at
    least two accepted revisions each; otherwise it says so instead of giving a figure."""
    kept = [(t, p) for run, ok in zip(texts, accepted) for p, (t, good) in enumerate(zip(run, ok)) if good]
    counts = np.bincount([p for _, p in kept], minlength=len(texts[0]) if texts else 0)
    enough = counts >= 2
    n_accepted, n_revisions = len(kept), sum(len(run) for run in texts)
    summary = {"accepted": n_accepted, "revisions": n_revisions, "unit": "revised persona texts"}
    if enough.sum() < 2:
        return {**summary, "observed": None, "n_texts": 0,
                "reason": f"{n_accepted} of {n_revisions} revisions were accepted (the rest echoed the request); "
                          "a silhouette needs 2 personas with 2 accepted revisions each"}
    texts_kept = [t for t, p in kept if enough[p]]
    labels = np.array([p for _, p in kept if enough[p]])
    return {**_silhouette_with_null(texts_kept, labels, n_null, seed), **summary}


def silhouette_with_null(texts: list[list[str]], n_null: int = 200, seed: int = 0) -> dict:
    """texts [run][persona] (route i's revised persona texts): silhouette of their MiniLM embeddings by
    persona, against the silhouettes of the same embeddings under shuffled persona labels."""
    flat = [t for run in texts for t in run]
    return _silhouette_with_null(flat, np.tile(np.arange(len(texts[0])), len(texts)), n_null, seed)


def _silhouette_with_null(flat: list[str], labels: np.ndarray, n_null: int, seed: int) -> dict:
    from personae.llm.embeddings import embed

    x = embed(flat).astype(np.float64)
    rng = np.random.default_rng(seed)
    observed = silhouette(x, labels)
    null = np.array([silhouette(x, rng.permutation(labels)) for _ in range(n_null)])
    return {**null_summary(observed, null), "n_texts": len(flat), "unit": "revised persona texts"}
