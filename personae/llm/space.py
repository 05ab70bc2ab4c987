"""A language model's persona space (after arXiv:2601.10387): role vectors and the default-persona axis.

The geometry (PCA, axis statistics, capping) is :mod:`personae.space`, shared with users' personas; this module
only measures role vectors on a model and keeps them per layer.

A role vector is the mean residual-stream activation over the response tokens of that role's replies
(all its system prompts x questions). The default-persona axis at a layer is
    axis = mean activation with no role prompt  -  mean of the role vectors,
so a positive projection on it means "more like the model's default persona".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from personae.llm.backends import Conversation, LLMBackend
from personae.llm.bank import RoleBank
from personae.llm.storage import read_arrays, write_arrays, write_json
from personae.space import axis_summary, fit_pca, unit


def default_axis(default_vector: np.ndarray, role_vectors: np.ndarray) -> np.ndarray:
    """(..., d) default minus mean role vector; role_vectors (n_roles, ..., d). Not normalised, per layer."""
    return default_vector - role_vectors.mean(0)


# ---------------------------------------------------------------------------------------------- data


@dataclass
class PersonaSpace:
    """Everything measured for the axis, at every layer, so capping and drift can reuse it."""

    layer: int  # the layer the summary is about (middle by default)
    role_names: list[str]
    role_vectors: np.ndarray  # (n_roles, n_layers, d)
    default_vector: np.ndarray  # (n_layers, d)
    role_sample_projections: np.ndarray  # (n_role_samples, n_layers) projection of each role reply on the unit axis
    default_sample_projections: np.ndarray  # (n_default_samples, n_layers)
    meta: dict = field(default_factory=dict)
    role_sample_activations: np.ndarray | None = None  # (n_role_samples, d) at `layer`: for the permuted-label null
    role_sample_owner: np.ndarray | None = None  # (n_role_samples,) role index of each sample

    @property
    def axis(self) -> np.ndarray:
        return default_axis(self.default_vector, self.role_vectors)  # (n_layers, d)

    def unit_axis(self, layer: int | None = None) -> np.ndarray:
        a = unit(self.axis)
        return a if layer is None else a[layer]

    def summary(self, layer: int | None = None) -> dict:
        layer = self.layer if layer is None else layer
        s = axis_summary(self.role_vectors[:, layer], self.default_vector[layer])
        s.pop("pc1")
        per_layer = [axis_summary(self.role_vectors[:, i], self.default_vector[i])
                     for i in range(self.role_vectors.shape[1])]
        order = np.argsort(s["role_pc1_scores"])  # ascending: far from the default first
        return {"layer": layer, "n_layers": int(self.role_vectors.shape[1]), "roles": self.role_names, **s,
                "pc1_lowest_roles": [self.role_names[i] for i in order[:5]],
                "pc1_highest_roles": [self.role_names[i] for i in order[::-1][:5]],
                "axis_pc1_cosine_by_layer": [p["axis_pc1_cosine"] for p in per_layer],
                "pc1_explained_by_layer": [p["pc1_explained"] for p in per_layer], **self.meta}

    def tests(self, n_null: int = 500, seed: int = 0) -> dict:
        """Nulls and role-bootstrap CIs for the axis claims at the summary layer (personae.llm.axis_tests)."""
        from personae.llm.axis_tests import axis_tests

        return axis_tests(self.role_vectors[:, self.layer], self.default_vector[self.layer],
                          self.role_sample_activations, self.role_sample_owner, n_null=n_null, seed=seed)

    def save(self, out: str | Path) -> None:
        out = Path(out)
        samples = {} if self.role_sample_activations is None else {
            "role_sample_activations": self.role_sample_activations,
            "role_sample_owner": np.asarray(self.role_sample_owner, dtype=np.int64)}
        write_arrays(out / "vectors.safetensors", {
            "role_vectors": self.role_vectors, "default_vector": self.default_vector, "axis": self.axis,
            "role_sample_projections": self.role_sample_projections,
            "default_sample_projections": self.default_sample_projections, **samples})
        write_json(out / "space.json", {"layer": self.layer, "role_names": self.role_names, "meta": self.meta})

    @classmethod
    def load(cls, out: str | Path) -> PersonaSpace:
        """Read what `save` (i.e. `personae llm axis --out DIR`) wrote."""
        import json

        out = Path(out)
        if not (out / "space.json").is_file():
            raise FileNotFoundError(f"no persona space in {out} (expected space.json from 'personae llm axis')")
        info = json.loads((out / "space.json").read_text())
        arr = read_arrays(out / "vectors.safetensors")
        return cls(info["layer"], info["role_names"], arr["role_vectors"], arr["default_vector"],
                   arr["role_sample_projections"], arr["default_sample_projections"], info.get("meta", {}),
                   arr.get("role_sample_activations"), arr.get("role_sample_owner"))


# ---------------------------------------------------------------------------------------------- measure


def role_conversations(bank: RoleBank) -> tuple[list[Conversation], list[int]]:
    """Every (role, system prompt, question) as a chat, and the role index of each."""
    convs, owner = [], []
    for i, role in enumerate(bank.roles):
        for sp in role.system_prompts:
            for q in bank.questions:
                convs.append([{"role": "system", "content": sp}, {"role": "user", "content": q}])
                owner.append(i)
    return convs, owner


def default_conversations(questions) -> list[Conversation]:
    """No role prompt: the chat template's own default applies (SmolLM2 inserts its stock system prompt)."""
    return [[{"role": "user", "content": q}] for q in questions]


def build_persona_space(backend: LLMBackend, bank: RoleBank, *, layer: int | None = None, max_new_tokens: int = 24,
                        default_questions: Sequence[str] | None = None,
                        seed: int = 0) -> tuple[PersonaSpace, list[dict]]:
    """Generate greedy replies for every role chat and for the no-role default (on `default_questions`,
    default: the bank's questions), then average the residual stream over the reply tokens. Returns the space
    and the transcripts (role, prompt, question, reply)."""
    t0 = time.time()
    convs, owner = role_conversations(bank)
    dconvs = default_conversations(bank.questions if default_questions is None else default_questions)
    replies = backend.chat(convs + dconvs, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    acts = backend.response_activations(convs + dconvs, replies)  # (n_role + n_default, n_layers, d)
    role_acts, default_acts = acts[:len(convs)], acts[len(convs):]
    owner_arr = np.asarray(owner)
    role_vectors = np.stack([role_acts[owner_arr == i].mean(0) for i in range(len(bank.roles))])
    default_vector = default_acts.mean(0)
    n_layers = acts.shape[1]
    layer = n_layers // 2 if layer is None else layer
    if not 0 <= layer < n_layers:
        raise ValueError(f"--layer must be between 0 and {n_layers - 1}, got {layer}")
    u = unit(default_axis(default_vector, role_vectors))  # (n_layers, d)
    space = PersonaSpace(
        layer, [r.name for r in bank.roles], role_vectors, default_vector,
        np.einsum("nld,ld->nl", role_acts, u), np.einsum("nld,ld->nl", default_acts, u),
        meta={"n_roles": len(bank.roles), "n_prompts": bank.n_prompts, "n_questions": len(bank.questions),
              "n_default_chats": len(dconvs),
              "max_new_tokens": max_new_tokens, "seed": seed, "n_generations": len(replies),
              "seconds": round(time.time() - t0, 1),
              "measured": "mean residual stream (decoder block output) over the tokens of the model's own greedy "
                          f"reply (<= {max_new_tokens} new tokens), teacher-forced after the chat prompt"},
        role_sample_activations=role_acts[:, layer], role_sample_owner=owner_arr)
    transcripts = [{"role": bank.roles[o].name, "system": c[0]["content"], "question": c[1]["content"], "reply": r}
                   for c, o, r in zip(convs, owner, replies[:len(convs)])]
    transcripts += [{"role": "(default)", "system": None, "question": c[0]["content"], "reply": r}
                    for c, r in zip(dconvs, replies[len(convs):])]
    return space, transcripts


def plot_space(space: PersonaSpace, out_dir: str | Path) -> list[Path]:
    """explained_variance.png (scree + cumulative) and pc_scatter.png (roles on PC1/PC2, default marked)."""
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    out_dir = Path(out_dir)
    s = axis_summary(space.role_vectors[:, space.layer], space.default_vector[space.layer])
    ratio = np.asarray(s["explained_variance_ratio"])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    k = np.arange(1, min(len(ratio), 20) + 1)
    ax.bar(k, ratio[:len(k)], label="per component")
    ax.plot(k, np.cumsum(ratio)[:len(k)], "o-", color="C1", label="cumulative")
    ax.set(xlabel="principal component", ylabel="explained variance ratio", ylim=(0, 1),
           title=f"PCA of {len(space.role_names)} role vectors, layer {space.layer}")
    ax.legend()
    paths = [save_figure(fig, out_dir / "explained_variance.png")]

    x = space.role_vectors[:, space.layer]
    fitted = fit_pca(x)
    comps, mean = fitted.components, fitted.mean
    pc1 = s["pc1"]
    pc2 = comps[1] if len(comps) > 1 else np.zeros_like(pc1)
    xy = np.stack([(x - mean) @ pc1, (x - mean) @ pc2], 1)
    d = space.default_vector[space.layer] - mean
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.scatter(xy[:, 0], xy[:, 1], s=14, color="C0")
    for (a, b), name in zip(xy, space.role_names):
        ax.annotate(name, (a, b), fontsize=6, alpha=0.8)
    ax.scatter([d @ pc1], [d @ pc2], marker="*", s=180, color="C3", label="default (no role prompt)")
    ax.set(xlabel="PC1 (oriented toward default)", ylabel="PC2", title=f"Persona space, layer {space.layer}")
    ax.legend(loc="best", fontsize=8)
    paths.append(save_figure(fig, out_dir / "pc_scatter.png"))

    summ = space.summary()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(summ["axis_pc1_cosine_by_layer"], "o-", label="cos(axis, PC1)")
    ax.plot(summ["pc1_explained_by_layer"], "s-", label="PC1 explained")
    ax.axvline(space.layer, color="gray", ls=":")
    ax.set(xlabel="layer", ylim=(0, 1.02), title="Default axis vs PC1 by layer")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out_dir / "axis_by_layer.png"))
    return paths
