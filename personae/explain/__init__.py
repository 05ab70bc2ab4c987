"""Explanations you can check: lift labels, per-recommendation attribution, supporting items, faithfulness."""

from personae.explain.attribution import explained_recommendations
from personae.explain.labels import genre_lift, lift_label

__all__ = ["explained_recommendations", "genre_lift", "lift_label"]
