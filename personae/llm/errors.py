"""The LLM lab's own error type, in a module of its own so that every room of the lab (backends, adapters,
embeddings) can raise it without importing the backends."""


class BackendError(RuntimeError):
    """A backend could not be created or called; the message names what and where."""
