"""Which replica serves a user: rendezvous hashing of the user id over the replicas that are up.

Each (user, replica) pair gets a score from a hash; the user goes to the replica with the highest score. When a
replica goes down, only its own users move (each to the replica with its next-highest score), and they come
back when it returns. A client, a load balancer rule or a small proxy applies it; the replicas themselves need
no coordination beyond the shared PostgreSQL store (``personae.serve.postgres_store``).
"""

from __future__ import annotations

import hashlib


def replica_for(user_id: str, replicas: list[str]) -> str:
    """The replica (any name or URL from ``replicas``) that serves ``user_id``."""
    if not replicas:
        raise ValueError("replica_for: no replica is up")
    return max(replicas, key=lambda replica: hashlib.sha256(f"{replica}\n{user_id}".encode()).digest())
