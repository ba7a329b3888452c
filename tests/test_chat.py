"""Chat templates and the loss-mask check: every shipped template on every row of a real build, the formats each
family documents, and broken templates failing with one line."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.export.chat import conversation, load_chat_template, mask_problem, shipped_chat_templates
from tests.conftest import run

SAMPLE = Path(__file__).resolve().parents[1] / "raw" / "sample.toml"
MESSAGES = conversation("高血压吃什么？", "低盐饮食。", "你是医生")


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chat") / "out"
    flags = [arg for name in shipped_chat_templates() for arg in ("--chat-template", name)]
    result = run("build", "--config", SAMPLE, "--out", out, "--quiet", *flags)
    assert result.exit_code == 0, result.output
    return out


def test_every_shipped_template_passes_on_every_exported_row(checked: Path) -> None:
    manifest = json.loads((checked / "manifest.json").read_text(encoding="utf-8"))
    rows = sum(manifest["splits"].values())
    templates = manifest["quality"]["chat_templates"]
    assert set(templates) == set(shipped_chat_templates()) >= {"chatml", "qwen3", "qwen3_nothink", "llama3", "glm4"}
    assert all(t["rows"] == rows and t["failed"] == 0 for t in templates.values())
    card = (checked / "README.md").read_text(encoding="utf-8")
    assert "## Chat templates and loss masks" in card and all(f"| {name} | {rows} |" in card for name in templates)


def test_the_check_is_the_rows_own_and_holds_with_a_system_prompt(checked: Path) -> None:
    rows = pq.read_table(sorted((checked / "data").glob("*.parquet"))).to_pylist()[:50]
    for name in shipped_chat_templates():
        template = load_chat_template(name)
        for row in rows:
            prompt = row["instruction"] + ("\n" + row["input"] if row["input"] else "")
            for system in (None, "你是一名医生。"):
                assert mask_problem(template, conversation(prompt, row["output"], system)) is None


@pytest.mark.parametrize(("name", "whole", "prompt"), [
    ("chatml", "<|im_start|>system\n你是医生<|im_end|>\n<|im_start|>user\n高血压吃什么？<|im_end|>\n"
               "<|im_start|>assistant\n低盐饮食。<|im_end|>\n", "<|im_start|>assistant\n"),
    ("qwen3_nothink", "<|im_start|>assistant\n<think>\n\n</think>\n\n低盐饮食。<|im_end|>\n",
     "<|im_start|>assistant\n<think>\n\n</think>\n\n"),
    ("qwen3", "<|im_start|>assistant\n<think>\n\n</think>\n\n低盐饮食。<|im_end|>\n", "<|im_start|>assistant\n"),
    ("llama3", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n你是医生<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\n高血压吃什么？<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n低盐饮食。<|eot_id|>",
     "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("glm4", "[gMASK]<sop><|system|>\n你是医生<|user|>\n高血压吃什么？<|assistant|>\n低盐饮食。<|endoftext|>",
     "<|assistant|>\n"),
])
def test_each_template_renders_as_its_family_documents(name: str, whole: str, prompt: str) -> None:
    template = load_chat_template(name)
    assert template.render(MESSAGES, add_generation_prompt=False).endswith(whole)
    assert template.render(MESSAGES[:-1], add_generation_prompt=True).endswith(prompt)


BROKEN = {
    "eot_outside": ('''{%- for m in messages -%}<|im_start|>{{ m.role }}\n{{ m.content }}{% if not loop.last %}'''
                    '''<|im_end|>\n{% endif %}{%- endfor -%}{%- if add_generation_prompt -%}<|im_end|>\n'''
                    '''<|im_start|>assistant\n{% endif %}''', "the end-of-turn token <|im_end|> is outside the mask"),
    "no_prefix": ('''{%- for m in messages -%}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endfor -%}'''
                  '''{%- if add_generation_prompt -%}<|im_start|>Assistant\n{% endif %}''', "no mask can be derived"),
    "prompt_in_mask": ('''{%- for m in messages -%}<|im_start|>{{ m.role }}\n{% if m.role == "assistant" %}'''
                       '''{{ messages[-2].content }}{% endif %}{{ m.content }}<|im_end|>\n{%- endfor -%}'''
                       '''{%- if add_generation_prompt -%}<|im_start|>assistant\n{% endif %}''', "of the prompt"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_template_fails_the_build_in_one_line(tmp_path: Path, case: str) -> None:
    body, says = BROKEN[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(f'end_of_turn = "<|im_end|>"\ntemplate = {json.dumps(body)}\n', encoding="utf-8")
    assert mask_problem(load_chat_template(str(path)), MESSAGES) is not None
    result = run("build", "--config", SAMPLE, "--out", tmp_path / "out", "--quiet", "--chat-template", path)
    assert result.exit_code == 2 and says in result.output and f"chat template '{case}'" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("text", "says"), [
    ('template = "{{ messages }}"\n', "end_of_turn"),
    ('end_of_turn = "x"\ntemplate = "{% for %}"\n', "does not compile"),
    ('end_of_turn = "x"\nthink = "sometimes"\ntemplate = "x"\n', "think"),
])
def test_a_bad_template_file_is_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = run("build", "--config", SAMPLE, "--out", tmp_path / "out", "--quiet", "--chat-template", path)
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output, result.output


def test_an_unknown_template_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    result = run("build", "--config", SAMPLE, "--out", tmp_path / "out", "--quiet", "--chat-template", "vicuna")
    assert result.exit_code == 2 and "no chat template named 'vicuna'" in result.output and "chatml" in result.output
