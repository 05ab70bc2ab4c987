"""The multi-turn persona dialogue harness: a persona-prompted model talks with a partner.

A partner is either a scripted list of turns or a callable `partner(transcript) -> str | None` (None ends
the dialogue), so a later user simulator can speak through the same harness. Dialogues run in lock-step
so each turn of all dialogues is one batched generation call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from personae.llm.backends import Conversation, LLMBackend


@dataclass
class Turn:
    partner: str
    reply: str
    activation: np.ndarray | None = None  # (n_layers, d) mean residual stream over the reply tokens


@dataclass
class Transcript:
    system_prompt: str | None
    turns: list[Turn] = field(default_factory=list)

    def messages(self, upto: int | None = None) -> Conversation:
        """The chat so far (turns[:upto]) as messages, system prompt first."""
        msgs: Conversation = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        for t in self.turns[:upto]:
            msgs += [{"role": "user", "content": t.partner}, {"role": "assistant", "content": t.reply}]
        return msgs

    def replies(self) -> list[str]:
        return [t.reply for t in self.turns]

    def to_dict(self) -> dict:
        return {"system_prompt": self.system_prompt,
                "turns": [{"partner": t.partner, "reply": t.reply} for t in self.turns]}


Partner = Sequence[str] | Callable[[Transcript], str | None]


def _next_line(partner: Partner, transcript: Transcript) -> str | None:
    if callable(partner):
        return partner(transcript)
    i = len(transcript.turns)
    return partner[i] if i < len(partner) else None


def run_dialogues(backend: LLMBackend, system_prompts: Sequence[str | None], partners: Sequence[Partner], *,
                  max_turns: int | None = None, max_new_tokens: int = 40, temperature: float = 0.0, seed: int = 0,
                  capture_hidden: bool = True, history_turns: int | None = None) -> list[Transcript]:
    """Run one dialogue per (system prompt, partner), turn by turn, batched across dialogues.

    capture_hidden: store each reply's per-layer mean activation (local backends only; ignored otherwise).
    history_turns: keep only the last N previous turns in the context (None: all), to bound prompt length."""
    if len(system_prompts) != len(partners):
        raise ValueError("system_prompts and partners must have the same length")
    capture = capture_hidden and backend.supports_hidden_states
    transcripts = [Transcript(sp) for sp in system_prompts]
    active = list(range(len(transcripts)))
    turn = 0
    while active and (max_turns is None or turn < max_turns):
        lines = {i: _next_line(partners[i], transcripts[i]) for i in active}
        active = [i for i in active if lines[i] is not None]
        if not active:
            break
        convs = []
        for i in active:
            t = transcripts[i]
            keep = t.turns if history_turns is None else t.turns[max(0, len(t.turns) - history_turns):]
            convs.append(Transcript(t.system_prompt, keep).messages() + [{"role": "user", "content": lines[i]}])
        replies = backend.chat(convs, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + turn)
        acts = backend.response_activations(convs, replies) if capture else [None] * len(active)
        for i, reply, act in zip(active, replies, acts):
            transcripts[i].turns.append(Turn(lines[i], reply, act))
        turn += 1
    return transcripts


class PersonaDialogue:
    """One persona talking with one partner: `PersonaDialogue(backend, "You are a pirate.").run(["Hi!", ...])`."""

    def __init__(self, backend: LLMBackend, system_prompt: str | None, *, max_new_tokens: int = 40,
                 temperature: float = 0.0, seed: int = 0, capture_hidden: bool = True):
        self.backend, self.system_prompt = backend, system_prompt
        self.options = {"max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed,
                        "capture_hidden": capture_hidden}

    def run(self, partner: Partner, max_turns: int | None = None) -> Transcript:
        return run_dialogues(self.backend, [self.system_prompt], [partner], max_turns=max_turns, **self.options)[0]
