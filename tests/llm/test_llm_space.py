import numpy as np
import pytest

from personae.llm.space import PersonaSpace, default_axis


def test_default_axis_is_default_minus_mean_role_vector():
    roles = np.array([[1.0, 0.0], [3.0, 2.0]])
    assert default_axis(np.array([5.0, 5.0]), roles) == pytest.approx([3.0, 4.0])


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
