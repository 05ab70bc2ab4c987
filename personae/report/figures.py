"""Matplotlib figures for the report, returned as base64 PNG so the page needs no other file.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot state), so building a
report never opens a window or depends on the process's backend.
"""

from __future__ import annotations

import base64
import io
from collections import Counter

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from personae.report.content import NO_ITEMS_LABEL, PersonaMap

# Tableau 10 without its grey, then five more hues; grey is kept for the groups past the palette ("other").
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#2f4b7c", "#bcbd22", "#17becf", "#d37295", "#8cd17d")
OTHER = "#bab0ac"
EMPTY = "#d9d6cf"  # personas that own no history item: drawn hollow
OTHER_LABEL = "other"
DPI = 144
# (matplotlib marker, the same shape as text): example users are ringed on the map with these, in order.
USER_MARKERS = (("o", "○"), ("s", "□"), ("D", "◇"), ("^", "△"), ("v", "▽"), ("p", "⬠"))


def user_marker(n: int) -> tuple[str, str]:
    """Marker of the ``n``-th highlighted user (cycling)."""
    return USER_MARKERS[n % len(USER_MARKERS)]


def group_colours(groups: list[str]) -> dict[str, str]:
    """Colour of each group: the most frequent groups get the palette (ties by name), the rest grey."""
    counts = Counter(g for g in groups if g != NO_ITEMS_LABEL)
    ranked = sorted(counts, key=lambda g: (-counts[g], g))
    colours = {g: PALETTE[i] if i < len(PALETTE) else OTHER for i, g in enumerate(ranked)}
    colours[NO_ITEMS_LABEL] = EMPTY
    return colours


def png_base64(figure: Figure) -> str:
    """The figure as a base64-encoded PNG (for a ``data:image/png;base64,`` URL)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def persona_map_figure(space: PersonaMap, colours: dict[str, str], highlight: list[str]) -> Figure:
    """Scatter of every persona on PC1/PC2, coloured by top genre, sized by weight; the personas of the
    ``highlight`` users ringed and named."""
    figure = Figure(figsize=(8.6, 5.4), layout="constrained")
    ax = figure.add_subplot()
    coords, weights = space.coords, space.weights
    colour = np.array([colours.get(g, OTHER) for g in space.groups])
    sizes = 10 + 70 * weights  # (n,) area grows with the persona's weight in its user
    empty = np.asarray(space.groups) == NO_ITEMS_LABEL
    ax.scatter(coords[empty, 0], coords[empty, 1], s=sizes[empty], facecolors="none", edgecolors="#b5b0a6",
               linewidths=0.7)
    grey = ~empty & (colour == OTHER)
    for shown in (grey, ~empty & ~grey):  # grey first, so colours sit on top
        ax.scatter(coords[shown, 0], coords[shown, 1], s=sizes[shown], c=colour[shown], alpha=0.75,
                   linewidths=0.4, edgecolors="white")
    users = []
    for n, user in enumerate(highlight):
        mine = np.flatnonzero(np.asarray(space.owners) == user)
        if len(mine):
            users.append(ax.scatter(coords[mine, 0], coords[mine, 1], s=sizes[mine] + 70, marker=user_marker(n)[0],
                                    facecolors="none", edgecolors="#1f2328", linewidths=1.5, label=f"user {user}"))
    ax.set_xlabel(f"PC1 ({space.explained[0]:.0%} of variance)", color="#444444")
    ax.set_ylabel(f"PC2 ({space.explained[1]:.0%} of variance)", color="#444444")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines[["left", "bottom"]].set_color("#999999")
    ax.tick_params(colors="#666666", labelsize=8)
    ax.grid(True, color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    _legend(figure, ax, space.groups, colours)
    if users:
        figure.legend(handles=users, title="example users", loc="outside right lower", frameon=False, fontsize=8,
                      title_fontsize=9, alignment="left")
    return figure


def _legend(figure: Figure, ax, groups: list[str], colours: dict[str, str]) -> None:
    """Named groups by size, then "other" (the grey ones together), then personas with no items."""
    counts = Counter(OTHER_LABEL if colours.get(g, OTHER) == OTHER else g for g in groups)
    named = sorted((g for g in counts if g not in (OTHER_LABEL, NO_ITEMS_LABEL)), key=lambda g: (-counts[g], g))
    handles = [ax.scatter([], [], s=40, c=colours[g], label=f"{g} ({counts[g]})") for g in named]
    if counts.get(OTHER_LABEL):
        handles.append(ax.scatter([], [], s=40, c=OTHER, label=f"{OTHER_LABEL} ({counts[OTHER_LABEL]})"))
    if counts.get(NO_ITEMS_LABEL):
        handles.append(ax.scatter([], [], s=40, facecolors="none", edgecolors="#b5b0a6",
                                  label=f"{NO_ITEMS_LABEL} ({counts[NO_ITEMS_LABEL]})"))
    figure.legend(handles=handles, title="top genre (personas)", loc="outside right upper", frameon=False,
                  fontsize=8, title_fontsize=9, alignment="left")
