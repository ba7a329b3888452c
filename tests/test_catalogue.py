"""The template catalogue: the shipped one loads and renders; a broken or hostile one is refused."""

import re
import shutil
import tomllib
from pathlib import Path

import pytest
from jinja2.exceptions import TemplateError

from builder.config import SHIPPED_TEMPLATES as SHIPPED
from builder.errors import UserError
from builder.expand.catalogue import load_catalogue
from builder.expand.expander import Expander
from builder.expand.render import compile_renderer, make_environment, sentence
from schemas.drug import DrugRecord
from tests.conftest import run


def catalogue_with(tmp_path: Path, answer: str, questions: str = '["{{ name }}是什么？"]') -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "drug.toml").write_text(
        f'kind = "drug"\n\n[[templates]]\nid = "drug.test"\nrequires = ["indications"]\n'
        f"questions = {questions}\nanswer = '{answer}'\n",
        encoding="utf-8",
    )
    return folder


def test_shipped_catalogue_loads_with_the_seed_question() -> None:
    catalogue = load_catalogue([SHIPPED])
    drug = {entry.id: entry for entry in catalogue.entries["drug"]}
    record = DrugRecord(name="地屈孕酮", indications="用于治疗痛经。")
    assert drug["drug.indications"].questions[0](record.model_dump()) == "地屈孕酮的适应病症是什么？"
    assert len(catalogue.sha256) == 64 and len(catalogue.entries["disease"]) >= 8


def test_hash_changes_with_the_catalogue(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(SHIPPED, copy)
    before = load_catalogue([copy]).sha256
    path = copy / "drug.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("适应病症是什么", "适应病症是哪些", 1), encoding="utf-8")
    assert load_catalogue([copy]).sha256 != before


@pytest.mark.parametrize(
    "answer",
    ["{{ name.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}", "{{ ''.__class__.__base__.__subclasses__() }}"],
)
def test_sandbox_refuses_escapes_even_without_the_lint(answer: str) -> None:
    """Defence in depth: a tree the fast path cannot translate renders in the sandbox, which refuses."""
    env = make_environment()
    render = compile_renderer(env, env.parse(answer))
    assert render.__qualname__ == "Template.render"
    with pytest.raises(TemplateError):
        render({"name": "布洛芬"})


def test_loading_refuses_a_catalogue_with_problems(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"drug.toml:7: drug.test: answer: prints 'category'.*1 problem\(s\)"):
        load_catalogue([catalogue_with(tmp_path, "{{ indications }}{{ category }}")], ["drug"])


def test_sentence_closes_text_with_one_mark() -> None:
    assert sentence("用于头痛") == "用于头痛。"
    assert sentence("用于头痛；") == "用于头痛。"
    assert sentence("用于头痛。 ") == "用于头痛。"
    assert sentence("会头痛吗？") == "会头痛吗？"


def test_variant_choice_is_stable_and_distinct(tmp_path: Path) -> None:
    """Through `Expander.expand`, the path a build takes: the phrasing hashed from (record, seed, template)."""
    questions = "[" + ", ".join(f'"{{{{ name }}}}问法{i}？"' for i in range(7)) + "]"
    entries = load_catalogue([catalogue_with(tmp_path, "{{ indications }}", questions)], ["drug"]).entries["drug"]
    context = DrugRecord(name="布洛芬", indications="用于疼痛。").model_dump()

    def picks(record_id: str, variants: int, seed: int = 1) -> list[int]:
        return [row[1] for row in Expander(entries, seed, variants).expand(context, record_id)]

    assert picks("drug-a", 1) == picks("drug-a", 1) and len(picks("drug-a", 1)) == 1
    three = picks("drug-a", 3)
    assert len(set(three)) == 3 and three[1:] == [(three[0] + 1) % 7, (three[0] + 2) % 7]
    assert sorted(picks("drug-a", 9)) == list(range(7))  # never more phrasings than the template has
    assert {picks(f"drug-{i}", 1)[0] for i in range(200)} == set(range(7))
    assert [picks("drug-a", 1, seed)[0] for seed in range(20)] != [picks("drug-a", 1)[0]] * 20
    rows = Expander(entries, 1, 3).expand(context, "drug-a")
    assert [row[2] for row in rows] == [f"布洛芬问法{i}？" for i in three]  # the row's question is its variant


def test_expand_counts_skips_by_missing_field() -> None:
    expander = Expander(load_catalogue([SHIPPED], ["drug"]).entries["drug"], 0, 2)
    context = DrugRecord(name="布洛芬", indications="用于疼痛。").model_dump()
    rows = expander.expand(context, "drug-1")
    assert sorted(r[0] for r in rows) == ["drug.indications"] * 2 + ["drug.overview"] * 2
    assert len({r[2] for r in rows if r[0] == "drug.indications"}) == 2
    coverage = expander.coverage_json()
    assert coverage["drug.usage_dosage"] == {"eligible": 1, "rendered": 0, "skipped": 1,
                                             "skipped_missing": {"usage_dosage": 1}, "variants": {}}
    assert coverage["drug.indications"]["rendered"] == 2
    assert "usage_dosage" in expander.missing_fields(context)


def _records(kind_model, seed: int) -> list[dict]:
    """Records with every mix of present and missing fields, and texts ending in awkward punctuation."""
    import random

    rng = random.Random(seed)
    endings = ["", "。", "；", "，", "：", "！", " ", "？"]
    records = []
    for _ in range(60):
        values = {}
        for field in kind_model.model_fields:
            if field == "aliases":
                values[field] = rng.choice([[], ["甲"], ["甲", "乙丙"]])
            elif field == "name":
                values[field] = "测试药"
            else:
                values[field] = rng.choice([None, "用于头痛" + rng.choice(endings), "1.口服。\n2.外用"])
        records.append(values)
    return records


@pytest.mark.parametrize("kind", ["drug", "disease"])
def test_fast_renderer_matches_jinja_on_the_shipped_catalogue(kind: str) -> None:
    import tomllib

    from schemas import RECORD_MODELS

    env = make_environment()
    catalogue = tomllib.loads((SHIPPED / f"{kind}.toml").read_text(encoding="utf-8"))
    sources = [s for entry in catalogue["templates"]
               for s in [*(q["text"] if isinstance(q, dict) else q for q in entry["questions"]), entry["answer"]]]
    fast_count = 0
    for source in sources:
        ast = env.parse(source)
        fast, slow = compile_renderer(env, ast), env.from_string(ast).render
        fast_count += fast.__qualname__ == "render"
        for record in _records(RECORD_MODELS[kind], len(source)):
            try:
                expected = slow(record)
            except Exception as error:  # a template that needs a missing field fails both ways
                with pytest.raises(type(error)):
                    fast(record)
                continue
            assert fast(record) == expected, source
    assert fast_count == len(sources)  # every shipped template takes the fast path


def _rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def test_templates_add_to_the_shipped_catalogue_and_replace_by_id(tmp_path: Path, drug_file: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "drug.toml").write_text(
        'kind = "drug"\n\n[[templates]]\nid = "drug.indications"\nrequires = ["indications"]\n'
        'questions = ["{{ name }}能治什么？"]\nanswer = "{{ name }}：{{ indications | sentence }}"\n\n'
        '[[templates]]\nid = "drug.mine"\nrequires = ["usage_dosage"]\n'
        'questions = ["{{ name }}该怎么吃？"]\nanswer = "{{ usage_dosage | sentence }}"\n', encoding="utf-8")
    assert run("build", "--kb", f"drug={drug_file}", "--templates", folder, "--out", tmp_path / "add",
               "--quiet").exit_code == 0
    rows = _rows(tmp_path / "add")
    ids = {r["template_id"] for r in rows}
    assert {"drug.mine", "drug.indications", "drug.usage_dosage", "drug.contraindications"} <= ids
    assert {r["instruction"] for r in rows if r["template_id"] == "drug.indications"} == {"阿莫西林能治什么？",
                                                                                         "布洛芬能治什么？"}
    assert run("build", "--kb", f"drug={drug_file}", "--templates", folder, "--replace-templates", "--out",
               tmp_path / "only", "--quiet").exit_code == 0
    assert {r["template_id"] for r in _rows(tmp_path / "only")} == {"drug.mine", "drug.indications"}


def test_replacing_the_catalogue_needs_a_folder(tmp_path: Path, drug_file: Path) -> None:
    result = run("build", "--kb", f"drug={drug_file}", "--replace-templates", "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2 and "replace_templates needs at least one templates folder" in result.stderr


def catalogue_of(tmp_path: Path, questions: str) -> Path:
    return catalogue_with(tmp_path, "{{ indications }}", questions)


def test_a_phrasing_that_asks_for_more_is_asked_only_of_records_that_state_it(tmp_path: Path) -> None:
    questions = ('["{{ name }}治什么？", { text = "孕妇能用{{ name }}吗？", '
                 'states = { pregnancy_lactation = "孕妇[^。]*禁用" } }, '
                 '{ text = "{{ name }}是什么剂型的？", requires = ["dosage_form"] }]')
    entries = load_catalogue([catalogue_of(tmp_path, questions)], ["drug"]).entries["drug"]
    says = DrugRecord(name="甲药", indications="用于疼痛。", pregnancy_lactation="孕妇禁用。", dosage_form="片剂")
    silent = DrugRecord(name="乙药", indications="用于疼痛。", pregnancy_lactation="尚无研究资料。")

    def asked(record: DrugRecord) -> set[str]:
        expander = Expander(entries, 1, 1)
        return {expander.expand(record.model_dump(), f"drug-{i}")[0][2][2:] for i in range(120)}

    assert asked(says) == {"治什么？", "能用甲药吗？", "是什么剂型的？"}
    assert asked(silent) == {"治什么？"}  # never a yes/no question its record cannot answer
    coverage = Expander(entries, 1, 3)
    rows = coverage.expand(silent.model_dump(), "drug-1")
    assert [row[1] for row in rows] == [0]  # three variants asked, one phrasing fits: one row, no repeats


@pytest.mark.parametrize(("questions", "message"), [
    ('[{ text = "{{ name }}？", requires = ["dosage_form"] }]', "give one that fits every record"),
    ('["{{ name }}？", { text = "{{ name }}吗？", states = { dosage_form = "(" } }]', "not a regular expression"),
    ('["{{ name }}？", { text = "{{ name }}吗？", requires = ["colour"] }]', "requires must list fields"),
    ('["{{ name }}？", { text = "{{ name }}吗？", when = "x" }]', "unknown key(s) when"),
    ('["{{ name }}？", { requires = ["dosage_form"] }]', "needs `text"),
    ('["{{ name }}？", { text = "{{ name }}{{ dosage_form }}吗？" }]', "prints 'dosage_form'"),
])
def test_phrasing_tables_are_checked(tmp_path: Path, questions: str, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        load_catalogue([catalogue_of(tmp_path, questions)], ["drug"])


YES_NO = re.compile(r"吗？$|能不能|可不可以|是否|有没有")
REQUESTS = re.compile(r"^(能|可以)?(给我|简单|告诉我)|能给个|有什么方歌")


def test_shipped_yes_no_questions_are_asked_only_where_the_record_says_yes_or_no() -> None:
    """Catalogue-wide: a yes/no phrasing must declare what its record has to state (`states`), so that its answer,
    which only presents the record, answers it; requests ("能给我讲讲…吗") are not yes/no questions."""
    unguarded = []
    for path in sorted(SHIPPED.glob("*.toml")):
        for template in tomllib.loads(path.read_text(encoding="utf-8"))["templates"]:
            for question in template["questions"]:
                text = question["text"] if isinstance(question, dict) else question
                plain = text.replace("{{ name }}", "X")
                if YES_NO.search(plain) and not REQUESTS.search(plain) and not (
                        isinstance(question, dict) and question.get("states")):
                    unguarded.append(f"{template['id']}: {text}")
    assert not unguarded, unguarded
