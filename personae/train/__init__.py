"""The one training loop, its losses and shared options."""

from personae.train.loop import TrainOptions, TrainReport, seed_everything, train_network

__all__ = ["TrainOptions", "TrainReport", "seed_everything", "train_network"]
