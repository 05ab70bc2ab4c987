"""The persona service: recommendations with explanations over HTTP, personas that evolve online (capped by
``personae.space``), FAISS multi-vector retrieval for large catalogues, and a persona explorer page.

Layers, each usable on its own:
    (attention and the online-update gradient live in personae.models.attention, shared with training)
    retrieval.py  exact top-k below ``EXACT_MAX_ITEMS`` items, FAISS per-persona search + exact re-scoring above
    online.py     each user's persona state and how an event moves it (fold-in steps or history pooling, capped)
    store.py      the event and persona-state store (SQLite in WAL mode behind a small interface)
    service.py    the glue: users, items, events, recommendations, personas (no HTTP)
    app.py        the FastAPI app (security, limits, JSON endpoints, the page at ``/``)
"""
