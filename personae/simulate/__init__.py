"""Persona-conditioned user simulation: simulator, realism, consistency and drift, learned anchoring, ICC
stability, coverage-driven persona generation, and recommenders in the loop (``personae simulate``)."""

from personae.simulate.simulator import Sessions, SimulatorParams, random_sessions, simulate
from personae.simulate.world import Population, World, population_from_model, world_from_model

__all__ = ["Population", "Sessions", "SimulatorParams", "World", "population_from_model", "random_sessions",
           "simulate", "world_from_model"]
