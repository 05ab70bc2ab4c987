"""Two LLM backends behind one small interface: a local Hugging Face model and an OpenAI-compatible endpoint.

The interface is what every instrument needs and nothing more:
- `chat(conversations)`      -> one reply per conversation (batched; greedy at temperature 0)
- `choose(conversations, options)` -> (n, n_options) probabilities of answering with each option
- `response_activations(conversations, responses)` -> (n, n_layers, d) residual-stream means (local only)
- `complete(prompts)`       -> one line of plain text continuation per prompt, no chat template (transcript
                               continuation; the only verb a base model that was never chat-tuned offers)
The OpenAI backend has no hidden states and raises `HiddenStatesUnavailable` where they are needed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from personae.llm.errors import BackendError

Message = dict[str, str]
Conversation = list[Message]



class HiddenStatesUnavailable(BackendError):
    """The backend (e.g. a remote chat endpoint) exposes no hidden states."""


def _offline() -> None:
    # Nothing may ever be fetched from a model hub: every load is from a local path.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class LLMBackend:
    """Base class: the three verbs every instrument calls."""

    name = "base"
    supports_hidden_states = False

    def chat(self, conversations: list[Conversation], *, max_new_tokens: int = 48, temperature: float = 0.0,
             seed: int = 0) -> list[str]:
        raise NotImplementedError

    def choose(self, conversations: list[Conversation], options: list[str], *, temperature: float = 1.0,
               seed: int = 0) -> np.ndarray:
        """(n, n_options) probabilities that the reply starts with each option."""
        raise NotImplementedError

    def complete(self, prompts: list[str], *, max_new_tokens: int = 48, temperature: float = 0.0,
                 seed: int = 0) -> list[str]:
        """The first line the model writes after each prompt (plain text, no chat template)."""
        raise NotImplementedError

    def response_log_likelihood(self, conversations: list[Conversation], responses: list[str]) -> np.ndarray:
        """(n,) summed log-probability of each response's tokens as the assistant's reply to its conversation."""
        raise HiddenStatesUnavailable(
            f"backend '{self.name}' gives no token log-probabilities; use --backend local to score answers")

    def continuation_log_likelihood(self, prompts: list[str], continuations: list[str]) -> np.ndarray:
        """(n,) summed log-probability of each continuation after its plain-text prompt (no chat template)."""
        raise HiddenStatesUnavailable(
            f"backend '{self.name}' gives no token log-probabilities; use --backend local to score lines")

    def contrastive_complete(self, prompts: list[str], contrast_prompts: list[str], *, weight: float,
                             plausibility: float = 0.1, max_new_tokens: int = 48, temperature: float = 0.0,
                             seed: int = 0) -> list[str]:
        """`complete`, with every next token scored against what the model would write after the matching
        contrast prompt (LocalBackend.contrastive_complete)."""
        raise HiddenStatesUnavailable(
            f"backend '{self.name}' gives no next-token distributions; use --backend local for contrastive decoding")

    def response_activations(self, conversations: list[Conversation], responses: list[str]) -> np.ndarray:
        raise HiddenStatesUnavailable(
            f"backend '{self.name}' exposes no hidden states; use --backend local for activation instruments")

    @property
    def model(self) -> Any:
        raise HiddenStatesUnavailable(f"backend '{self.name}' has no local model to hook")


# ---------------------------------------------------------------------------------------------- local


def _cache_root() -> Path:
    return Path(os.environ.get("PERSONAE_HOME", Path.home() / ".cache" / "personae")) / "llm-models"


def _dequantized_cache(gguf: Path) -> Path | None:
    """Dequantising a GGUF takes ~40 s on 2 cores; the float32 copy in $PERSONAE_HOME reloads in ~1 s."""
    if os.environ.get("PERSONAE_LLM_CACHE", "1") == "0":
        return None
    st = gguf.stat()
    return _cache_root() / f"{gguf.stem}-{st.st_size}-{int(st.st_mtime)}"


def _load_from_gguf(gguf: Path):
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = _dequantized_cache(gguf)
    if cache is not None and (cache / "model.safetensors").is_file():
        return AutoModelForCausalLM.from_pretrained(cache), AutoTokenizer.from_pretrained(cache)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if cache is not None:
        tmp = None
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache.parent))
            save_model(model, str(tmp / "model.safetensors"))
            config = model.config.to_dict()
            config.pop("quantization_config", None)
            type(model.config).from_dict(config).save_pretrained(tmp)
            model.generation_config.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            os.replace(tmp, cache)
        except OSError:  # a read-only home, or a concurrent writer, only costs the speed-up
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return model, tok


def resolve_model_path(model_path: str | Path | None) -> Path:
    """None -> built-in SmolLM2 GGUF; a .gguf file; a directory with config.json; a directory with one .gguf;
    or a model name from `personae llm models` (assembled by `personae llm fetch NAME`)."""
    from personae.llm.model_registry import MODELS, default_model_path, resolve_named_model

    if model_path is None:
        return default_model_path()
    p = Path(model_path).expanduser()
    if not p.exists() and str(model_path) in MODELS:
        return resolve_named_model(str(model_path))
    if not p.exists():
        raise BackendError(f"model path not found: {p} (nor a model name: {', '.join(MODELS)})")
    if p.is_file():
        if p.suffix != ".gguf":
            raise BackendError(f"model file is not a .gguf: {p}")
        return p
    if (p / "config.json").is_file():
        return p
    ggufs = sorted(p.glob("*.gguf"))
    if len(ggufs) == 1:
        return ggufs[0]
    raise BackendError(f"no config.json or single .gguf file in model directory: {p}")


class LocalBackend(LLMBackend):
    """A Hugging Face causal LM on CPU. `model_path` as in `resolve_model_path`."""

    name = "local"
    supports_hidden_states = True

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 16,
                 adapter: str | Path | None = None):
        _offline()
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        self.path = resolve_model_path(model_path)
        self.batch_size = batch_size
        try:
            if self.path.is_file():
                model, tok = _load_from_gguf(self.path)
            else:
                model = AutoModelForCausalLM.from_pretrained(self.path)
                tok = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError) as exc:
            raise BackendError(f"could not load local model from {self.path}: {exc}") from exc
        if adapter is not None:
            from personae.llm.adapters import load_adapter

            model = load_adapter(model, adapter)
        self._model = model.eval().to(torch.float32)
        self.tokenizer = tok
        self.adapter = None if adapter is None else str(adapter)
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        # A base model (never chat-tuned) has no chat template: it can only continue text (`complete`).
        self.has_chat_template = bool(getattr(tok, "chat_template", None))

    @property
    def model(self) -> Any:
        return self._model

    @property
    def n_layers(self) -> int:
        from personae.llm.activations import decoder_layers

        return len(decoder_layers(self._model))

    def prompt_ids(self, conversation: Conversation) -> list[int]:
        """Token ids of the conversation ending in the assistant's generation prompt."""
        if not self.has_chat_template:
            raise BackendError(f"model at {self.path} has no chat template (a base model): it can only continue "
                               "text; use a transcript route (b or h) or an instruct/chat model")
        text = self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def chat(self, conversations, *, max_new_tokens=48, temperature=0.0, seed=0):
        return self.generate([self.prompt_ids(c) for c in conversations], max_new_tokens=max_new_tokens,
                             temperature=temperature, seed=seed)

    def text_ids(self, text: str) -> list[int]:
        """Token ids of plain text as a prompt: the tokenizer's BOS where it adds one, no chat template."""
        tok = self.tokenizer
        bos = [tok.bos_token_id] if tok.bos_token_id is not None and getattr(tok, "add_bos_token", False) else []
        return bos + tok(text, add_special_tokens=False)["input_ids"]

    def complete(self, prompts, *, max_new_tokens=48, temperature=0.0, seed=0):
        ids = [self.text_ids(p) for p in prompts]
        return [first_line(t) for t in self.generate(ids, max_new_tokens=max_new_tokens, temperature=temperature,
                                                        seed=seed, stop=["\n"])]

    def generate(self, prompt_ids: list[list[int]], *, max_new_tokens=48, temperature=0.0, seed=0,
                 stop: list[str] | None = None) -> list[str]:
        """Decoded continuations of token-id prompts, batched with left padding (greedy at temperature 0);
        `stop`: strings that end a row's generation early (the text after them is cut by the caller)."""
        import torch

        tok, out = self.tokenizer, []
        for start in range(0, len(prompt_ids), self.batch_size):
            ids = prompt_ids[start:start + self.batch_size]
            width = max(map(len, ids))
            # Left padding so every row's generation starts at the same column.
            input_ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in ids])
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in ids])
            torch.manual_seed(seed + start)
            sampling = ({"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0
                        else {"do_sample": False, "temperature": None, "top_k": None, "top_p": None})
            stopping = {"stop_strings": stop, "tokenizer": tok} if stop else {}
            with torch.no_grad():
                gen = self._model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                           pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **sampling,
                                           **stopping)
            out += [tok.decode(row[width:], skip_special_tokens=True).strip() for row in gen]
        return out

    def contrastive_complete(self, prompts, contrast_prompts, *, weight, plausibility=0.1, max_new_tokens=48,
                             temperature=0.0, seed=0):
        """The first line written after each prompt, each token drawn from
        log p(t | prompt) + weight * (log p(t | prompt) - log p(t | contrast prompt)), among the tokens whose
        probability after the prompt is at least `plausibility` times the likeliest one's.

        Why: it pushes every token away from what the contrast prompt makes likely (for route o: the same
        transcript with the assistant to speak next), where steering moves the whole residual stream. The cut
        keeps the contrast from promoting a token the prompt itself finds implausible (the adaptive plausibility
        constraint of contrastive decoding, Li et al., ACL 2023). Weight 0 with plausibility 0 draws what
        `complete` draws (same seeds, same sampler); with the cut, weight 0 is already a truncated sampler, and it
        runs only the prompt's stream.
        One difference from `complete`: a line break before any text does not end the line here (`complete`
        returns an empty line for it); no transcript route on Qwen2.5-Coder ever wrote one.
        Both prompts keep their own key-value cache and are fed the same drawn token. No sampling setting of
        the model's generation config (e.g. a repetition penalty) applies here; the shipped models set none."""
        import torch

        if len(prompts) != len(contrast_prompts):
            raise BackendError(f"one contrast prompt per prompt: {len(prompts)} prompts, {len(contrast_prompts)} contrasts")
        if weight < 0 or not 0 <= plausibility < 1:
            raise BackendError(f"contrastive decoding needs weight >= 0 and 0 <= plausibility < 1 "
                               f"(got weight {weight}, plausibility {plausibility})")
        out: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            rows = slice(start, start + self.batch_size)
            torch.manual_seed(seed + start)
            drawn = self._contrastive_rows([self.text_ids(p) for p in prompts[rows]],
                                           [self.text_ids(p) for p in contrast_prompts[rows]],
                                           weight, plausibility, max_new_tokens, temperature)
            out += [first_line(self.tokenizer.decode(ids, skip_special_tokens=True).strip()) for ids in drawn]
        return out

    def _contrastive_rows(self, prompt_ids: list[list[int]], contrast_ids: list[list[int]], weight: float,
                          plausibility: float, max_new_tokens: int, temperature: float) -> list[list[int]]:
        """The drawn token ids of one batch, each row stopped at its first line break or end of text."""
        import math

        import torch

        tok = self.tokenizer
        drawn: list[list[int]] = [[] for _ in prompt_ids]
        done = torch.zeros(len(prompt_ids), dtype=torch.bool)
        with torch.no_grad():
            # At weight 0 the contrast's scores are multiplied away, so its stream is never run (the cut-only control).
            sources = (prompt_ids, contrast_ids) if weight > 0 else (prompt_ids,)
            streams = [_Stream(self._model, ids, tok.pad_token_id) for ids in sources]
            logits = [s.logits for s in streams]
            for _ in range(max_new_tokens):
                own, *other = (torch.log_softmax(x.float(), dim=-1) for x in logits)
                score = (own + weight * (own - other[0])) if other else own
                cut = own.max(dim=-1, keepdim=True).values + math.log(plausibility) if plausibility > 0 else None
                if cut is not None:
                    score = score.masked_fill(own < cut, -math.inf)
                if temperature > 0:
                    token = torch.multinomial(torch.softmax(score / temperature, dim=-1), 1)[:, 0]
                else:
                    token = score.argmax(dim=-1)
                token = torch.where(done, torch.full_like(token, tok.pad_token_id), token)
                for row in (~done).nonzero().flatten().tolist():
                    drawn[row].append(int(token[row]))
                    if int(token[row]) == tok.eos_token_id or "\n" in tok.decode(drawn[row]).lstrip():
                        done[row] = True
                if bool(done.all()):
                    break
                logits = [s.step(token) for s in streams]
        return drawn

    def choose(self, conversations, options, *, temperature=1.0, seed=0):
        import torch

        first = [self.tokenizer(o, add_special_tokens=False)["input_ids"][0] for o in options]
        if len(set(first)) != len(first):
            raise BackendError(f"options share a first token, cannot score them apart: {options}")
        probs = []
        for start in range(0, len(conversations), self.batch_size):
            ids = [self.prompt_ids(c) for c in conversations[start:start + self.batch_size]]
            width = max(map(len, ids))
            input_ids = torch.tensor([[self.tokenizer.pad_token_id] * (width - len(r)) + r for r in ids])
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in ids])
            with torch.no_grad():
                logits = self._model(input_ids=input_ids, attention_mask=mask,
                                     logits_to_keep=1).logits[:, -1, first]  # (B, n_options)
            probs.append(torch.softmax(logits / max(temperature, 1e-6), dim=-1).numpy())
        return np.concatenate(probs).astype(np.float64)

    def response_log_likelihood(self, conversations, responses):
        return self._log_likelihood([self.prompt_ids(c) for c in conversations], responses)

    def continuation_log_likelihood(self, prompts, continuations):
        return self._log_likelihood([self.text_ids(p) for p in prompts], continuations)

    def _log_likelihood(self, prompt_ids: list[list[int]], replies: list[str]) -> np.ndarray:
        """Summed log-probability of each reply's tokens after its prompt's token ids, batched."""
        import torch

        rows = [(p, self.tokenizer(r, add_special_tokens=False)["input_ids"])
                for p, r in zip(prompt_ids, replies, strict=True)]
        if any(not reply for _, reply in rows):
            raise BackendError("an empty response has no log-likelihood to score")
        out = []
        for start in range(0, len(rows), self.batch_size):
            batch = [p + r for p, r in rows[start:start + self.batch_size]]
            lengths = [len(r) for _, r in rows[start:start + self.batch_size]]
            width, keep = max(map(len, batch)), max(lengths) + 1
            # Left padding (as in `choose`), so every reply ends at the last column and only the last `keep`
            # positions need the vocabulary projection.
            ids = torch.tensor([[self.tokenizer.pad_token_id] * (width - len(b)) + b for b in batch])
            mask = torch.tensor([[0] * (width - len(b)) + [1] * len(b) for b in batch])
            with torch.no_grad():
                logits = self._model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
                logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # position k predicts column k + 1
            for row, n in enumerate(lengths):
                targets = ids[row, width - n:]
                out.append(float(logp[row, keep - 1 - n:, :].gather(-1, targets[:, None]).sum()))
        return np.array(out, dtype=np.float64)

    def response_activations(self, conversations, responses):
        from personae.llm.activations import mean_response_activations

        prompts = [self.prompt_ids(c) for c in conversations]
        replies = [self.tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
        return mean_response_activations(self._model, prompts, replies, batch_size=self.batch_size,
                                         pad_id=self.tokenizer.pad_token_id)


class _Stream:
    """One left-padded batch of prompts and its key-value cache, fed one token per row at a time; positions
    come from the attention mask, so a padded row counts from its own first token."""

    def __init__(self, model: Any, prompt_ids: list[list[int]], pad_id: int):
        import torch

        width = max(map(len, prompt_ids))
        self.model = model
        ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in prompt_ids])
        self.mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in prompt_ids])
        positions = (self.mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=self.mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        self.cache, self.logits, self.next_position = out.cache, out.logits[:, -1], positions[:, -1] + 1

    def step(self, token: Any) -> Any:
        """Feed one token per row; the logits of the next."""
        import torch

        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        out = self.model(input_ids=token[:, None], attention_mask=self.mask, position_ids=self.next_position[:, None],
                         cache=self.cache, use_cache=True)
        self.cache, self.next_position = out.cache, self.next_position + 1
        return out.logits[:, -1]


def first_line(text: str) -> str:
    """The first non-empty line of a continuation: a transcript speaker's turn ends at the line break."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


@functools.lru_cache(maxsize=2)
def _cached_local(path: str, batch_size: int, adapter: str | None = None) -> LocalBackend:
    return LocalBackend(path, batch_size=batch_size, adapter=adapter)


# ---------------------------------------------------------------------------------------------- openai


_OPTION_RE = re.compile(r"[A-Za-z0-9]+")


def match_option(text: str, options: list[str]) -> int | None:
    """Index of the first option that appears as a word in `text` (case-insensitive), else None."""
    lowered = {o.lower(): i for i, o in enumerate(options)}
    for word in _OPTION_RE.findall(text):
        if word.lower() in lowered:
            return lowered[word.lower()]
    return None


class OpenAIBackend(LLMBackend):
    """Any OpenAI-compatible chat endpoint through the official `openai` client. No hidden states."""

    name = "openai"

    def __init__(self, base_url: str | None, model: str, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0):
        from openai import OpenAI

        if not model:
            raise BackendError("--llm-model is required with --backend openai")
        key = os.environ.get(api_key_env)
        if not key:
            raise BackendError(f"environment variable {api_key_env} is not set (API key for {base_url or 'OpenAI'})")
        self.model_name = model
        self.client = OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=1)
        self.base_url = base_url

    def chat(self, conversations, *, max_new_tokens=48, temperature=0.0, seed=0):
        import openai

        out = []
        for i, conv in enumerate(conversations):
            try:
                resp = self.client.chat.completions.create(model=self.model_name, messages=conv,
                                                           max_tokens=max_new_tokens, temperature=temperature,
                                                           seed=seed + i)
            except openai.OpenAIError as exc:
                raise BackendError(f"chat endpoint {self.base_url} failed: {exc}") from exc
            out.append((resp.choices[0].message.content or "").strip())
        return out

    def complete(self, prompts, *, max_new_tokens=48, temperature=0.0, seed=0):
        """The completions endpoint (plain text, no chat template), stopped at the first line break."""
        import openai

        out = []
        for i, prompt in enumerate(prompts):
            try:
                resp = self.client.completions.create(model=self.model_name, prompt=prompt, max_tokens=max_new_tokens,
                                                      temperature=temperature, seed=seed + i, stop=["\n"])
            except openai.OpenAIError as exc:
                raise BackendError(f"completions endpoint {self.base_url} failed: {exc}") from exc
            out.append(first_line(resp.choices[0].text or ""))
        return out

    def choose(self, conversations, options, *, temperature=1.0, seed=0):
        """One sampled reply per conversation, parsed to a one-hot row; NaN row when no option is found."""
        replies = self.chat(conversations, max_new_tokens=8, temperature=temperature, seed=seed)
        probs = np.full((len(replies), len(options)), np.nan)
        for r, text in enumerate(replies):
            k = match_option(text, options)
            if k is not None:
                probs[r] = 0.0
                probs[r, k] = 1.0
        return probs


def load_backend(backend: str = "local", *, model_path: str | Path | None = None, base_url: str | None = None,
                 model: str | None = None, api_key_env: str = "OPENAI_API_KEY", batch_size: int = 16,
                 adapter: str | Path | None = None) -> LLMBackend:
    """The backend the CLI options name. Local models are cached per process (loading costs seconds).
    `adapter`: a LoRA adapter directory written by `personae.llm.adapters.save_adapter` (local only)."""
    if backend == "local":
        return _cached_local(str(resolve_model_path(model_path)), batch_size, None if adapter is None else str(adapter))
    if adapter is not None:
        raise BackendError("--adapter needs --backend local (a remote endpoint serves its own weights)")
    if backend == "openai":
        return OpenAIBackend(base_url, model or "", api_key_env)
    raise BackendError(f"unknown backend '{backend}' (expected local or openai)")
