"""personae: users as weighted mixes of personas."""

__version__ = "0.1.0"
