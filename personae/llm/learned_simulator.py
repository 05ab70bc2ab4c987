"""Route g: a learned user simulator. LoRA adapters (peft) trained by rejection-sampling fine-tuning on the
consistency reward, not by DPO: for each turn of the training personas' conversations, N chat-slot
candidates are sampled, the judge's prompt-to-line score ranks them, and the adapter learns the best one
(the pair best/worst is recorded; only the best is trained on). Cheaper than DPO on CPU (one forward and
backward pass per example, no reference model), and what arXiv:2511.00222's best-of-N baseline distils.

Held-out personas are never seen in training: `train_simulator` takes the training personas only and
records their names in the adapter's metadata; `personae llm simulate-users --persona-offset` evaluates others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from personae.llm.backends import LLMBackend
from personae.llm.persona_consistency import Judge
from personae.llm.user_routes import BestOfNRoute, SimulatedUser, run_route


@dataclass
class RecordingBestOfN(BestOfNRoute):
    """Best-of-N that keeps every (request, best, worst, scores) it ranked: the training data."""

    examples: list[dict] = field(default_factory=list)

    def generate(self, backend, contexts, *, max_new_tokens, temperature, seed):
        rows, scores = self.candidates(backend, contexts, max_new_tokens=max_new_tokens, temperature=temperature,
                                       seed=seed)
        best = [int(s.argmax()) for s in scores]
        for ctx, row, s, b in zip(contexts, rows, scores, best):
            self.examples.append({"request": self.request(ctx), "best": row[b], "worst": row[int(s.argmin())],
                                  "best_score": float(s[b]), "worst_score": float(s.min())})
        return [row[b] for row, b in zip(rows, best)]


def example_tensors(backend: LLMBackend, example: dict):
    """(input_ids (1, L), labels (1, L)): the chat-slot prompt then the best reply and end-of-turn; the loss
    is on the reply only (prompt labels -100)."""
    import torch

    tok = backend.tokenizer
    prompt = backend.prompt_ids(example["request"])
    reply = tok(example["best"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([prompt + reply])
    labels = torch.tensor([[-100] * len(prompt) + reply])
    return ids, labels


def fine_tune(backend: LLMBackend, examples: list[dict], *, rank: int = 8, steps: int = 100, lr: float = 2e-4,
              seed: int = 0):
    """LoRA (q_proj, v_proj) on the backend's model, `steps` single-example AdamW steps cycling through the
    shuffled examples. Returns the peft model (the caller saves it, then unloads it) and the losses."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                        task_type="CAUSAL_LM")
    model = get_peft_model(backend.model, config)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    order = np.random.default_rng(seed).permutation(len(examples))
    losses = []
    for step in range(steps):
        ids, labels = example_tensors(backend, examples[order[step % len(order)]])
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.item()))
    model.eval()
    return model, losses


def train_simulator(backend: LLMBackend, users: list[SimulatedUser], scripts: list[list[str]], user_prompt: str,
                    out: str | Path, *, n_candidates: int = 4, steps: int = 100, rank: int = 8, lr: float = 2e-4,
                    temperature: float = 0.7, max_new_tokens: int = 24, seed: int = 0) -> dict:
    """Collect best-of-N examples on the training personas, fine-tune a LoRA adapter on them, save it to
    `out` (safetensors + checksums) and leave the backend's model as it was."""
    from personae.llm.adapters import save_adapter

    t0 = time.time()
    route = RecordingBestOfN(letter="g", title="training data for g", user_prompt=user_prompt,
                             n_candidates=n_candidates, judge=Judge(backend, seed=seed))
    run_route(route, backend, users, scripts, 1, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    collected = time.time() - t0
    model, losses = fine_tune(backend, route.examples, rank=rank, steps=steps, lr=lr, seed=seed)
    meta = {"method": "rejection-sampling fine-tuning: best of N chat-slot candidates by the judge's "
                      "prompt-to-line score (not DPO)",
            "base_model": str(getattr(backend, "path", "?")), "train_personas": [u.name for u in users],
            "n_scripts": len(scripts), "turns": len(scripts[0]), "n_candidates": n_candidates,
            "n_examples": len(route.examples), "steps": steps, "rank": rank, "lr": lr, "seed": seed,
            "mean_best_score": float(np.mean([e["best_score"] for e in route.examples])),
            "mean_worst_score": float(np.mean([e["worst_score"] for e in route.examples])),
            "loss_first_10": float(np.mean(losses[:10])), "loss_last_10": float(np.mean(losses[-10:])),
            "seconds_collecting": round(collected, 1), "seconds_training": round(time.time() - t0 - collected, 1)}
    try:
        save_adapter(model, out, meta)
    finally:
        model.unload()  # the shared base model must not keep the LoRA layers
        backend.model.eval()
    return meta
