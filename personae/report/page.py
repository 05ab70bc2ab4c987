"""Assemble the report's one self-contained HTML page from gathered content and embedded figures.

Every string from the model or a figure file is escaped; the page has inline CSS and ``data:`` images only,
so it opens offline, from an e-mail attachment, or from a CI artifact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from personae.explain.persona_quality import SHUFFLES
from personae.report.content import ExampleUser, ModelFacts, PersonaMap, top_genre
from personae.report.figure_files import FigureFile
from personae.report.figures import EMPTY, OTHER, user_marker
from personae.report.style import CSS
from personae.results import Explanation, PersonaMix

SHOWN_METRICS = ("ndcg@10", "hr@10", "recall@20", "mrr@10", "coverage@10", "ild@10", "novelty@10")


@dataclass
class Report:
    """Everything the page shows."""

    facts: ModelFacts
    model_dir: str
    space: PersonaMap | None
    map_png: str | None  # base64 PNG of the persona map
    colours: dict[str, str]  # top genre -> colour, shared by the map and the persona chips
    examples: list[ExampleUser]
    examples_rule: str
    figures: list[FigureFile] = field(default_factory=list)
    quality: dict | None = None  # personae.explain.persona_quality.persona_quality on a user sample
    quality_note: str = ""  # why quality is missing, when it is
    generated: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def fmt(value: Any) -> str:
    """A cell value as text: floats to 4 significant digits, an interval ``{"diff"|"mean"|"value", "ci_low",
    "ci_high"}`` as ``x [low, high]``, other containers as compact JSON, None as a dash."""
    if isinstance(value, dict) and {"ci_low", "ci_high"} <= set(value):
        centre = next((value[k] for k in ("diff", "mean", "value") if k in value), None)
        interval = f"[{fmt(value['ci_low'])}, {fmt(value['ci_high'])}]"
        return f"{fmt(centre)} {interval}" if centre is not None else interval
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def render_page(report: Report) -> str:
    facts = report.facts
    title = f"{facts.name} on {facts.dataset}" if facts.dataset else facts.name
    body = "\n".join([_hero(report, title), _space_section(report), _quality_section(report),
                      _users_section(report),
                      _figures_section(report.figures), _model_section(facts), _footer(report)])
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>personae report: {escape(title)}</title><style>{CSS}</style></head>\n"
            f"<body><main>\n{body}\n</main></body></html>\n")


# --- sections -------------------------------------------------------------------------------------------
def _hero(report: Report, title: str) -> str:
    facts = report.facts
    stats = [("users", facts.n_users), ("items", facts.n_items), ("training events", facts.n_events)]
    if "personas" in facts.options:
        stats.append(("personas per user", facts.options["personas"]))
    stats += [(key, facts.metrics[key]) for key in ("ndcg@10", "hr@10") if key in facts.metrics]
    cards = "".join(f'<div class="stat"><div class="value">{escape(fmt(v))}</div>'
                    f'<div class="key">{escape(k)}{" (test)" if "@" in k else ""}</div></div>' for k, v in stats)
    links = [("space", "Persona space"), ("quality", "Persona quality"), ("users", "Example users")]
    links += [(f"figure-{n}", f.title) for n, f in enumerate(report.figures)] + [("model", "Model")]
    nav = "".join(f'<a href="#{anchor}">{escape(text)}</a>' for anchor, text in links)
    return (f'<header class="hero"><p class="eyebrow">personae report</p><h1>{escape(title)}</h1>'
            f'<p class="lede">{escape(facts.summary)}</p><div class="stats">{cards}</div><nav>{nav}</nav></header>')


def _space_section(report: Report) -> str:
    space, name = report.space, report.facts.name
    head = '<section id="space"><h2>Persona space</h2>'
    if space is None or report.map_png is None:
        return (head + f'<div class="empty" id="no-map"><strong>No persona map for this model.</strong> '
                f"<code>{escape(name)}</code> has no persona vectors: it describes each user as one persona, "
                f"labelled from the user's history, so there is no space of personas to draw.</div></section>")
    sample = (f"all {space.n_users:,} users" if space.n_users == space.n_population else
              f"a random sample of {space.n_users:,} of {space.n_population:,} users (seed {space.seed})")
    intro = (f'<p class="intro">Every dot is one persona of one user, from {sample}: its vector projected on the '
             f"first two principal components of all sampled persona vectors. Colour is the persona's top genre "
             f"by lift; size is its weight within its user. The example users below are ringed.</p>")
    control = ""
    if space.silhouette is not None and space.silhouette_shuffled is not None:
        mean, low, high = space.silhouette_shuffled
        verdict = ("outside" if not low <= space.silhouette <= high else "inside")
        control = (f'<p class="control">Do personas of the same top genre sit together in the full space? '
                   f"Silhouette (cosine) by top genre: <strong>{space.silhouette:.3f}</strong>; with the genre "
                   f"labels shuffled {SHUFFLES} times (the no-structure control): mean <strong>{mean:.3f}</strong>, "
                   f"range {low:.3f} to {high:.3f}, so the real figure is {verdict} the control's range. "
                   f"Personas that own no history item are left out. Near 0 means no grouping; the map is a 2-D shadow of "
                   f"the space and may show more or less grouping than there is."
                   f"</p>")
    return (head + intro + f'<div class="card"><figure><img id="persona-map" alt="persona space map" '
            f'src="data:image/png;base64,{report.map_png}"><figcaption>PC1 and PC2 explain '
            f"{space.explained[0]:.1%} and {space.explained[1]:.1%} of the variance of the persona vectors."
            f"</figcaption></figure>{control}</div></section>")


def _interval(value: dict | None, signed: bool = False) -> str:
    """A personae.stats interval as ``0.620 [0.598, 0.642], over 300 users``; a dash when absent."""
    if value is None:
        return "–"
    sign = "+" if signed else ""
    return (f"{value['estimate']:{sign}.3f} [{value['low']:{sign}.3f}, {value['high']:{sign}.3f}], over "
            f"{value['n_units']:,} {value['unit']}")


def _quality_section(report: Report) -> str:
    """The four persona-quality measures, each beside its null; seed stability says what it needs."""
    head = '<section id="quality"><h2>Persona quality</h2>'
    q = report.quality
    if q is None:
        return head + f'<div class="empty" id="no-quality">Persona quality {escape(report.quality_note)}.</div></section>'
    c, empty, structure, seeds = q["coherence"], q["empty_personas"], q["label_structure"], q["seed_stability"]
    silhouette = "–" if structure["silhouette"] is None else f"{structure['silhouette']:.3f}"
    shuffled = ("–" if structure["shuffled"] is None else
                f"{structure['shuffled']['mean']:.3f} (range {structure['shuffled']['min']:.3f} to "
                f"{structure['shuffled']['max']:.3f})")
    seed_text = (escape(seeds["needs"]) if seeds.get("ari") is None and "needs" in seeds else
                 f"ARI {_interval(seeds.get('ari'))}; shuffled {seeds.get('shuffled', float('nan')):.3f}")
    rows = [("coherence of the top-10", _interval(c["recommended"]),
             "another persona of the same user: difference " + _interval(c["recommended_vs_null"], True),
             "share of recommended items that share a genre with the label of the persona explaining them"),
            ("coherence of supporting items", _interval(c["supporting"]),
             "another persona: difference " + _interval(c["supporting_vs_null"], True),
             "the same for the history items named after &ldquo;because&rdquo;"),
            ("personas owning no history item", f"{empty['share']:.3f} ({empty['empty']:,} of {empty['personas']:,})",
             "–", "a persona no history item belongs to has no items to explain it by"),
            ("label silhouette", silhouette, "labels shuffled: " + shuffled,
             "do personas with the same top genre sit together in the persona space?"),
            ("seed stability", seed_text, "within-user shuffle", ("do two training seeds put the history items "
             "in the same personas?"))]
    body = "".join(f'<tr><td>{name}</td><td class="num">{value}</td><td>{null}</td><td class="muted small">'
                   f"{meaning}</td></tr>" for name, value, null, meaning in rows)
    return (head + f'<p class="intro">Would a person recognise these personas? Measured on a random sample of '
            f"{q['users']:,} users (seed-drawn), each figure beside its null (personae.explain.persona_quality)."
            f'</p><div class="card"><div class="table-wrap"><table class="figure-table" id="quality-table"><tr>'
            f"<th>measure</th><th>figure</th><th>null</th><th>what it asks</th></tr>{body}</table></div></div>"
            f"</section>")


def _users_section(report: Report) -> str:
    marked = report.space is not None
    cards = "".join(_user_card(example, report.colours, user_marker(n)[1] if marked else "")
                    for n, example in enumerate(report.examples))
    return (f'<section id="users"><h2>Example users</h2><p class="intro">{escape(report.examples_rule)} '
            f"Each recommendation is tagged with the persona that wins its attention; the thin bar shows the "
            f"attention over all of the user's personas, and the items behind the winner follow "
            f"&ldquo;because&rdquo;.</p>{cards}</section>")


def _user_card(example: ExampleUser, colours: dict[str, str], marker: str) -> str:
    mix = example.mix
    colour_of = {p: colours.get(top_genre(label), OTHER) for p, label in zip(mix.persona_ids, mix.labels)}
    by_weight = sorted(range(len(mix.persona_ids)), key=lambda k: -float(mix.weights[k]))
    personas = "".join(_persona_item(mix, k, colour_of[mix.persona_ids[k]]) for k in by_weight)
    rows = "".join(_recommendation_row(rank, title, why, colour_of)
                   for rank, (title, why) in enumerate(zip(example.titles, example.explanations), 1))
    on_map = f'<span class="marker" title="ringed on the map with this shape">{marker} on the map</span>' if marker else ""
    n = len(mix.persona_ids)
    return (f'<article class="card user" id="user-{escape(mix.user_id)}"><header><h3>User {escape(mix.user_id)}'
            f'</h3>{on_map}<span class="muted">{len(mix.history)} training items · {n} '
            f'persona{"s" if n != 1 else ""}</span></header><div class="user-grid">'
            f'<div><h4>Personas</h4><ol class="persona-list">{personas}</ol></div>'
            f'<div><h4>Top {len(example.items)}, each traced to a persona</h4><table class="recs">{rows}</table>'
            f"</div></div></article>")


def _persona_item(mix: PersonaMix, k: int, colour: str) -> str:
    """One persona of a user: chip, label, weight bar, supporting items, how much history it owns."""
    persona, weight = mix.persona_ids[k], float(mix.weights[k])
    titles = mix.supporting_titles[k] if k < len(mix.supporting_titles) else []
    owned = mix.history_persona.count(persona)
    if titles:
        support = (f'<div class="support">e.g. {" · ".join(escape(t) for t in titles)}</div>'
                   f'<div class="muted small">{owned} of {len(mix.history)} history items</div>')
    else:
        support = '<div class="muted small">owns none of the user\'s history items</div>'
    return (f'<li><div class="persona-head">{_chip(persona, colour)}<span class="label">{escape(mix.labels[k])}'
            f'</span></div><div class="weight"><span class="bar"><span style="width:{weight:.1%};'
            f'background:{colour}"></span></span><span class="pct">{weight:.0%}</span></div>{support}</li>')


def _recommendation_row(rank: int, title: str, why: Explanation, colour_of: dict[int, str]) -> str:
    """One recommendation: title, the items behind it, the winning persona and the attention over all."""
    segments = "".join(
        f'<span style="width:{w:.1%};background:{colour_of.get(p, OTHER)}" title="P{p}: {w:.0%}"></span>'
        for p, w in enumerate(why.persona_weights) if w > 0)
    because = " · ".join(escape(t) for t in why.supporting_titles)
    return (f'<tr><td class="rank">{rank}</td><td><div class="title">{escape(title)}</div>'
            f'<div class="because">because: {because}</div></td><td class="who">'
            f'{_chip(why.persona, colour_of.get(why.persona, OTHER), why.label)}'
            f'<div class="stack">{segments}</div></td></tr>')


def _chip(persona: int, colour: str, label: str | None = None) -> str:
    text = f"P{persona}" + (f" · {top_genre(label)}" if label else "")
    empty = ' empty' if colour == EMPTY else ''
    return (f'<span class="chip{empty}" style="--c:{colour}" title="{escape(label or "")}">'
            f"{escape(text)}</span>")


def _figures_section(figures: list[FigureFile]) -> str:
    if not figures:
        return ""
    parts = [('<section id="figures"><h2>Figures</h2><p class="intro">From benchmark figure files '
              "(<code>--figures</code>), each with the command that made it.</p>")]
    for n, figure in enumerate(figures):
        parts.append(f'<article class="card figure-file" id="figure-{n}"><h3>{escape(figure.title)}</h3>'
                     f'<p class="muted small">{escape(figure.path.name)}</p>')
        if figure.command:
            parts.append(f'<pre class="command"><code>{escape(figure.command)}</code></pre>')
        if figure.summary:
            parts.append(_key_values(figure.summary))
        if figure.table:
            parts.append(_table(figure.columns, figure.table))
        parts.append("</article>")
    return "".join(parts) + "</section>"


def _table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    numeric = {c for c in columns if all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows)}
    head = "".join(f'<th class="{"num" if c in numeric else ""}">{escape(c)}</th>' for c in columns)
    body = "".join("<tr>" + "".join(f'<td class="{"num" if c in numeric else ""}">{escape(fmt(r.get(c)))}</td>'
                                    for c in columns) + "</tr>" for r in rows)
    return f'<div class="table-wrap"><table class="figure-table"><tr>{head}</tr>{body}</table></div>'


def _key_values(values: dict[str, Any]) -> str:
    cells = "".join(f'<div><span class="k">{escape(str(k))}</span><span class="v">{escape(fmt(v))}</span></div>'
                    for k, v in values.items())
    return f'<div class="kv">{cells}</div>'


def _model_section(facts: ModelFacts) -> str:
    metrics = {k: facts.metrics[k] for k in SHOWN_METRICS if k in facts.metrics}
    metrics_html = (_key_values(metrics) if metrics else f'<p class="muted">Test metrics {escape(facts.metrics_note)}.</p>')
    data = _key_values({"dataset": facts.dataset or "not recorded", "users": facts.n_users, "items": facts.n_items,
                        "training events": facts.n_events})
    return (f'<section id="model"><h2>Model</h2><div class="card"><h4>Data</h4>{data}'
            f"<h4>Test metrics (leave-last-out, full ranking)</h4>{metrics_html}"
            f"<h4>Options</h4>{_key_values(facts.options)}</div></section>")


def _footer(report: Report) -> str:
    return (f"<footer>Written by <code>personae report {escape(report.model_dir)}</code> on {report.generated}."
            f"</footer>")
