"""personae.space: one geometry for users' personas and a language model's role vectors."""

import numpy as np
import pytest
import torch

from personae.space import (
    CapBounds,
    adjusted_rand_index,
    axis_summary,
    clip_projection,
    clip_step,
    cosine,
    dominant_axis,
    fit_cap_bounds,
    fit_pca,
    match_personas,
    mixture_drift,
    positions,
    procrustes_rotation,
    silhouette,
)


def test_pca_finds_the_dominant_direction():
    rng = np.random.default_rng(0)
    direction = np.zeros(16)
    direction[3] = 1.0
    x = rng.normal(size=(60, 1)) * 10 * direction + rng.normal(size=(60, 16)) * 0.1
    pca = fit_pca(x)
    assert abs(pca.components[0] @ direction) > 0.99
    assert pca.explained[0] > 0.9
    assert pca.explained.sum() == pytest.approx(1.0)
    assert pca.project(x).shape == (60, 2)


def test_pca_of_isotropic_noise_has_no_dominant_component():
    x = np.random.default_rng(1).normal(size=(2000, 8))
    assert fit_pca(x).explained[0] < 0.2  # 1/8 = 0.125 expected; nothing dominates


def test_dominant_axis_points_from_population_to_the_default():
    population = np.array([[0.0, 0.0], [2.0, 0.0]])
    assert dominant_axis(population, default=np.array([1.0, 5.0])) == pytest.approx([0.0, 1.0])
    assert positions(np.array([[1.0, 3.0]]), np.array([0.0, 2.0]), origin=np.zeros(2)) == pytest.approx([3.0])


def test_axis_summary_orients_pc1_toward_the_default_on_toy_llm_activations():
    # toy "role vectors" spread along one direction, default persona far out on the negative raw side
    rng = np.random.default_rng(1)
    roles = np.outer(rng.normal(size=40), [0, 0, 2.0, 0]) + rng.normal(size=(40, 4)) * 0.05
    s = axis_summary(roles, np.array([0, 0, -6.0, 0]))
    assert s["axis_pc1_cosine"] > 0.95
    assert s["default_pc1_position"] > 2.0
    assert s["default_pc1_rank"] == pytest.approx(1.0)


def test_axis_summary_of_a_default_inside_isotropic_roles_shows_no_axis():
    rng = np.random.default_rng(2)
    roles = rng.normal(size=(200, 32))
    s = axis_summary(roles, roles.mean(0) + rng.normal(size=32) * 0.01)
    assert abs(s["default_pc1_position"]) < 0.5


def test_clip_projection_clamps_only_along_the_axis_for_numpy_and_torch():
    axis = np.array([0.6, 0.8])
    x = np.array([[3.0, 4.0], [-3.0, -4.0], [0.0, 0.1]])  # projections 5, -5, 0.08
    out = clip_projection(x, axis, low=-1.0, high=1.0)
    assert out @ axis == pytest.approx([1.0, -1.0, 0.08])
    ortho = np.array([0.8, -0.6])
    assert out @ ortho == pytest.approx(x @ ortho)
    t = clip_projection(torch.tensor(x, dtype=torch.float32), torch.tensor(axis, dtype=torch.float32), low=-1.0)
    assert t.numpy() @ axis == pytest.approx([5.0, -1.0, 0.08], abs=1e-5)


def test_clip_projection_without_bounds_changes_nothing():
    x = np.arange(6.0).reshape(3, 2)
    assert clip_projection(x, np.array([1.0, 0.0])) is x


def test_clip_step_shortens_long_steps_and_keeps_short_ones():
    old = np.zeros((2, 2))
    new = np.array([[3.0, 4.0], [0.3, 0.4]])
    out = clip_step(new, old, max_norm=1.0)
    assert out == pytest.approx(np.array([[0.6, 0.8], [0.3, 0.4]]))


def test_cap_bounds_from_a_population_keep_population_members_and_stop_outliers():
    rng = np.random.default_rng(3)
    population = rng.normal(size=(5000, 8))
    axis = np.eye(8)[0]
    bounds = fit_cap_bounds(population, axis, percentiles=(0.5, 99.5))
    typical = population[:100]
    kept = bounds.apply(typical, old=typical)  # a zero step inside the range changes nothing much
    assert np.mean(np.all(np.isclose(kept, typical), axis=1)) > 0.95
    attack = np.zeros((1, 8))
    attack[0, 0] = 50.0
    capped = bounds.apply(attack, old=np.zeros((1, 8)))
    assert np.linalg.norm(capped) <= bounds.max_step + 1e-9
    assert capped[0] @ axis <= bounds.high + 1e-9


def test_mixture_drift_is_zero_for_identical_snapshots_and_measures_a_move():
    v = np.array([[1.0, 0.0], [0.0, 1.0]])
    w = np.array([0.5, 0.5])
    still = mixture_drift(v, v, w, w, axis=np.array([1.0, 0.0]))
    assert still.distance == pytest.approx([0, 0]) and still.weight_shift == 0.0
    moved = mixture_drift(v, v + np.array([[2.0, 0.0], [0.0, 0.0]]), w, np.array([0.9, 0.1]), axis=[1.0, 0.0])
    assert moved.along_axis == pytest.approx([2.0, 0.0])
    assert moved.weight_shift == pytest.approx(0.4)


def test_match_personas_undoes_a_permutation_after_procrustes_alignment():
    rng = np.random.default_rng(4)
    items = rng.normal(size=(200, 6))
    rotation = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    personas = rng.normal(size=(4, 6))
    permuted = (personas @ rotation)[[2, 0, 3, 1]]
    aligned = permuted @ procrustes_rotation(items @ rotation, items)
    order, similarity = match_personas(personas, aligned)
    assert list(order) == [1, 3, 0, 2]
    assert similarity == pytest.approx(1.0)


def test_random_personas_match_far_worse_than_the_same_ones():
    rng = np.random.default_rng(5)
    _, similarity = match_personas(rng.normal(size=(4, 64)), rng.normal(size=(4, 64)))
    assert similarity < 0.4


def test_adjusted_rand_index_is_one_for_relabelled_partitions_and_near_zero_for_random_ones():
    assert adjusted_rand_index([0, 0, 1, 1, 2, 2], [5, 5, 3, 3, 9, 9]) == pytest.approx(1.0)
    rng = np.random.default_rng(6)
    assert abs(adjusted_rand_index(rng.integers(0, 4, 5000), rng.integers(0, 4, 5000))) < 0.01
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)


def test_silhouette_separates_clusters_and_finds_nothing_in_shuffled_labels():
    rng = np.random.default_rng(7)
    centres = np.eye(5)[:3] * 5
    labels = np.repeat(np.arange(3), 50)
    x = centres[labels] + rng.normal(size=(150, 5)) * 0.3
    assert silhouette(x, labels) > 0.7
    assert abs(silhouette(x, rng.permutation(labels))) < 0.1


def test_cosine_of_parallel_and_orthogonal_vectors():
    assert cosine(np.array([1.0, 0]), np.array([2.0, 0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0]), np.array([0, 3.0])) == pytest.approx(0.0)


def test_drift_bound_stops_many_small_steps_from_adding_up():
    rng = np.random.default_rng(4)
    population = rng.normal(size=(2000, 8))
    honest_drifts = 0.5 * rng.normal(size=(500, 8))
    bounds = fit_cap_bounds(population, np.eye(8)[0], steps=0.1 * population, drifts=honest_drifts)
    anchor = np.zeros((1, 8))
    state = anchor.copy()
    for _ in range(200):  # each step within the step bound, all in one direction
        state = bounds.apply(state + 0.5 * bounds.max_step * np.eye(8)[1], old=state, anchor=anchor)
    assert np.linalg.norm(state - anchor) == pytest.approx(bounds.max_drift)
    no_anchor = fit_cap_bounds(population, np.eye(8)[0], steps=0.1 * population)
    assert no_anchor.max_drift is None  # no drift bound without honest drifts to learn it from


def test_drift_bound_leaves_a_state_near_its_anchor_unchanged():
    bounds = fit_cap_bounds(np.random.default_rng(5).normal(size=(2000, 8)), np.eye(8)[0],
                            drifts=np.ones((10, 8)))
    anchor, near = np.zeros((1, 8)), np.full((1, 8), 0.1)
    assert bounds.apply(near, old=anchor, anchor=anchor) == pytest.approx(near)
    assert CapBounds.from_dict(bounds.to_dict()).max_drift == bounds.max_drift


def test_torch_threads_sets_and_restores_the_pool_size():
    from personae.threads import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
