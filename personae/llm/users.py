"""Simulated users that stay in persona: every route of personae.llm.user_routes, measured the same way.

`run_simulated_users` runs the chosen routes on the same personas, scripts and seeds, measures each with
personae.llm.in_persona (assistant-likeness by an independent classifier, the three consistency metrics
with mismatched controls, ICC with its null, drift), and compares each route with the chat-slot baseline
(a), paired by persona. Routes that change the model's weights or activations (e: steering, g: adapter) also
report their cost on the multiple-choice set, paired over questions, with the smallest difference the
question count can show; prompt-only routes leave the model as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from personae.llm.assistant_likeness import default_replies, train_assistant_likeness
from personae.llm.backends import BackendError, LLMBackend
from personae.llm.in_persona import compare_routes, measure_route, silhouette_of_accepted
from personae.llm.persona_consistency import Judge
from personae.llm.user_routes import (
    BestOfNRoute,
    ContrastiveLatentSteeredTranscriptRoute,
    ExampleLinesRoute,
    ExampleTranscriptRoute,
    LatentRoute,
    LatentSteeredTranscriptRoute,
    ResampledLatentSteeredTranscriptRoute,
    RevisionRoute,
    Route,
    RouteTranscripts,
    SimulatedUser,
    SteeredRoute,
    SteeredTranscriptRoute,
    TranscriptRoute,
    load_simulated_users,
    persona_directions,
    run_route,
)

ROUTE_LETTERS = "abcdefghijklmo"
STEERED_ROUTES = ("e", "j", "k", "m", "o")


def parse_routes(text: str) -> list[str]:
    """'a,b,f' -> ['a', 'b', 'f']; an unknown letter is an error that lists the known ones."""
    letters = [r.strip().lower() for r in text.split(",") if r.strip()]
    bad = [r for r in letters if len(r) != 1 or r not in ROUTE_LETTERS]
    if bad or not letters:
        raise ValueError(f"unknown route(s) {bad or text!r}: choose from {', '.join(ROUTE_LETTERS)}")
    return letters


def middle_layers(n_layers: int, width: int = 4) -> list[int]:
    start = max(0, n_layers // 2 - width // 2)
    return list(range(start, min(n_layers, start + width)))


def line_projections(backend: LLMBackend, tr: RouteTranscripts, axis: np.ndarray, layer: int) -> np.ndarray:
    """(P, S, R, T) projection of every line on the unit default axis at `layer`, each line re-read as the
    persona's chat-slot reply (the same context for every route, so routes are compared on their text)."""
    route = Route(user_prompt=tr.extra.get("user_prompt", "You are {persona}."))
    from personae.llm.user_routes import TurnContext

    convs, replies = [], []
    p_, s_, r_, t_ = tr.shape
    for p, s, r, t in np.ndindex(p_, s_, r_, t_):
        history = [(tr.scripts[s][k], tr.lines[p][s][r][k]) for k in range(t)]
        ctx = TurnContext(tr.users[p], tr.users[p].description, tr.scripts[s][t], history, (p, s, r, t))
        convs.append(route.request(ctx))
        replies.append(tr.lines[p][s][r][t])
    acts = backend.response_activations(convs, replies)[:, layer]  # (n, d)
    return (acts @ axis).reshape(p_, s_, r_, t_)


def line_log_perplexity(backend: LLMBackend, tr: RouteTranscripts) -> np.ndarray:
    """(P, S, R, T) log-perplexity of every line on its own under the unsteered model, NaN for a line under 2
    tokens. The classifier scores word salad as "not the assistant" (route e at strength 0.5); this is the
    fluency beside it."""
    import math

    from personae.llm.activation_capping import perplexity

    def one(text: str) -> float:
        try:
            return math.log(perplexity(backend, text))
        except ValueError:  # under 2 tokens
            return float("nan")

    return np.array([one(x) for x in tr.texts()], dtype=np.float64).reshape(tr.shape)


def build_route(letter: str, user_prompt: str, data: dict, *, backend: LLMBackend, judge: Judge,
                best_of: int, steer_strength: float, directions: dict | None, seed: int,
                contrast_weight: float = 1.0) -> Route:
    common = {"user_prompt": user_prompt}
    if letter in ("a", "g"):
        return Route(letter=letter, title="chat slot (baseline)" if letter == "a" else "LoRA simulator, chat slot",
                     **common)
    if letter in ("b", "h"):
        return TranscriptRoute(letter=letter, title="transcript continuation" if letter == "b" else
                               "base model (never preference-tuned), transcript continuation", **common)
    if letter == "c":
        return LatentRoute(intents=tuple(data["intents"]), seed=seed, **common)
    if letter == "d":
        return ExampleLinesRoute(**common)
    if letter in ("e", "j"):
        kind = SteeredRoute if letter == "e" else SteeredTranscriptRoute
        return kind(directions=directions or {}, strength=steer_strength, **common)
    if letter in ("k", "m"):
        kind = LatentSteeredTranscriptRoute if letter == "k" else ResampledLatentSteeredTranscriptRoute
        return kind(directions=directions or {}, strength=steer_strength, intents=tuple(data["intents"]),
                    seed=seed, **common)
    if letter == "o":
        return ContrastiveLatentSteeredTranscriptRoute(directions=directions or {}, strength=steer_strength,
                                                       intents=tuple(data["intents"]), seed=seed,
                                                       weight=contrast_weight, **common)
    if letter == "l":
        return ExampleTranscriptRoute(**common)
    if letter == "f":
        return BestOfNRoute(n_candidates=best_of, judge=judge, **common)
    return RevisionRoute(backend=backend, judge=judge, **common)


def mcq_cost(changed: LLMBackend, base: LLMBackend, n_mcq: int | None, hooks=None, n_arithmetic: int = 0) -> dict:
    """Multiple-choice accuracy of `changed` minus `base`, paired over questions; `hooks`: a context manager
    that changes `base` itself (steering). By letter on the shipped set (kept for comparison with earlier runs)
    and by answer (cloze) on the shipped set plus `n_arithmetic` generated questions, where a small model is
    far from chance. `cloze.bounded_at_0.05`: the interval rules out a cost above 0.05, and the set is large
    enough to detect one at all by a sign test (a heuristic guard: a paired t over few questions that all agree
    has no width). The estimate is route minus base, so a positive value is a gain."""
    import contextlib

    from personae.llm.bank import load_mcq
    from personae.llm.mcq import (
        arithmetic_questions,
        mcq_cloze_correct_probability,
        mcq_correct_probability,
        smallest_detectable_difference,
    )
    from personae.stats import compare_paired

    mcq = load_mcq()[:n_mcq]
    cloze_set = mcq + arithmetic_questions(n_arithmetic)
    right0, prob0 = mcq_correct_probability(base, mcq)
    cright0, cprob0 = mcq_cloze_correct_probability(base, cloze_set)
    with hooks or contextlib.nullcontext():
        right1, prob1 = mcq_correct_probability(changed, mcq)
        cright1, cprob1 = mcq_cloze_correct_probability(changed, cloze_set)
    cloze_diff = compare_paired(cright1, cright0, unit="questions", seeded=False).to_dict()
    return {"n_questions": len(mcq), "accuracy_base": float(right0.mean()), "accuracy_route": float(right1.mean()),
            "accuracy_diff": compare_paired(right1, right0, unit="questions", seeded=False).to_dict(),
            "right_letter_probability_diff": compare_paired(prob1, prob0, unit="questions", seeded=False).to_dict(),
            "smallest_detectable_difference": smallest_detectable_difference(len(mcq)),
            "cloze": {"n_questions": len(cloze_set), "n_shipped": len(mcq), "n_arithmetic": n_arithmetic,
                      "accuracy_base": float(cright0.mean()), "accuracy_route": float(cright1.mean()),
                      "accuracy_diff": cloze_diff,
                      "right_option_probability_diff": compare_paired(cprob1, cprob0, unit="questions",
                                                                      seeded=False).to_dict(),
                      "smallest_detectable_difference": smallest_detectable_difference(len(cloze_set)),
                      "bounded_at_0.05": bool(cloze_diff["low"] >= -0.05
                                              and smallest_detectable_difference(len(cloze_set)) <= 0.05)}}


def run_simulated_users(backend: LLMBackend, data: dict, user_lines: list[str], *, routes: list[str],
                        n_personas: int = 12, persona_offset: int = 0, runs: int = 3, n_turns: int = 8,
                        n_scripts: int = 3, temperature: float = 0.7, max_new_tokens: int = 24, best_of: int = 4,
                        steer_strength: float = 0.5, contrast_weight: float = 1.0, n_mcq: int | None = 40,
                        n_arithmetic: int = 160,
                        base_backend: LLMBackend | None = None,
                        adapter_backend: LLMBackend | None = None, n_real_lines: int = 0, seed: int = 0,
                        on_route: Callable[[str, dict], None] | None = None) -> dict:
    """All chosen routes on personas[persona_offset : persona_offset + n_personas], the first `n_scripts`
    scripts cut to `n_turns`, `runs` seeded runs. Route h needs `base_backend` (a base model), route g
    `adapter_backend` (the model with its LoRA adapter). The judge and the classifier use `backend`.
    `n_real_lines` > 0: the classifier also reads that many real users' ShareGPT lines (personae.llm.real_lines),
    and each route's share is set against theirs (a route no different from real users reads zero); and the
    n-gram judge trained on real users against ChatGPT (personae.llm.ngram_judge) reads every route too, against
    its own held-out real users.
    `on_route(letter, row)` is called as each route finishes, so a long run keeps what it has measured."""
    t0 = time.time()
    measure_mcq = n_mcq != 0  # --mcq 0 (with --mcq-arithmetic 0): routes are measured without an MCQ cost
    if n_mcq == 0 and n_arithmetic:
        raise ValueError("--mcq 0 measures no MCQ cost: give --mcq-arithmetic 0 with it")
    for letter in routes:  # before the replies, classifier and judges are built: a missing model fails at once
        if {"h": base_backend, "g": adapter_backend}.get(letter, backend) is None:
            raise BackendError(f"route {letter} needs " + ("--base-model (a base model GGUF, e.g. "
                               "gemma3-270m-base)" if letter == "h" else "--adapter DIR (a trained LoRA adapter)"))
        if letter in STEERED_ROUTES and not backend.supports_hidden_states:
            raise BackendError(f"route {letter} steers hidden states: it needs --backend local")
    users: list[SimulatedUser] = load_simulated_users(data)[persona_offset:persona_offset + n_personas]
    if len(users) < 2:
        raise ValueError(f"need at least 2 personas, got {len(users)} (of {len(data['personas'])})")
    scripts = [s[:n_turns] for s in data["scripts"][:n_scripts]]
    judge = Judge(backend, seed=seed)
    replies = default_replies(backend, user_lines, max_new_tokens=max_new_tokens, seed=seed)
    classifier = train_assistant_likeness(user_lines, replies, seed=seed)
    result: dict = {"personas": [u.name for u in users], "persona_offset": persona_offset, "runs": runs,
                    "turns": len(scripts[0]), "scripts": len(scripts), "temperature": temperature,
                    "max_new_tokens": max_new_tokens, "seed": seed, "model": str(getattr(backend, "path", "?")),
                    "judge": "the same model (local: P(yes) of its first token)",
                    "classifier": classifier.validation, "routes": {}, "vs_baseline": {}}
    hidden = backend.supports_hidden_states
    axis, layer, directions = None, None, None
    if hidden:
        n_layers = backend.n_layers
        layer = n_layers // 2
        default_convs = [[{"role": "user", "content": line}] for line in user_lines]
        probe = Route(user_prompt=data["user_prompt"])
        directions = persona_directions(backend, probe, users, default_convs, replies, middle_layers(n_layers))
        # The default axis of these users: default replies minus the personas' example lines, at the middle layer.
        full = persona_directions(backend, probe, users, default_convs, replies, [layer])
        axis = -np.mean([d[layer] for d in full.values()], axis=0)
        axis = axis / np.linalg.norm(axis)
        result.update(axis_layer=layer, steered_layers=middle_layers(n_layers), steer_strength=steer_strength)
        if "o" in routes:
            result["contrast_weight"] = contrast_weight
    real_flags, ngram = None, None
    if n_real_lines:
        from personae.llm.real_lines import (
            ANSWERING_LINES,
            NGRAM_JUDGE_PAIRS,
            answering_reference,
            flagged_share,
            real_judge,
            real_user_lines,
        )

        result["classifier"]["real_user_lines_flagged"], real_flags = flagged_share(
            classifier, real_user_lines("sharegpt", n_real_lines, seed), "ShareGPT user lines")
        # A second reading by a judge that never saw the bank, the model or the personas: it reads register.
        # Its reference is its own held-out real users (the draw above overlaps its training pairs).
        ngram, ngram_users, _ = real_judge(NGRAM_JUDGE_PAIRS, seed, features="ngrams")
        # Two references for it: its own held-out real users, and real users answering a question (as every
        # simulated line answers a scripted one), none of them a person it trained on.
        answering = answering_reference("sharegpt", min(n_real_lines, ANSWERING_LINES), seed)
        result["ngram_judge"] = ngram.validation
        result["ngram_judge"]["answering_lines_flagged"], ngram_answering_flags = flagged_share(
            ngram, answering, "ShareGPT user lines answering a question")
        ngram_flags = ngram.is_assistant_like(ngram_users)
    measured = {}
    # e, j, k, m and o steer the same model with the same vector at the same strength: one MCQ cost serves all.
    steered_cost: dict | None = None
    for letter in routes:
        route = build_route(letter, data["user_prompt"], data, backend=backend, judge=judge, best_of=best_of,
                            steer_strength=steer_strength, directions=directions, seed=seed,
                            contrast_weight=contrast_weight)
        gen = {"h": base_backend, "g": adapter_backend}.get(letter, backend)
        tr = run_route(route, gen, users, scripts, runs, temperature=temperature, max_new_tokens=max_new_tokens,
                       seed=seed)
        tr.extra["user_prompt"] = data["user_prompt"]
        if isinstance(route, ResampledLatentSteeredTranscriptRoute):
            tr.extra["stage_direction_redraws"] = {"extra_draws": route.redrawn, "retries_per_line": route.retries,
                                                   "lines_still_echoing": route.kept_echoes}
        proj = line_projections(backend, tr, axis, layer) if hidden else None
        fluency = line_log_perplexity(backend, tr) if hidden else None
        row = measure_route(tr, classifier, judge, projections=proj, log_perplexity=fluency, seed=seed)
        if letter == "i":
            row["revised_persona_silhouette"] = (silhouette_of_accepted(route.revisions[1:], route.accepted[1:],
                                                                        seed=seed)
                                                 if len(route.revisions) >= 3 else None)
            row["revisions"] = {users[p].name: [rev[p] for rev in route.revisions] for p in range(min(3, len(users)))}
        if letter in STEERED_ROUTES and measure_mcq:
            if steered_cost is None:
                from personae.llm.activation_capping import steered

                first = directions[0]  # the cost of one persona's steering: the first persona's vector
                hook = steered(backend.model, first, add={k: steer_strength * float(np.linalg.norm(v))
                                                          for k, v in first.items()})
                steered_cost = dict(mcq_cost(backend, backend, n_mcq, hooks=hook, n_arithmetic=n_arithmetic),
                                    measured_with_route=letter)
            row["mcq_cost"] = steered_cost
        if letter == "g" and measure_mcq:
            row["mcq_cost"] = mcq_cost(adapter_backend, backend, n_mcq, n_arithmetic=n_arithmetic)
        if real_flags is not None:
            from personae.stats import share_minus_reference_interval

            row["assistant_like_minus_real_users"] = share_minus_reference_interval(
                row["per_persona"]["assistant_like"], row["n_lines"] // row["n_personas"], real_flags,
                unit="personas", reference_unit="ShareGPT user lines").to_dict()
        if ngram is not None:
            from personae.llm.real_lines import route_against_real_lines

            per_persona = [[x for script in per for run in script for x in run] for per in tr.lines]
            row["ngram_judge"] = route_against_real_lines(ngram, per_persona, ngram_flags,
                                                          "held-out ShareGPT user lines")
            row["ngram_judge"]["minus_answering"] = route_against_real_lines(
                ngram, per_persona, ngram_answering_flags, "ShareGPT user lines answering a question")[
                "minus_reference"]
        row["transcripts"] = {users[p].name: tr.lines[p] for p in range(len(users))}
        measured[letter] = row
        if on_route is not None:
            on_route(letter, row)
    for letter, row in measured.items():
        if letter != "a" and "a" in measured:
            result["vs_baseline"][letter] = compare_routes(row, measured["a"])
    result["routes"] = measured
    result["seconds"] = round(time.time() - t0, 1)
    return result


def plot_users(result: dict, path) -> None:
    """Assistant-like share and prompt-to-line consistency per route, with their intervals over personas."""
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    letters = list(result["routes"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for ax, key, title in ((a1, "assistant_like_share", "assistant-like turns (classifier)"),
                           (a2, None, "prompt-to-line consistency")):
        rows = [result["routes"][x]["consistency"]["prompt_to_line"] if key is None else result["routes"][x][key]
                for x in letters]
        est = np.array([r["estimate"] for r in rows])
        err = np.abs(np.array([[r["low"], r["high"]] for r in rows]).T - est)
        ax.bar(letters, est, yerr=err, capsize=3, color="C0" if key else "C1")
        ax.set(ylim=(0, 1), xlabel="route", title=title)
    a1.axhline(0.10, color="C3", ls="--", lw=1, label="target <= 10%")
    a1.legend(fontsize=7)
    save_figure(fig, path)
