"""Data files of the LLM persona lab (role bank, questions, scripts, held-out text)."""
