import numpy as np
import pytest

from personae.llm.space import PersonaSpace, cosine, default_axis, pca, space_summary


def test_pca_finds_the_dominant_direction_of_synthetic_role_vectors():
    rng = np.random.default_rng(0)
    direction = np.zeros(16)
    direction[3] = 1.0
    x = rng.normal(size=(60, 1)) * 10 * direction + rng.normal(size=(60, 16)) * 0.1  # (60, 16)
    comps, ratio, mean = pca(x)
    assert abs(comps[0] @ direction) > 0.99
    assert ratio[0] > 0.9
    assert ratio.sum() == pytest.approx(1.0)
    assert comps.shape == (16, 16) and mean.shape == (16,)


def test_default_axis_is_default_minus_mean_role_vector():
    roles = np.array([[1.0, 0.0], [3.0, 2.0]])
    assert default_axis(np.array([5.0, 5.0]), roles) == pytest.approx([3.0, 4.0])


def test_summary_orients_pc1_toward_the_default_and_reports_its_position():
    rng = np.random.default_rng(1)
    roles = np.outer(rng.normal(size=40), [0, 0, 2.0, 0]) + rng.normal(size=(40, 4)) * 0.05
    default = np.array([0, 0, -6.0, 0])  # far out on the negative side of the raw direction
    s = space_summary(roles, default)
    assert s["axis_pc1_cosine"] > 0.95  # oriented: positive, near 1
    assert s["default_pc1_position"] > 2.0  # several role-SDs beyond the roles, on the oriented side
    assert s["default_pc1_rank"] == pytest.approx(1.0)
    assert 0 < s["pc1_explained"] <= 1


def test_cosine_of_parallel_and_orthogonal_vectors():
    assert cosine(np.array([1.0, 0]), np.array([2.0, 0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0]), np.array([0, 3.0])) == pytest.approx(0.0)


def test_persona_space_round_trips_through_save_and_load(tmp_path):
    rng = np.random.default_rng(2)
    space = PersonaSpace(1, ["a", "b", "c"], rng.normal(size=(3, 2, 5)), rng.normal(size=(2, 5)),
                         rng.normal(size=(6, 2)), rng.normal(size=(2, 2)), {"n_roles": 3})
    space.save(tmp_path)
    back = PersonaSpace.load(tmp_path)
    assert back.role_names == ["a", "b", "c"] and back.layer == 1
    assert back.axis == pytest.approx(space.axis.astype(np.float32), abs=1e-5)
    assert back.summary()["layer"] == 1


def test_loading_a_missing_space_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        PersonaSpace.load(tmp_path)
