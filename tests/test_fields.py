"""Field mapping: built-in aliases per kind, user overrides, and a clear error for an unmappable source."""

import pytest

from builder.errors import UserError
from builder.validate.fields import (
    check_user_mapping,
    normalise_key,
    require_fields,
    resolve_columns,
)


def test_builtin_aliases_map_chinese_field_names() -> None:
    mapping, unmapped = resolve_columns("drug", ["药品名称", "适应证", "禁忌症", "功能主治 ", "产地"], {})
    assert mapping == {"药品名称": "name", "适应证": "indications", "禁忌症": "contraindications"}
    assert unmapped == ["功能主治 ", "产地"]  # 功能主治 also means indications: the first claimant keeps the field


def test_qa_aliases() -> None:
    mapping, _ = resolve_columns("qa", ["department", "title", "ask", "answer"], {})
    assert mapping == {"department": "department", "title": "title", "ask": "question", "answer": "answer"}


def test_keys_match_across_width_case_and_colons() -> None:
    assert normalise_key("Ａｓｋ：") == normalise_key("ask") == "ask"


def test_user_mapping_adds_and_overrides() -> None:
    mapping, unmapped = resolve_columns("drug", ["药材", "症状", "功用"], {"症状": "indications", "功用": ""})
    assert mapping == {"药材": "name", "症状": "indications"}
    assert unmapped == []


def test_user_mapping_to_an_unknown_field_is_refused() -> None:
    with pytest.raises(UserError, match="'indication' is not a drug field"):
        check_user_mapping("drug", {"症状": "indication"}, "config.toml")


def test_unmappable_source_lists_its_columns_and_the_flag() -> None:
    with pytest.raises(UserError) as error:
        require_fields("qa", set(), ["病人描述", "医生建议"], "qa.csv")
    message = str(error.value)
    assert "qa.csv: field 'question'" in message
    assert "its columns are: 病人描述, 医生建议" in message
    assert "--map 病人描述=question" in message
