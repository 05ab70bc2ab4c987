"""The `personae` command: a thin shell that parses arguments, calls the library and prints.

Every error from bad input (the project's own :class:`DataError` and its subclasses) is printed as one line
on stderr (``personae: error: ...``) with a non-zero exit. Any other exception is a bug and shows its
traceback; ``PERSONAE_DEBUG=1`` shows the traceback of every error.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from personae import experiment, runs
from personae.cli.recommend_all import recommend_all_command
from personae.cli.report import report as report_command
from personae.cli.serve import serve as serve_command
from personae.cli.simulate import simulate_command
from personae.cli.synth import synth_command
from personae.data import DATASETS, DataError, DataSource, fetch, load_dataset
from personae.explain.persona_quality import QUALITY_USERS, quality_payload
from personae.files import write_json
from personae.models import MODELS, model_class
from personae.models.options import parse_params
from personae.models.persistence import load_model
from personae.models.torch_base import device_params
from personae.train import distributed

app = typer.Typer(help="Users as weighted mixes of personas: train, evaluate, explain.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
datasets_app = typer.Typer(help="Built-in datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
datasets_app.command("synth")(synth_command)
app.command("recommend-all")(recommend_all_command)
app.command("simulate")(simulate_command)
out = Console(width=None if sys.stdout.isatty() else 160)

# --- shared options -----------------------------------------------------------------------------------
Dataset = Annotated[str | None, typer.Option("--dataset", help="built-in dataset name, e.g. ml-100k")]
DataFile = Annotated[Path | None, typer.Option("--data", help="your interactions file (CSV, TSV, Parquet, RecBole .inter)")]
UserCol = Annotated[str, typer.Option("--user-col", help="user id column of --data")]
ItemCol = Annotated[str, typer.Option("--item-col", help="item id column of --data")]
TimeCol = Annotated[str | None, typer.Option("--time-col", help="timestamp column of --data (numbers or ISO dates)")]
ItemInfo = Annotated[Path | None, typer.Option("--item-info", help="item file with title / genres columns")]
Params = Annotated[list[str] | None, typer.Option("--param", help="model option KEY=VALUE (repeatable)")]
Split = Annotated[str, typer.Option("--split", help="leave-last-out (default), temporal or random")]
Device = Annotated[str, typer.Option("--device", help="auto (the GPU when there is one), cpu or cuda")]


def _source(dataset: str | None, data: Path | None, user_col: str, item_col: str, time_col: str | None,
            item_info: Path | None) -> DataSource:
    return DataSource(dataset=dataset, data=str(data) if data else None, user_col=user_col, item_col=item_col,
                      time_col=time_col, item_info=str(item_info) if item_info else None)


# --- datasets ------------------------------------------------------------------------------------------
@datasets_app.command("list")
def datasets_list() -> None:
    """List the built-in datasets."""
    for spec in DATASETS.values():
        out.print(f"{spec.name}\t{spec.description}")


@datasets_app.command("fetch")
def datasets_fetch(name: str) -> None:
    """Fetch a built-in dataset into $PERSONAE_HOME (checksums verified; cached copies are reused)."""
    folder = fetch(name)
    out.print(f"{name}: {folder}")


# --- models ----------------------------------------------------------------------------------------------
@app.command("models")
def models() -> None:
    """List the models and every option with its default."""
    for name, cls in MODELS.items():
        out.print(f"[bold]{name}[/bold]: {cls.summary}")
        for option, default, help_text in cls.option_fields():
            out.print(f"    {option} = {default!r}    {help_text}", highlight=False)


# --- train / evaluate --------------------------------------------------------------------------------
@app.command("train")
def train(
    model: Annotated[str, typer.Option("--model", help=f"one of: {', '.join(MODELS)}")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory to save the model into")],
    dataset: Dataset = None, data: DataFile = None, user_col: UserCol = "user_id", item_col: ItemCol = "item_id",
    time_col: TimeCol = None, item_info: ItemInfo = None,
    personas: Annotated[str | None, typer.Option("--personas", help="personas per user (multi-persona models)")] = None,
    dim: Annotated[int | None, typer.Option("--dim", help="embedding dimension")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="maximum training epochs")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    param: Params = None, split: Split = "leave-last-out",
    json_file: Annotated[Path | None, typer.Option("--json", help="write test metrics as JSON")] = None,
    distributed_run: Annotated[bool, typer.Option("--distributed", help="data-parallel under torchrun (DDP)")] = False,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="write a checkpoint here each epoch")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="continue from the checkpoint in this folder")] = None,
    device: Device = "auto",
) -> None:
    """Train a model, evaluate it on the test split and save it to --out."""
    source = _source(dataset, data, user_col, item_col, time_col, item_info)
    pairs = list(param or []) + distributed.checkpoint_params(checkpoint, resume)
    pairs += device_params(model_class(model), device)
    pairs += [f"{k}={v}" for k, v in (("personas", personas), ("dim", dim), ("epochs", epochs)) if v is not None]
    params = parse_params(model, pairs)
    world = distributed.start(device) if distributed_run else distributed.Distributed()
    run = runs.train_and_evaluate(source, model, params, seed=seed, split_method=split)
    distributed.stop()
    if world.rank != 0:  # rank 0 alone saves and reports
        return
    run.model.save(str(out_dir))
    report = runs.run_report(run)
    _print_metrics(report)
    out.print(f"saved {model} to {out_dir}")
    if json_file:
        write_json(json_file, report)


@app.command("evaluate")
def evaluate_cmd(
    model_dir: Path,
    json_file: Annotated[Path | None, typer.Option("--json", help="write the metrics as JSON")] = None,
    device: Device = "auto",
) -> None:
    """Evaluate a saved model on the test split of the data it was trained on."""
    _, report = runs.evaluate_saved(model_dir, device=device)
    _print_metrics(report)
    if json_file:
        write_json(json_file, report)


@app.command("benchmark")
def benchmark(
    models: Annotated[str, typer.Option("--models", help="comma-separated model names")] = "pop,itemknn,ease,bpr",
    seeds: Annotated[str, typer.Option("--seeds", help="comma-separated seeds")] = "0",
    dataset: Dataset = None, data: DataFile = None, user_col: UserCol = "user_id", item_col: ItemCol = "item_id",
    time_col: TimeCol = None, item_info: ItemInfo = None, param: Params = None,
    baseline: Annotated[str, typer.Option("--baseline", help="model the paired NDCG@10 comparison is against")] = "bpr",
    json_file: Annotated[Path | None, typer.Option("--json", help="write results as JSON")] = None,
    device: Device = "auto",
) -> None:
    """Run models x seeds on one split; print a table and write the JSON (seed means, std, paired CI)."""
    source = _source(dataset, data, user_col, item_col, time_col, item_info)
    names = [m.strip() for m in models.split(",") if m.strip()] or [models]  # nothing given: an unknown model
    for name in names:
        model_class(name)
    seed_list = _int_list(seeds, "--seeds")
    params: dict = {}
    for pair in param or []:
        key = pair.partition("=")[0].strip().replace("-", "_")
        owners = [n for n in names if key in {o for o, _, _ in MODELS[n].option_fields()}]
        if not owners:
            raise DataError(f"--param {key}: none of {', '.join(names)} has this option")
        params.update(parse_params(owners[0], [pair]))
    for name in names:  # a key applies to every listed model that has it: the torch models take the device
        params.update(parse_params(name, device_params(model_class(name), device)))

    def progress(name: str, seed: int, run: runs.TrainedRun, entry: dict) -> None:
        print(f"  {name} seed {seed}: ndcg@10 {entry['ndcg@10']:.4f} ({entry['train_seconds']:.1f}s)", file=sys.stderr)

    report = experiment.benchmark(source, names, seed_list, params, baseline=baseline, on_result=progress)
    _print_metrics(report)
    if json_file:
        write_json(json_file, report)


# --- using a saved model ------------------------------------------------------------------------------
@app.command("recommend")
def recommend(
    model_dir: Path,
    user: Annotated[list[str], typer.Option("--user", help="external user id (repeatable)")],
    k: Annotated[int, typer.Option("--k", min=1)] = 10,
    explain: Annotated[bool, typer.Option("--explain", help="the persona behind each item and its supporting items")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Top-k recommendations for users of a saved model (titles shown when known)."""
    from personae.explain import explained_recommendations

    model = load_model(model_dir)
    payload = explained_recommendations(model, user, k) if explain else model.recommend(user, k=k).to_dict()
    if as_json:
        print(json.dumps(payload, indent=2))
        return
    for entry in payload:
        table = Table(title=f"user {entry['user']}: top {k}")
        for column in ("rank", "item", "title", "score") + (("persona",) if explain else ()):
            table.add_column(column)
        for rank, item in enumerate(entry["items"], 1):
            row = [str(rank), item["item"], item["title"], f"{item['score']:.3f}"]
            if explain:
                row.append(f"{item['persona']}: {item['persona_label']}")
            table.add_row(*row)
        out.print(table)
        if explain:
            _print_persona_groups(entry["items"])


def _print_persona_groups(items: list[dict]) -> None:
    """The list grouped by persona: which items each persona brought, and the user's items behind it."""
    groups: dict[int, list[dict]] = {}
    for rank, item in enumerate(items, 1):
        groups.setdefault(item["persona"], []).append({**item, "rank": rank})
    for persona, members in groups.items():
        support = "; ".join(members[0]["supporting_titles"][:3]) or "-"
        ranks = ", ".join(f"#{m['rank']} {m['title']}" for m in members)
        out.print(f"  persona {persona} [bold]{members[0]['persona_label']}[/bold]: {ranks}", highlight=False)
        out.print(f"      because of: {support}", highlight=False)


@app.command("personas")
def personas(
    model_dir: Path,
    user: Annotated[str, typer.Option("--user", help="external user id")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON, with every history item and its persona, and "
                                          "persona quality")] = False,
    quality_users: Annotated[int, typer.Option("--quality-users", help="--json: users sampled (seed 0) for the "
                                               "model's persona quality; 0 leaves quality out")] = QUALITY_USERS,
) -> None:
    """A user's personas: prior weights, lift labels and the history items that support each."""
    model = load_model(model_dir)
    payload = model.user_personas(user).to_dict()
    if as_json:
        if quality_users > 0:
            from personae.report.content import sample_users

            payload["quality"] = quality_payload(model, user, sample_users(model, quality_users))
        print(json.dumps(payload, indent=2))
        return
    for entry in payload["personas"]:
        support = "; ".join(s["title"] for s in entry["supporting_items"]) or "-"
        out.print(f"persona {entry['persona']}  weight {entry['weight']:.3f}  [bold]{entry['label']}[/bold]",
                  highlight=False)
        out.print(f"    supported by: {support}", highlight=False)


app.command("report")(report_command)


# --- demo ----------------------------------------------------------------------------------------------
DEMO_MODEL = "ampcf"
DEMO_USERS = ("1", "42", "405")


GROCERY_HOUSEHOLDS = 600  # complete-journey demo: households sampled so it runs in under 5 minutes on 2 cores
GROCERY_PARAMS = {"epochs": 8}  # an epoch cap for the same reason (validation still picks the best epoch)


@app.command("demo")
def demo(out_dir: Annotated[Path, typer.Option("--out", help="where to save the trained model")] = Path("runs/demo"),
         dataset: Annotated[str, typer.Option("--dataset", help="ml-100k or complete-journey")] = "ml-100k",
         households: Annotated[int, typer.Option("--households", help="complete-journey: households sampled "
                                                 "(seed 0)")] = GROCERY_HOUSEHOLDS) -> None:
    """The main job on MovieLens-100K (or grocery households): fetch, train, evaluate, explain, write the report."""
    from personae.report import build_report

    if dataset == "complete-journey":
        _grocery_demo(out_dir, households)
        return
    if dataset != "ml-100k":
        raise DataError(f"--dataset {dataset}: the demo runs on ml-100k or complete-journey")
    start = time.perf_counter()
    out.print("[bold]1. data[/bold]: fetching MovieLens-100K (cached after the first run)")
    out.print("   " + load_dataset("ml-100k").describe())
    out.print(f"[bold]2. train[/bold]: {DEMO_MODEL} on the leave-last-out split")
    run = runs.train_and_evaluate(DataSource(dataset="ml-100k"), DEMO_MODEL, seed=0)
    run.model.save(str(out_dir))
    out.print("[bold]3. recommendations[/bold], each traced to the persona it serves (labels by genre lift)")
    recommend(out_dir, list(DEMO_USERS), k=10, explain=True, as_json=False)
    out.print("[bold]4. test metrics[/bold] (full ranking, training and validation items masked)")
    _print_metrics(runs.run_report(run))
    report = build_report(out_dir, out_dir / "report.html", metrics=False)
    out.print(f"[bold]5. report[/bold]: {report.resolve()}")
    out.print(f"done in {time.perf_counter() - start:.0f}s; model saved to {out_dir}")


def _grocery_demo(out_dir: Path, households: int) -> None:
    """The demo on complete-journey: a seeded sample of households, leave-last-out, ampcf with an epoch cap."""
    from personae.data.complete_journey import sample_households
    from personae.data.splits import leave_last_out
    from personae.report import build_report

    start = time.perf_counter()
    out.print("[bold]1. data[/bold]: fetching The Complete Journey (grocery; educational data, cached after the first run)")
    full = load_dataset("complete-journey")
    data = sample_households(full, households, seed=0)
    out.print(f"   {full.describe()}; demo sample: {households} households (seed 0), {len(data)} events")
    out.print(f"[bold]2. train[/bold]: {DEMO_MODEL} on the leave-last-out split, {GROCERY_PARAMS}")
    run = runs.train_and_evaluate(DataSource(dataset="complete-journey"), DEMO_MODEL, GROCERY_PARAMS, seed=0,
                                  split=leave_last_out(data))
    run.model.save(str(out_dir))
    users = [str(u) for u in data.user_ids[np.unique(data.users)[:2]]]
    out.print("[bold]3. recommendations[/bold], each traced to the household persona it serves (labels by "
              "product-category lift)")
    recommend(out_dir, users, k=10, explain=True, as_json=False)
    out.print("[bold]4. test metrics[/bold] (full ranking, training and validation items masked)")
    _print_metrics(runs.run_report(run, dataset=f"complete-journey, {households} sampled households"))
    report = build_report(out_dir, out_dir / "report.html", metrics=False)
    out.print(f"[bold]5. report[/bold]: {report.resolve()}")
    out.print(f"done in {time.perf_counter() - start:.0f}s; model saved to {out_dir}")


app.command("serve")(serve_command)


# --- helpers -------------------------------------------------------------------------------------------
def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        values = []
    if not values:
        raise DataError(f"{option} {text}: expected comma-separated integers")
    return values


def _ci_cell(ci: dict | None) -> str:
    """``+0.0050 [-0.0008, +0.0106], 943 users x 3 seeds`` (an interval always names its unit and count)."""
    if not ci:
        return "-"
    over = f"{ci['n_units']} {ci['unit']}" + (f" x {ci['n_seeds']} seeds" if ci["n_seeds"] > 1 else ", 1 seed")
    return f"{ci['diff']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}], {over}"


def _print_metrics(report: dict) -> None:
    table = Table(title=f"{report['dataset']} ({report['protocol']})")
    columns = ["ndcg@10", "hr@10", "recall@20", "mrr@10", "coverage@10", "ild@10", "novelty@10", "train_seconds"]
    table.add_column("model")
    for column in columns:
        table.add_column(column, justify="right")
    has_ci = any("vs_baseline" in entry for entry in report["models"].values())
    if has_ci:
        table.add_column("ndcg@10 vs baseline [95% CI]", justify="right")
    has_twin = any("vs" in entry for entry in report["models"].values())
    if has_twin:
        table.add_column(f"ndcg@10 vs {experiment.TWIN} [95% CI]", justify="right")
    for name, entry in report["models"].items():
        cells = []
        for column in columns:
            if column not in entry:
                cells.append("-")
                continue
            cells.append(f"{entry[column]:.1f}" if column == "train_seconds" else experiment.mean_std(entry, column))
        if has_ci:
            cells.append(_ci_cell(entry.get("vs_baseline")))
        if has_twin:
            cells.append(_ci_cell(entry.get("vs", {}).get(experiment.TWIN)))
        table.add_row(name, *cells)
    out.print(table)


def _mount_optional_apps() -> None:
    try:
        from personae.cli.llm import app as llm_app
    except ImportError:
        return
    app.add_typer(llm_app, name="llm")


_mount_optional_apps()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"personae: warning: {message}", file=sys.stderr)


def _cli_exceptions() -> tuple[type, type, type]:
    """(ClickException, Abort, Exit) as raised by the installed typer (recent typer bundles its own click)."""
    try:
        from typer._click.exceptions import ClickException
        from typer.exceptions import Abort, Exit
    except ImportError:  # older typer: plain click
        from click.exceptions import Abort, ClickException, Exit
    return ClickException, Abort, Exit


ClickException, Abort, Exit = _cli_exceptions()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    warnings.showwarning = _one_line_warning
    try:
        result = app(args=argv, prog_name="personae", standalone_mode=False)
    except Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except Abort:
        print("personae: aborted", file=sys.stderr)
        return 130
    except ClickException as exc:
        print(f"personae: error: {exc.format_message()}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2) or 2)
    except DataError as exc:
        if os.environ.get("PERSONAE_DEBUG") == "1":
            raise
        print(f"personae: error: {exc}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
