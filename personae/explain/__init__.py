"""Explanations you can check: lift labels, per-recommendation attribution, supporting items, faithfulness."""

from personae.explain.labels import genre_lift, lift_label

__all__ = ["genre_lift", "lift_label"]
