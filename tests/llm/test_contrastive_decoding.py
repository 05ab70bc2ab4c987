"""Contrastive decoding (LocalBackend.contrastive_complete) and route o, on the real SmolLM2-135M-Instruct."""

import numpy as np
import pytest

from personae.llm.backends import BackendError, HiddenStatesUnavailable, LLMBackend
from personae.llm.bank import read_data_json
from personae.llm.user_routes import (
    ContrastiveLatentSteeredTranscriptRoute,
    LatentSteeredTranscriptRoute,
    TurnContext,
    load_simulated_users,
)

pytestmark = pytest.mark.slow

DATA = read_data_json("simulated_users.json")
USERS = load_simulated_users(DATA)


def _contexts(n: int) -> list[TurnContext]:
    return [TurnContext(u, u.description, DATA["scripts"][0][0], [], (p, 0, 0, 0)) for p, u in enumerate(USERS[:n])]


def _route() -> ContrastiveLatentSteeredTranscriptRoute:
    return ContrastiveLatentSteeredTranscriptRoute(intents=tuple(DATA["intents"]), user_prompt=DATA["user_prompt"])


def test_the_contrast_prompt_differs_from_route_ks_request_only_in_who_speaks_next():
    route, ctx = _route(), _contexts(1)[0]
    request, contrast = route.request(ctx), route.contrast_request(ctx)
    assert request.endswith(f"\n{ctx.user.name}:") and contrast.endswith("\nAI assistant:")
    assert request[:-len(f"{ctx.user.name}:")] == contrast[:-len("AI assistant:")]
    assert "profile:" in request and "(Next, " in request  # k's profile and stage direction are kept


def test_weight_zero_is_plain_decoding_and_a_contrast_equal_to_the_prompt_changes_nothing(smol):
    route = _route()
    prompts = [route.request(c) for c in _contexts(4)]
    plain = smol.complete(prompts, max_new_tokens=12)
    assert smol.contrastive_complete(prompts, prompts, weight=0.0, plausibility=0.0, max_new_tokens=12) == plain
    # No effect by construction: the contrast is the prompt itself, so the push is zero at any weight.
    assert smol.contrastive_complete(prompts, prompts, weight=3.0, plausibility=0.0, max_new_tokens=12) == plain


def test_sampled_at_weight_zero_without_the_cut_it_draws_what_complete_draws_batch_by_batch(smol):
    route = _route()
    prompts = [route.request(c) for c in _contexts(5)]
    batch_size, smol.batch_size = smol.batch_size, 2  # three batches, each with its own seed
    try:
        plain = smol.complete(prompts, max_new_tokens=10, temperature=0.9, seed=4)
        same = smol.contrastive_complete(prompts, prompts[::-1], weight=0.0, plausibility=0.0, max_new_tokens=10,
                                         temperature=0.9, seed=4)
        other_seed = smol.contrastive_complete(prompts, prompts, weight=0.0, plausibility=0.0, max_new_tokens=10,
                                               temperature=0.9, seed=5)
    finally:
        smol.batch_size = batch_size
    assert same == plain and other_seed != plain


def test_route_o_draws_with_the_contrast_inside_ks_steering(smol):
    contexts = _contexts(2)
    directions = {p: {1: np.ones(smol.model.config.hidden_size)} for p in range(2)}
    settings = {"directions": directions, "strength": 0.0, "intents": tuple(DATA["intents"]),
                "user_prompt": DATA["user_prompt"]}
    o = ContrastiveLatentSteeredTranscriptRoute(weight=2.0, **settings)
    k = LatentSteeredTranscriptRoute(**settings)
    kw = {"max_new_tokens": 12, "temperature": 0.0, "seed": 0}
    drawn = o.generate(smol, contexts, **kw)
    # Strength 0: the hooks add nothing, so o's lines are contrastive_complete's on its own requests.
    direct = smol.contrastive_complete([o.request(c) for c in contexts], [o.contrast_request(c) for c in contexts],
                                       weight=2.0, max_new_tokens=12)
    assert drawn == direct and drawn != k.generate(smol, contexts, **kw)


def test_the_push_raises_the_lines_lead_of_the_user_over_the_assistant(smol):
    """The quantity the decoding pushes, read back on whole lines: log P(line | the user speaks next) minus
    log P(line | the assistant speaks next). Greedy, so the comparison is fixed, not sampled."""
    route, contexts = _route(), _contexts(6)
    prompts, contrasts = [route.request(c) for c in contexts], [route.contrast_request(c) for c in contexts]

    def lead(lines: list[str]) -> np.ndarray:
        kept = [(p, c, " " + x) for p, c, x in zip(prompts, contrasts, lines) if x]
        return (smol.continuation_log_likelihood([p for p, _, _ in kept], [x for _, _, x in kept])
                - smol.continuation_log_likelihood([c for _, c, _ in kept], [x for _, _, x in kept]))

    plain = smol.contrastive_complete(prompts, contrasts, weight=0.0, max_new_tokens=12)
    pushed = smol.contrastive_complete(prompts, contrasts, weight=2.0, max_new_tokens=12)
    assert pushed != plain and lead(pushed).mean() > lead(plain).mean() + 1.0
    assert all("\n" not in x for x in pushed)


def test_bad_arguments_and_a_backend_without_logits_are_refused(smol):
    with pytest.raises(BackendError, match="one contrast prompt per prompt"):
        smol.contrastive_complete(["a", "b"], ["a"], weight=1.0)
    with pytest.raises(BackendError, match="weight >= 0"):
        smol.contrastive_complete(["a"], ["b"], weight=-1.0)
    with pytest.raises(HiddenStatesUnavailable, match="no next-token distributions"):
        LLMBackend().contrastive_complete(["a"], ["b"], weight=1.0)
