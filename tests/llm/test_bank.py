import pytest

from personae.llm.bank import (
    BankError,
    load_consistency_set,
    load_conversation_scripts,
    load_items,
    load_role_bank,
    parse_role_bank,
)


def test_shipped_bank_has_at_least_50_roles_5_prompts_and_20_questions():
    bank = load_role_bank()
    assert len(bank.roles) >= 50
    assert bank.n_prompts == 5 and all(len(r.system_prompts) == 5 for r in bank.roles)
    assert len(bank.questions) >= 20


def test_subset_takes_the_first_n_and_rejects_out_of_range_sizes():
    bank = load_role_bank()
    sub = bank.subset(3, 2, 4)
    assert [r.name for r in sub.roles] == [r.name for r in bank.roles[:3]]
    assert sub.n_prompts == 2 and len(sub.questions) == 4
    with pytest.raises(BankError, match="--roles must be between 1 and"):
        bank.subset(n_roles=1000)


def test_bank_without_questions_is_rejected_with_the_file_name():
    with pytest.raises(BankError, match="my.json: expected an object"):
        parse_role_bank({"roles": []}, "my.json")


def test_bank_with_duplicate_role_names_is_rejected():
    roles = [{"name": "pirate", "system_prompts": ["a"]}, {"name": "pirate", "system_prompts": ["b"]}]
    with pytest.raises(BankError, match="duplicate role name 'pirate'"):
        parse_role_bank({"roles": roles, "questions": ["q"]})


def test_bank_with_uneven_prompt_counts_is_rejected():
    roles = [{"name": "a", "system_prompts": ["x"]}, {"name": "b", "system_prompts": ["x", "y"]}]
    with pytest.raises(BankError, match="same number of system prompts"):
        parse_role_bank({"roles": roles, "questions": ["q"]})


def test_bank_with_an_empty_prompt_is_rejected():
    with pytest.raises(BankError, match=r"roles\[0\] \('a'\).system_prompts"):
        parse_role_bank({"roles": [{"name": "a", "system_prompts": [""]}], "questions": ["q"]})


def test_missing_bank_file_is_named(tmp_path):
    with pytest.raises(BankError, match="data file not found"):
        load_role_bank(tmp_path / "nope.json")


def test_other_shipped_data_files_load():
    items = load_items()
    assert len(items["movies"]) >= 20 and len(items["statements"]) >= 20
    personas, scripts = load_conversation_scripts()
    assert set(scripts) == {"factual", "emotional", "meta_reflective", "pressure"} and personas
    assert load_consistency_set()["probes"]
