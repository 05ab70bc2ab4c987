"""Evaluation: the metrics module and the one full-ranking evaluator."""

from personae.evaluate.evaluator import EvaluationResult, evaluate
from personae.evaluate.metrics import top_k

__all__ = ["EvaluationResult", "evaluate", "top_k"]
