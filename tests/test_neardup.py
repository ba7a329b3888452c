"""Near-duplicate detection (builder.quality.neardup): real MinHash/LSH runs on small Chinese QA texts."""

import random

import numpy as np
import pyarrow as pa
import pytest

from builder.kernels import shingles as shingling
from builder.quality import neardup
from builder.quality.neardup import NearDupConfig, NearDuplicates, optimal_bands

QA = [
    (
        "医生你好，我妈妈五十二岁，最近一个月一直头晕，早上起来比较明显，量血压有时候一百五十多，"
        "请问这是怎么回事？需要吃降压药吗？\n根据你的描述，可能与原发性高血压有关，建议到正规医院就诊，"
        "完善相关检查后明确诊断。平时饮食宜清淡，少吃盐，注意休息，避免劳累和熬夜，定期监测血压。"
    ),
    (
        "孩子八岁，前几天开始咳嗽，还伴有发热，晚上咳得厉害睡不好觉，吃了点止咳糖浆也没什么效果，"
        "该怎么办？\n考虑是急性支气管炎引起的可能性比较大，建议先去医院查个血常规，必要时拍胸片，"
        "在医生指导下使用抗生素治疗，多喝温开水，保证充足的睡眠，饮食忌辛辣刺激食物。"
    ),
    (
        "我老公平时喜欢喝酒，体检查出转氨酶偏高，脂肪肝中度，他没有任何不舒服，这个严重吗？"
        "平时饮食要注意什么？\n脂肪肝早期症状不明显，随着病情进展可出现乏力、腹胀等症状，"
        "首先要戒酒，控制体重，适当进行体育锻炼，少吃油腻食物，三到六个月后复查肝功能和腹部超声。"
    ),
    (
        "被查出二型糖尿病半年了，一直在吃二甲双胍，空腹血糖还是八点多，饭后十二左右，"
        "需要换药吗？\n血糖控制得不理想，可以在医生指导下加用其他降糖药物，同时要严格控制饮食，"
        "主食定量，少吃甜食和水果，每天坚持快走半小时以上，定期复查糖化血红蛋白。"
    ),
]


def shingles(text: str, n: int = 5) -> set[str]:
    t = text.lower()
    return {t[i : i + n] for i in range(len(t) - n + 1)} if len(t) >= n else {t}


def jaccard(a: str, b: str, n: int = 5) -> float:
    x, y = shingles(a, n), shingles(b, n)
    return len(x & y) / len(x | y)


def run(texts, config: NearDupConfig | None = None, batches=None, threads: int = 2):
    nd = NearDuplicates(config or NearDupConfig(), threads=threads)
    if batches is None:
        nd.add(texts)
    else:
        i = 0
        for size in batches:
            nd.add(texts[i : i + size])
            i += size
        assert i == len(texts)
    res = nd.resolve()
    nd.close()
    return res


def change_chars(text: str, positions: list[int], repl: str = "啊") -> str:
    chars = list(text)
    for p in positions:
        chars[p] = repl
    return "".join(chars)


def synth_corpus(n: int, seed: int) -> list[str]:
    """Random QA-like texts from a pool of sentences, with planted edits and copies."""
    r = random.Random(seed)
    pool = "的了是我有不在人这中大为上个和也子时道出要于就下得可你年生自会那后能对着事里去行过家用发天如然作方成者多都小二无同么经法当起与好看进种将还分此心前面又定见只主没公从头痛咳嗽发热腹泻"
    sents = ["".join(r.choices(pool, k=r.randint(8, 25))) + r.choice("，。？；") for _ in range(300)]
    out: list[str] = []
    for _ in range(n):
        x = r.random()
        if out and x < 0.05:
            out.append(out[r.randrange(len(out))])
        elif out and x < 0.12:
            t = out[r.randrange(len(out))]
            out.append(change_chars(t, [r.randrange(len(t))]) if len(t) > 40 else t + "吗")
        elif x < 0.15:
            out.append(r.choice(["", "好", "谢谢", "头痛怎么办"]))
        else:
            out.append("".join(r.choices(sents, k=r.randint(2, 8))))
    return out


# --------------------------------------------------------------------------- clustering


def test_identical_and_lightly_edited_texts_cluster_with_the_earliest_kept():
    base = QA[0]
    edited = change_chars(base, [20, 21, 22], "嗯")  # a few characters changed
    punct = base.replace("，", ",", 1)[:-1]  # punctuation differences: one half-width comma, no final 。
    appended = base + "如果症状持续加重，应及时复诊。"  # a sentence appended
    texts = [base, QA[1], edited, punct, QA[2], appended, base, QA[3]]
    for t in (edited, punct, appended):
        assert jaccard(base, t) >= 0.85
    res = run(texts)
    assert res.duplicate_of.tolist() == [-1, -1, 0, 0, -1, 0, 0, -1]
    assert res.cluster.tolist() == [0, -1, 0, 0, -1, 0, 0, -1]
    assert res.duplicate_of.dtype == np.int64 and res.cluster.dtype == np.int64
    assert res.clusters_summary() == {"clusters": 1, "duplicates": 4, "largest": [{"kept": 0, "size": 5}]}


def test_unrelated_texts_do_not_cluster():
    texts = QA + [
        "阿莫西林胶囊\n适应证:用于敏感菌所致的呼吸道感染、泌尿生殖道感染。\n用法用量:口服。成人一次0.5g，每6～8小时1次。",
        "布洛芬缓释片\n适应证:用于缓解轻至中度疼痛如头痛、关节痛、偏头痛、牙痛、肌肉痛。\n不良反应:1.胃肠道反应。2.头痛、头晕。",
        "孕妇可以吃感冒药吗？\n孕期用药需要非常谨慎，很多感冒药含有对胎儿不利的成分，建议多休息多喝水，症状严重时到产科就诊。",
        "宝宝湿疹反复发作怎么护理？\n保持皮肤清洁湿润，洗澡水温不要太高，洗后涂抹保湿霜，衣物选择纯棉宽松的，避免接触过敏原。",
    ]
    for i in range(len(texts)):
        for j in range(i):
            assert jaccard(texts[i], texts[j]) < 0.6
    res = run(texts)
    assert (res.duplicate_of == -1).all() and (res.cluster == -1).all()
    assert res.clusters_summary() == {"clusters": 0, "duplicates": 0, "largest": []}


def test_threshold_is_respected():
    r = random.Random(7)
    pool = "的了是我有不在人这中大为上个和也子时道出要于就下得可你年生自会那后能对着事里去行过家用发天"
    high, low = [], []
    for _ in range(12):
        base = "".join(r.choices(pool, k=300))
        near = change_chars(base, [40 + 120 * j for j in range(2)], "嗯")  # J ~ 0.94
        far = change_chars(base, list(range(5, 300, 12)), "嗯")  # every 12th char: J < 0.5
        high.append((base, near))
        low.append((base, far))
    texts = [t for pair in high + low for t in pair]
    for a, b in high:
        assert jaccard(a, b) >= 0.93
    for a, b in low:
        assert jaccard(a, b) <= 0.5
    res = run(texts)
    for k in range(len(high)):
        assert res.duplicate_of[2 * k + 1] == 2 * k, k
    for k in range(len(high), len(high) + len(low)):
        assert res.duplicate_of[2 * k + 1] == -1, k
    # a stricter threshold splits pairs that a looser one joins
    a = "".join(r.choices(pool, k=300))
    b = change_chars(a, list(range(10, 300, 60)), "嗯")
    assert 0.75 < jaccard(a, b) < 0.9
    assert run([a, b], NearDupConfig(threshold=0.5)).duplicate_of.tolist() == [-1, 0]
    assert run([a, b], NearDupConfig(threshold=0.98)).duplicate_of.tolist() == [-1, -1]


def test_kept_doc_is_the_earliest_in_its_cluster():
    base = QA[1]
    v1 = change_chars(base, [30], "嗯")
    v2 = change_chars(base, [90], "嗯")
    texts = [QA[0], v1, QA[2], base, v2, base]
    res = run(texts)
    assert res.duplicate_of.tolist() == [-1, -1, -1, 1, 1, 1]
    assert res.cluster.tolist() == [-1, 1, -1, 1, 1, 1]


def test_identical_docs_are_always_duplicates():
    texts = synth_corpus(3000, seed=3)
    res = run(texts, NearDupConfig(threshold=1.0))
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        if t in first:
            assert res.duplicate_of[i] == min(first[t], res.cluster[first[t]]), i
        else:
            first[t] = i


# --------------------------------------------------------------------------- inputs


def test_empty_and_very_short_texts():
    texts = ["", "好", "", "好", "ab", "AB", "abcd", "abcde", "ABCDE", None, "头痛", "头疼"]
    res = run(texts)
    assert res.duplicate_of.tolist() == [-1, -1, 0, 1, -1, 4, -1, -1, 7, 0, -1, -1]
    assert run([]).duplicate_of.tolist() == []
    nd = NearDuplicates(NearDupConfig())
    nd.add([])
    nd.add(pa.array([], pa.string()))
    res = nd.resolve()
    assert res.duplicate_of.size == 0 and res.clusters_summary()["clusters"] == 0


def test_arrow_inputs_match_lists():
    texts = synth_corpus(500, seed=5)
    ref = run(texts)
    arr = pa.array(texts, pa.string())
    for data in (arr, arr.cast(pa.large_string()), pa.chunked_array([arr[:123], arr[123:]]), arr[7:].cast(pa.string())):
        got = run(data)
        want = ref if len(data) == len(texts) else run(texts[7:])
        assert np.array_equal(got.duplicate_of, want.duplicate_of)
    with_nulls = pa.array(["头痛怎么办", None, "", "头痛怎么办"], pa.string())
    assert run(with_nulls).duplicate_of.tolist() == [-1, -1, 1, 0]


def test_batching_invariance_and_determinism(monkeypatch):
    texts = synth_corpus(2500, seed=11)
    ref = run(texts)
    assert (ref.duplicate_of >= 0).sum() > 100
    # small chunks so the split paths are exercised
    monkeypatch.setattr(neardup, "_CHUNK_DOCS", 97)
    monkeypatch.setattr(neardup, "_MAX_IN_FLIGHT", 2)
    r = random.Random(1)
    sizes = []
    left = len(texts)
    while left:
        sizes.append(min(left, r.choice([0, 1, 2, 50, 333, 1000])))
        left -= sizes[-1]
    for threads in (1, 2):
        for batches in (None, sizes, [1] * 300 + [len(texts) - 300]):
            got = run(texts, batches=batches, threads=threads)
            assert got.duplicate_of.tobytes() == ref.duplicate_of.tobytes()
            assert got.cluster.tobytes() == ref.cluster.tobytes()
    # mixed list / arrow batches
    nd = NearDuplicates(NearDupConfig())
    nd.add(texts[:1000])
    nd.add(pa.array(texts[1000:]))
    assert nd.resolve().duplicate_of.tobytes() == ref.duplicate_of.tobytes()


def test_resolve_again_after_more_adds():
    texts = synth_corpus(800, seed=2)
    nd = NearDuplicates(NearDupConfig())
    nd.add(texts[:400])
    first = nd.resolve()
    nd.add(texts[400:])
    second = nd.resolve()
    assert np.array_equal(second.duplicate_of, run(texts).duplicate_of)
    assert np.array_equal(first.duplicate_of, run(texts[:400]).duplicate_of)


def test_signatures_saved_elsewhere_resolve_as_if_added_here(tmp_path, monkeypatch):
    """Units sign their shards in other processes and save the signatures slot by slot; the resolving
    process reads them back a band at a time. Stored parts, between and around parts added in place
    (duplicates across all of them), must give the clusters of one index fed every text."""
    texts = synth_corpus(2500, seed=11)
    ref = run(texts)
    assert (ref.duplicate_of >= 0).sum() > 100
    monkeypatch.setattr(neardup, "_CHUNK_DOCS", 97)  # parts of several chunks, stored and in memory
    cuts = [0, 300, 301, 301, 1200, 2000, 2500]
    mixed = NearDuplicates(NearDupConfig())
    for index, (start, stop) in enumerate(zip(cuts, cuts[1:], strict=False)):
        if index % 2:
            mixed.add(texts[start:stop])
            continue
        unit = NearDuplicates(NearDupConfig())
        unit.add(texts[start:stop])
        unit.save(tmp_path / f"{index}.npy")
        assert len(unit) == 0
        unit.close()
        mixed.load(tmp_path / f"{index}.npy")
        assert np.load(tmp_path / f"{index}.npy").shape == (NearDupConfig().bins, stop - start)
    assert len(mixed) == len(texts)
    got = mixed.resolve()
    mixed.close()
    assert got.duplicate_of.tobytes() == ref.duplicate_of.tobytes()
    assert got.cluster.tobytes() == ref.cluster.tobytes()
    assert got.candidate_pairs == ref.candidate_pairs and got.verified_pairs == ref.verified_pairs


def test_seed_changes_hashes_but_not_exact_duplicates():
    texts = synth_corpus(1500, seed=4)
    a, b = run(texts, NearDupConfig(seed=0)), run(texts, NearDupConfig(seed=1))
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        if t in first:
            assert a.duplicate_of[i] >= 0 and b.duplicate_of[i] >= 0
        first.setdefault(t, i)
    assert shingling.shingle_hashes(texts[:5], 5, 0)[0].tobytes() != shingling.shingle_hashes(texts[:5], 5, 1)[0].tobytes()


# --------------------------------------------------------------------------- parameters / summary


def test_optimal_bands():
    assert optimal_bands(0.8, 64) == (9, 7)
    for t in (0.5, 0.7, 0.8, 0.9):
        for k in (16, 64, 128):
            b, r = optimal_bands(t, k)
            assert 1 <= b * r <= k
    assert optimal_bands(0.9, 64)[1] > optimal_bands(0.5, 64)[1]
    # equal weights reproduce datasketch's choice for 0.8 / 64 permutations
    assert optimal_bands(0.8, 64, 0.5, 0.5) == (5, 11)


def _window_hash(window: list[int], seed: int) -> int:
    h = shingling.splitmix64(seed)
    for cp in window:
        h = (h * int(shingling.P) + cp) & shingling.M64
    h ^= h >> 30
    h = (h * int(shingling.C1)) & shingling.M64
    h ^= h >> 27
    h = (h * int(shingling.C2)) & shingling.M64
    return h ^ (h >> 31)


def test_rolled_shingle_hashes_match_their_definition():
    """The compiled loop rolls each window's hash on from the last; it must equal hashing every window anew."""
    texts = ["Ab", "ABCdefGHIjklMNOpq", "头痛怎么办？吃什么药", "𠀀𠀁x😀é", "", "a" * 40, "混合 Mixed 𝔘nicode text ok"]
    for ngram in (1, 5, 13):
        for seed in (0, 9):
            hashes, offsets = shingling.shingle_hashes(texts, ngram, seed)
            for t, text in enumerate(texts):
                cps = [ord(c) + 32 if "A" <= c <= "Z" else ord(c) for c in text]
                cps += [shingling.SENTINEL] * max(ngram - len(cps), 0)
                want = [_window_hash(cps[i:i + ngram], seed) for i in range(len(cps) - ngram + 1)]
                assert hashes[offsets[t]:offsets[t + 1]].tolist() == want, (text, ngram, seed)


def test_shingle_hashes_shape():
    hs, off = shingling.shingle_hashes(["abcdef", "", "ab", "abcde"], 5, 0)
    assert off.tolist() == [0, 2, 3, 4, 5]
    assert hs.dtype == np.uint64 and hs[4] == hs[0]  # "abcde" is the first shingle of "abcdef"


def test_clusters_summary_and_config_validation():
    base = QA[2]
    texts = [base, base, QA[0], QA[0], QA[0], base, QA[3]]
    res = run(texts)
    assert res.clusters_summary(top=1) == {"clusters": 2, "duplicates": 4, "largest": [{"kept": 0, "size": 3}]}
    assert res.clusters_summary()["largest"] == [{"kept": 0, "size": 3}, {"kept": 2, "size": 3}]
    assert res.index_bytes_per_doc == 128.0
    for bad in ({"threshold": 0.0}, {"threshold": 1.5}, {"ngram": 0}, {"bins": 1}):
        with pytest.raises(ValueError):
            NearDupConfig(**bad)


@pytest.mark.parametrize(("docs", "distinct"), [(0, 3), (1, 3), (7, 1), (500, 40), (20_000, 19_000), (20_000, 2**60)])
def test_star_pairs_link_each_group_to_its_smallest_member(docs: int, distinct: int) -> None:
    """Every doc that shares its band key is paired with the smallest doc of that key, and no other pair."""
    keys = np.random.default_rng(docs).integers(0, distinct, docs).astype(np.uint64)
    heads, members = neardup._star_pairs(keys)
    groups: dict[int, list[int]] = {}
    for doc, key in enumerate(keys.tolist()):
        groups.setdefault(key, []).append(doc)
    expected = sorted((group[0], doc) for group in groups.values() for doc in group[1:])
    assert sorted(zip(heads.tolist(), members.tolist(), strict=True)) == expected
    assert heads.dtype == members.dtype == np.int64
