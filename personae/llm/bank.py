"""The data files shipped with personae.llm, loaded with validation so a broken file fails with its name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

DATA = "personae.llm.data"


class BankError(ValueError):
    """A data file is missing or malformed; the message names the file and the field."""


def read_data_json(name_or_path: str | Path) -> Any:
    """A JSON file by path, or by name from the packaged data folder."""
    p = Path(name_or_path)
    try:
        if p.is_file():
            return json.loads(p.read_text(encoding="utf-8"))
        return json.loads(resources.files(DATA).joinpath(str(name_or_path)).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BankError(f"data file not found: {name_or_path}") from exc
    except json.JSONDecodeError as exc:
        raise BankError(f"{name_or_path}: invalid JSON ({exc})") from exc


def read_data_text(name: str) -> str:
    return resources.files(DATA).joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    system_prompts: tuple[str, ...]


@dataclass(frozen=True)
class RoleBank:
    """Role archetypes, each with the same number of system prompts, and questions shared by all roles."""

    roles: tuple[Role, ...]
    questions: tuple[str, ...]

    @property
    def n_prompts(self) -> int:
        return len(self.roles[0].system_prompts)

    def subset(self, n_roles: int | None = None, n_prompts: int | None = None,
               n_questions: int | None = None) -> RoleBank:
        """The first n of each (None: all); asking for more than the bank has is an error, not a silent cap."""
        for what, n, have in (("roles", n_roles, len(self.roles)), ("prompts", n_prompts, self.n_prompts),
                              ("questions", n_questions, len(self.questions))):
            if n is not None and not 1 <= n <= have:
                raise BankError(f"--{what} must be between 1 and {have}, got {n}")
        roles = self.roles[:n_roles] if n_roles else self.roles
        k = n_prompts or self.n_prompts
        return RoleBank(tuple(Role(r.name, r.description, r.system_prompts[:k]) for r in roles),
                        self.questions[:n_questions] if n_questions else self.questions)


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise BankError(f"{where} must be a non-empty list of non-empty strings")
    return value


def parse_role_bank(data: Any, source: str = "roles.json", min_roles: int = 1, min_prompts: int = 1,
                    min_questions: int = 1) -> RoleBank:
    if not isinstance(data, dict) or "roles" not in data or "questions" not in data:
        raise BankError(f"{source}: expected an object with 'roles' and 'questions'")
    questions = _str_list(data["questions"], f"{source}: questions")
    if not isinstance(data["roles"], list):
        raise BankError(f"{source}: roles must be a list")
    roles, seen = [], set()
    for i, r in enumerate(data["roles"]):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str) or not r["name"].strip():
            raise BankError(f"{source}: roles[{i}] needs a non-empty 'name'")
        if r["name"] in seen:
            raise BankError(f"{source}: duplicate role name '{r['name']}'")
        seen.add(r["name"])
        prompts = _str_list(r.get("system_prompts"), f"{source}: roles[{i}] ('{r['name']}').system_prompts")
        roles.append(Role(r["name"], str(r.get("description", "")), tuple(prompts)))
    if len(roles) < min_roles:
        raise BankError(f"{source}: needs at least {min_roles} roles, has {len(roles)}")
    counts = {len(r.system_prompts) for r in roles}
    if len(counts) != 1:
        raise BankError(f"{source}: every role needs the same number of system prompts, found {sorted(counts)}")
    if counts.pop() < min_prompts:
        raise BankError(f"{source}: needs at least {min_prompts} system prompts per role")
    if len(questions) < min_questions:
        raise BankError(f"{source}: needs at least {min_questions} questions, has {len(questions)}")
    return RoleBank(tuple(roles), tuple(questions))


def load_role_bank(path: str | Path | None = None) -> RoleBank:
    """The packaged bank (>= 50 roles x 5 system prompts x 20 questions) or a user's file of the same shape."""
    source = str(path) if path else "roles.json"
    strict = path is None  # the shipped bank must keep the sizes the lab promises
    return parse_role_bank(read_data_json(source), source, min_roles=50 if strict else 1,
                           min_prompts=5 if strict else 1, min_questions=20 if strict else 1)


def load_items() -> dict[str, list[str]]:
    """Movies, statements, open questions and personas for the run-to-run variance instrument."""
    data = read_data_json("items.json")
    return {k: _str_list(data.get(k), f"items.json: {k}")
            for k in ("movies", "statements", "open_questions", "personas")}


def load_conversation_scripts() -> tuple[list[str], dict[str, list[list[str]]]]:
    """(persona role names, {conversation type: [scripted partner turns per conversation]})."""
    data = read_data_json("conversations.json")
    personas = _str_list(data.get("personas"), "conversations.json: personas")
    convs = data.get("conversations")
    if not isinstance(convs, dict) or not convs:
        raise BankError("conversations.json: 'conversations' must map a type to a list of scripts")
    scripts = {}
    for kind, lst in convs.items():
        if not isinstance(lst, list) or not lst:
            raise BankError(f"conversations.json: conversations.{kind} must be a non-empty list")
        scripts[kind] = [_str_list(s, f"conversations.json: conversations.{kind}[{i}]") for i, s in enumerate(lst)]
    return personas, scripts


def load_consistency_set() -> dict[str, Any]:
    data = read_data_json("consistency.json")
    personas = data.get("personas")
    if not isinstance(personas, list) or not personas or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("prompt"), str)
            for p in personas):
        raise BankError("consistency.json: personas must be a list of {name, prompt}")
    turns = _str_list(data.get("partner_turns"), "consistency.json: partner_turns")
    probes = _str_list([p.get("question") for p in data.get("probes", []) if isinstance(p, dict)],
                       "consistency.json: probes[].question")
    return {"personas": personas, "partner_turns": turns, "probes": probes}


def load_mcq(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The 4-option multiple-choice set (mcq.json): [{question, options[4], answer letter}]."""
    source = str(path) if path else "mcq.json"
    data = read_data_json(source)
    qs = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(qs, list) or not qs:
        raise BankError(f"{source}: 'questions' must be a non-empty list")
    for i, q in enumerate(qs):
        if not (isinstance(q, dict) and isinstance(q.get("question"), str) and isinstance(q.get("options"), list)
                and len(q["options"]) == 4 and q.get("answer") in ("A", "B", "C", "D")):
            raise BankError(f"{source}: questions[{i}] needs a question, 4 options and an answer letter A-D")
    return qs
