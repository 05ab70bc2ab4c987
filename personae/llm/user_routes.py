"""The routes by which a language model plays a *user* (issue 22): how each user turn is asked for.

Every route answers the same scripted assistant turns for the same personas, scripts and seeds; they differ
only in how the next user line is requested:
- a  chat slot: the persona is the system prompt and the model speaks from the assistant's slot (baseline);
- b  transcript continuation: a written dialogue, no chat template; the model continues "<name>:";
- c  latent conditioning (RecLLM): a session profile in the system prompt and a per-turn intent drawn from a
     small intent set;
- d  a few in-persona example lines in the system prompt;
- e  the chat slot steered toward the persona's own role vector (personae.llm.steering);
- f  best-of-N: N sampled chat-slot candidates, the consistency judge picks one;
- g  the chat slot of a LoRA-adapted model (personae.llm.learned_simulator; load the backend with --adapter);
- h  transcript continuation on a base model that was never preference-tuned (its own backend);
- i  PersonaAgent: between conversations the model rewrites the persona text against the judge's feedback;
- j  transcript continuation (b) steered as in e;
- k  j with c's latent variables written into the transcript: the profile in its header, the turn's intent as
     a stage direction before the user's line;
- l  transcript continuation (b) whose header quotes the persona's own example lines (d's lines, in b's
     transcript), unsteered;
- m  k, with every line that repeats its stage direction drawn again (up to 3 more draws);
- o  k, each token drawn against what the assistant would write next (contrastive decoding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from personae.llm.backends import Conversation, LLMBackend

HISTORY_TURNS = 4  # previous exchanges kept in each request, to bound its length


@dataclass(frozen=True)
class SimulatedUser:
    name: str
    description: str
    profile: dict
    examples: tuple[str, ...]


@dataclass
class TurnContext:
    """Everything a route may use to ask for one user turn."""

    user: SimulatedUser
    persona_text: str  # the description (route i: its latest revision)
    assistant_line: str  # the scripted assistant turn the user answers
    history: list[tuple[str, str]]  # earlier (assistant line, user line) pairs of this conversation
    key: tuple[int, int, int, int]  # (persona, script, run, turn)


def load_simulated_users(data: dict) -> list[SimulatedUser]:
    return [SimulatedUser(p["name"], p["description"], dict(p["profile"]), tuple(p["examples"]))
            for p in data["personas"]]


def profile_text(user: SimulatedUser) -> str:
    """'age: 74; situation: ...; goal: ...': the session-level latent variables of routes c and k."""
    return "; ".join(f"{k}: {v}" for k, v in user.profile.items())


def drawn_intent(intents: tuple[str, ...], seed: int, key: tuple[int, int, int, int]) -> str:
    """The turn-level intent of (persona, script, run, turn), drawn with a generator seeded by the key alone,
    so every route and every run that draws intents sees the same one at the same turn."""
    rng = np.random.default_rng([seed, *key])
    return intents[int(rng.integers(len(intents)))]


def transcript_request(ctx: TurnContext, *, profile: str = "", stage_direction: str = "",
                       examples: tuple[str, ...] = ()) -> str:
    """A written dialogue that ends with "<name>:", so the model speaks as the user and never from the
    assistant's slot; `profile` joins the header and `stage_direction` precedes the user's line (route k);
    `examples` are quoted in the header as messages the user wrote before (route l)."""
    name = ctx.user.name
    head = f"The following is a text-message conversation between {name} and an AI assistant. {ctx.persona_text}."
    if profile:
        head += f" {name}'s profile: {profile}."
    if examples:
        head += f" Messages {name} has sent before: " + " ".join(f'"{e}"' for e in examples)
    body = "".join(f"AI assistant: {a}\n{name}: {u}\n" for a, u in ctx.history[-HISTORY_TURNS:])
    stage = f"({stage_direction})\n" if stage_direction else ""
    return f"{head}\n\n{body}AI assistant: {ctx.assistant_line}\n{stage}{name}:"


@dataclass
class Route:
    """The chat-slot baseline (route a); other routes override `system_prompt` or `generate`."""

    letter: str = "a"
    title: str = "chat slot (baseline)"
    user_prompt: str = "You are {persona}."

    def system_prompt(self, ctx: TurnContext) -> str:
        return self.user_prompt.format(persona=ctx.persona_text)

    def request(self, ctx: TurnContext) -> Conversation | str:
        msgs: Conversation = [{"role": "system", "content": self.system_prompt(ctx)}]
        for assistant_line, user_line in ctx.history[-HISTORY_TURNS:]:
            msgs += [{"role": "user", "content": assistant_line}, {"role": "assistant", "content": user_line}]
        return msgs + [{"role": "user", "content": ctx.assistant_line}]

    def generate(self, backend: LLMBackend, contexts: list[TurnContext], *, max_new_tokens: int,
                 temperature: float, seed: int) -> list[str]:
        return self.draw(backend, contexts, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)

    def draw(self, backend: LLMBackend, contexts: list[TurnContext], *, max_new_tokens: int, temperature: float,
             seed: int) -> list[str]:
        """One sampled line per context from the model as it stands (routes that steer wrap this)."""
        requests = [self.request(c) for c in contexts]
        if requests and isinstance(requests[0], str):
            return backend.complete(requests, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
        return backend.chat(requests, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)

    def before_run(self, run: int, persona_texts: list[str], finished: list[list[list[str]]] | None) -> list[str]:
        """The persona texts for run `run` (route i revises them); finished: [persona][script] lines so far."""
        return persona_texts


@dataclass
class TranscriptRoute(Route):
    """Route b (and h on a base model): the model continues a written dialogue as the user."""

    letter: str = "b"
    title: str = "transcript continuation"

    def request(self, ctx: TurnContext) -> str:
        return transcript_request(ctx)


@dataclass
class LatentRoute(Route):
    """Route c (RecLLM): a session-level profile and a turn-level intent, drawn per (persona, script, run, turn)
    from `intents` with a seeded generator, so every run of every route sees the same intents."""

    letter: str = "c"
    title: str = "latent conditioning (profile + intent)"
    intents: tuple[str, ...] = ()
    seed: int = 0

    def intent(self, key: tuple[int, int, int, int]) -> str:
        return drawn_intent(self.intents, self.seed, key)

    def system_prompt(self, ctx: TurnContext) -> str:
        return (super().system_prompt(ctx) + f"\nYour profile: {profile_text(ctx.user)}.\nIn this message you "
                f"{self.intent(ctx.key)}.")


@dataclass
class ExampleLinesRoute(Route):
    """Route d: a few lines the persona has written, shown as examples of its voice."""

    letter: str = "d"
    title: str = "in-persona example lines"

    def system_prompt(self, ctx: TurnContext) -> str:
        examples = "\n".join(f"- {line}" for line in ctx.user.examples)
        return super().system_prompt(ctx) + f"\nExamples of messages you have written:\n{examples}"


@dataclass
class BestOfNRoute(Route):
    """Route f: N sampled chat-slot candidates per turn; the judge's prompt-to-line score picks one. The
    judge that picks is also a measure of the result: its consistency gain is self-agreement, which is why
    the assistant-likeness classifier (not the judge) decides whether the route works."""

    letter: str = "f"
    title: str = "best-of-N, consistency judge as reward"
    n_candidates: int = 4
    judge: object = None  # personae.llm.persona_consistency.Judge

    def candidates(self, backend, contexts, *, max_new_tokens, temperature, seed) -> tuple[list[list[str]], np.ndarray]:
        """[row][k] sampled candidates and (rows, k) judge scores (-inf where unreadable)."""
        from personae.llm.persona_consistency import judge_prompt_to_line

        requests = [self.request(c) for c in contexts]
        drawn = [backend.chat(requests, max_new_tokens=max_new_tokens, temperature=max(temperature, 0.7),
                              seed=seed + 7919 * k) for k in range(self.n_candidates)]  # [k][row]
        rows = [[drawn[k][i] for k in range(self.n_candidates)] for i in range(len(contexts))]
        flat = [(i, k) for i in range(len(contexts)) for k in range(self.n_candidates)]
        scores = self.judge.score([judge_prompt_to_line(contexts[i].persona_text, rows[i][k]) for i, k in flat])
        table = np.array([-np.inf if s is None else s for s in scores]).reshape(len(contexts), self.n_candidates)
        return rows, table

    def generate(self, backend, contexts, *, max_new_tokens, temperature, seed):
        rows, scores = self.candidates(backend, contexts, max_new_tokens=max_new_tokens, temperature=temperature,
                                       seed=seed)
        return [rows[i][int(scores[i].argmax())] for i in range(len(contexts))]


@dataclass
class SteeredRoute(Route):
    """Route e: the chat slot, with the persona's own direction added at a few middle layers: the mean
    residual stream of the persona's example lines (read in its chat slot) minus that of the model's default
    replies, per layer, added `strength` times its own length (strength 1: the whole gap). Personas are
    generated one at a time, since each has its own vector."""

    letter: str = "e"
    title: str = "steering toward the persona's role vector"
    directions: dict = field(default_factory=dict)  # persona index -> {layer: (d,) direction}
    strength: float = 0.5

    def generate(self, backend, contexts, *, max_new_tokens, temperature, seed):
        from personae.llm.activation_capping import steered

        out: dict[int, str] = {}
        for p in sorted({c.key[0] for c in contexts}):
            rows = [i for i, c in enumerate(contexts) if c.key[0] == p]
            axes = self.directions[p]
            add = {layer: self.strength * float(np.linalg.norm(v)) for layer, v in axes.items()}
            with steered(backend.model, axes, add=add):
                replies = self.draw(backend, [contexts[i] for i in rows], max_new_tokens=max_new_tokens,
                                    temperature=temperature, seed=seed + p)
            out.update(zip(rows, replies))
        return [out[i] for i in range(len(contexts))]


@dataclass
class SteeredTranscriptRoute(SteeredRoute):
    """Route j: transcript continuation (b) with the persona's own direction added as in e; the two routes that
    each lower the assistant's share, together."""

    letter: str = "j"
    title: str = "transcript continuation + steering toward the persona"

    def request(self, ctx: TurnContext) -> str:
        return transcript_request(ctx)


@dataclass
class LatentSteeredTranscriptRoute(SteeredTranscriptRoute):
    """Route k: j with c's latent variables (RecLLM) written into the transcript. Why: j's remaining
    assistant-like turns are openings ("I'm doing great, thanks. How about you?"), where nothing in the
    transcript says what the user came for; the profile carries the session's goal, the intent the turn's move.
    The intents are those route c draws, for the same keys."""

    letter: str = "k"
    title: str = "transcript + profile and intent + steering toward the persona"
    intents: tuple[str, ...] = ()
    seed: int = 0

    def request(self, ctx: TurnContext) -> str:
        intent = drawn_intent(self.intents, self.seed, ctx.key)
        return transcript_request(ctx, profile=profile_text(ctx.user),
                                  stage_direction=f"Next, {ctx.user.name} will {intent}.")


# "(Next, <name> will ...)" and the variants a small model writes: "(Next, Dolores explains", "(The next, Kai
# will", "(Further, the AI will respond": a parenthesis that opens with "next" or says what someone will do.
STAGE_DIRECTION = re.compile(r"\(\s*(?:the\s+)?next\b|\([^)]*\bwill\b", re.IGNORECASE)


def echoes_stage_direction(line: str) -> bool:
    """Whether a line repeats route k's stage direction, in a parenthesis ("Next, I will call her." is a
    user's own line). Such a line is neither the assistant nor a user speaking, and, kept in the transcript,
    it is copied on later turns (k on personas 13-24: 24 of 288 lines, from two personas)."""
    return bool(STAGE_DIRECTION.search(line))


@dataclass
class ResampledLatentSteeredTranscriptRoute(LatentSteeredTranscriptRoute):
    """Route m: k, with each line that echoes the stage direction drawn again with another seed, up to
    `retries` times; a line that still echoes is kept and counted. The check reads only the line's form
    (the regex above), never a judge or the classifier, so the assistant-likeness measures stay independent
    of the filter. Counts accumulate over the route's calls: `redrawn` extra draws, `kept_echoes` lines kept."""

    letter: str = "m"
    title: str = "k, lines that repeat the stage direction drawn again"
    retries: int = 3
    redrawn: int = 0
    kept_echoes: int = 0

    def generate(self, backend, contexts, *, max_new_tokens, temperature, seed):
        lines = super().generate(backend, contexts, max_new_tokens=max_new_tokens, temperature=temperature,
                                 seed=seed)
        for attempt in range(1, self.retries + 1):
            rows = [i for i, line in enumerate(lines) if echoes_stage_direction(line)]
            if not rows:
                break
            self.redrawn += len(rows)
            again = super().generate(backend, [contexts[i] for i in rows], max_new_tokens=max_new_tokens,
                                     temperature=temperature, seed=seed + 7919 * attempt)
            for i, line in zip(rows, again):
                lines[i] = line
        self.kept_echoes += sum(echoes_stage_direction(line) for line in lines)
        return lines


@dataclass
class ContrastiveLatentSteeredTranscriptRoute(LatentSteeredTranscriptRoute):
    """Route o: k, each token drawn against the assistant (LocalBackend.contrastive_complete). The contrast
    prompt is k's own transcript, stage direction included, with the assistant, not the user, to speak next;
    so the push is the steered model's own speaker difference at every token (part of it may be away from an
    assistant speaking twice after being told the user speaks next). Two consequences for reading it: o minus
    k measures the plausibility cut and the push together (the cut alone also truncates k's sampler), and the
    speaker reader (personae.llm.speaker_attribution, the unsteered model's margin between the same two
    speakers) is not independent of o, so its reading of o grades the mechanism.
    Why: k's remaining assistant-like lines are written one token at a time in the assistant's register; a
    line-level redraw on the same margin barely touched them (route n, dropped before any run), while a
    token-level push changes every line. `weight` 1.0 adds the whole speaker difference once (classifier-free
    guidance at scale 2; Sanchez et al., 2023, found 1.5 broadly safe). It was kept over 0.5 after a look at
    calibration personas 1-12 (one run of 4 turns per weight, before any run on fresh personas): at 0.5 most
    drawn lines were k's own, so the route would not have tested the push. The plausibility cut 0.1 is
    contrastive decoding's (Li et al., 2023). The model is steered exactly as in k, so its multiple-choice cost
    is k's."""

    letter: str = "o"
    title: str = "k, each token pushed away from the assistant's"
    weight: float = 1.0
    plausibility: float = 0.1

    def contrast_request(self, ctx: TurnContext) -> str:
        request = self.request(ctx)
        return request[:-len(f"{ctx.user.name}:")] + "AI assistant:"

    def draw(self, backend, contexts, *, max_new_tokens, temperature, seed):
        return backend.contrastive_complete([self.request(c) for c in contexts],
                                            [self.contrast_request(c) for c in contexts], weight=self.weight,
                                            plausibility=self.plausibility, max_new_tokens=max_new_tokens,
                                            temperature=temperature, seed=seed)


@dataclass
class ExampleTranscriptRoute(Route):
    """Route l: transcript continuation (b) with the persona's own example lines quoted in the header. Why: at
    turn 1 the transcript holds no line of the user's to continue, and the model fills the gap in the
    assistant's register (j: 0.47 of first turns on personas 13-24); the examples give the user's voice before
    the first line. In the chat slot the same lines did nothing (d); here they sit where the model reads the
    user's voice. Unsteered, so the model is unchanged and has no MCQ cost. Lines that copy an example are
    counted (copies_example_share)."""

    letter: str = "l"
    title: str = "transcript continuation + the persona's example lines"

    def request(self, ctx: TurnContext) -> str:
        return transcript_request(ctx, examples=ctx.user.examples)


def persona_directions(backend: LLMBackend, route: Route, users: list[SimulatedUser], default_convs: list,
                       default_replies: list[str], layers: list[int]) -> dict[int, dict[int, np.ndarray]]:
    """Per persona and layer: mean activation of its example lines in its own chat slot minus the mean
    activation of the model's default replies (to the user-line bank). {persona: {layer: (d,)}}"""
    default = backend.response_activations(default_convs, default_replies).mean(0)  # (n_layers, d)
    out = {}
    for p, user in enumerate(users):
        ctx = TurnContext(user, user.description, "Hi! What's on your mind today?", [], (p, 0, 0, 0))
        convs = [route.request(ctx)] * len(user.examples)
        mine = backend.response_activations(convs, list(user.examples)).mean(0)  # (n_layers, d)
        out[p] = {layer: mine[layer] - default[layer] for layer in layers}
    return out


@dataclass
class RevisionRoute(Route):
    """Route i (PersonaAgent): after each run the model rewrites each persona's text, shown the lines the
    judge found least in character; the next run uses the revision. A revision that echoes the request is
    rejected (the old text is kept) and counted; only accepted revisions enter the silhouette."""

    letter: str = "i"
    title: str = "persona text revision (PersonaAgent)"
    backend: object = None
    judge: object = None
    worst_lines: int = 2
    max_new_tokens: int = 48
    revisions: list[list[str]] = field(default_factory=list)  # [run][persona]
    accepted: list[list[bool]] = field(default_factory=list)  # [run][persona]: False = an echo, old text kept

    def before_run(self, run, persona_texts, finished):
        from personae.llm.persona_consistency import judge_prompt_to_line

        if finished is None:
            self.revisions, self.accepted = [list(persona_texts)], [[True] * len(persona_texts)]
            return persona_texts
        requests, flagged = [], []
        for p, text in enumerate(persona_texts):
            lines = [line for script in finished[p] for line in script]
            scores = self.judge.score([judge_prompt_to_line(text, line) for line in lines])
            order = np.argsort([1.0 if s is None else s for s in scores])[:self.worst_lines]
            bad = "\n".join(f"- \"{lines[i]}\"" for i in order)
            flagged.append([lines[i] for i in order])
            requests.append([{"role": "user", "content": (
                f"Character description: {text}\n\nIn a chat, this character wrote these lines, which a reviewer "
                f"found out of character:\n{bad}\n\nRewrite the character description in one or two sentences so "
                "that the character would not write such lines. Keep the same person, name and voice. Write only "
                "the new description.")}])
        revised = self.backend.chat(requests, max_new_tokens=self.max_new_tokens, temperature=0.0, seed=run)
        accepted = [not echoes_the_request(r, old, bad) for r, old, bad in zip(revised, persona_texts, flagged)]
        texts = [r.strip() if ok else old for r, old, ok in zip(revised, persona_texts, accepted)]
        self.revisions.append(texts)
        self.accepted.append(accepted)
        return texts


REQUEST_PHRASES = ("out of character", "reviewer", "character description", "rewrite")


def echoes_the_request(revision: str, old_text: str, flagged_lines: list[str]) -> bool:
    """Whether a revision repeats its request instead of rewriting: empty, or (case and spacing aside) it holds
    the whole old description, a flagged line of 12+ characters, or one of the request's own phrases. A small
    model asked to revise a persona often pastes its prompt back (issue 22, route i on Qwen 0.5B); kept, such
    texts would cluster by persona by construction."""
    norm = lambda text: " ".join(text.lower().split())
    rev = norm(revision)
    if not rev:
        return True
    if norm(old_text) in rev or any(phrase in rev for phrase in REQUEST_PHRASES):
        return True
    return any(len(norm(line)) >= 12 and norm(line) in rev for line in flagged_lines)


@dataclass
class RouteTranscripts:
    """lines[p][s][r][t]: the user line persona p wrote on script s in run r at turn t; the persona text used
    in each run; the scripts' assistant lines; seconds of generation."""

    route: str
    title: str
    users: list[SimulatedUser]
    scripts: list[list[str]]
    lines: list[list[list[list[str]]]]
    persona_texts: list[list[str]]  # [run][persona]
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def texts(self) -> list[str]:
        """All lines flattened in (p, s, r, t) order."""
        return [x for per in self.lines for script in per for run in script for x in run]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.lines), len(self.scripts), len(self.lines[0][0]), len(self.scripts[0]))


def run_route(route: Route, backend: LLMBackend, users: list[SimulatedUser], scripts: list[list[str]], runs: int, *,
              temperature: float = 0.7, max_new_tokens: int = 24, seed: int = 0) -> RouteTranscripts:
    """Every (persona, script) conversation of every run, turn by turn, each turn one batched call. Run r
    samples with seed + 101 r, the same for every route (the routes are compared on the same seeds)."""
    import time

    t0 = time.time()
    n_turns = min(len(s) for s in scripts)
    texts = [u.description for u in users]
    lines = [[[] for _ in scripts] for _ in users]  # [p][s][r] -> list of turns
    used = []
    for r in range(runs):
        finished = None if r == 0 else [[lines[p][s][r - 1] for s in range(len(scripts))] for p in range(len(users))]
        texts = route.before_run(r, texts, finished)
        used.append(list(texts))
        history = {(p, s): [] for p in range(len(users)) for s in range(len(scripts))}
        for t in range(n_turns):
            contexts = [TurnContext(users[p], texts[p], scripts[s][t], history[(p, s)], (p, s, r, t))
                        for p in range(len(users)) for s in range(len(scripts))]
            replies = route.generate(backend, contexts, max_new_tokens=max_new_tokens, temperature=temperature,
                                     seed=seed + 101 * r + t)
            for ctx, reply in zip(contexts, replies):
                p, s = ctx.key[:2]
                history[(p, s)].append((ctx.assistant_line, reply))
        for (p, s), h in history.items():
            lines[p][s].append([u for _, u in h])
    return RouteTranscripts(route.letter, route.title, users, [sc[:n_turns] for sc in scripts], lines, used,
                            round(time.time() - t0, 1))
