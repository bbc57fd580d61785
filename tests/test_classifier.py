"""The intake classifier: DOMAIN.md's examples, explanations, and the rules file staff edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.intake.classifier import Classifier, normalise
from handlers.intake.rules import RulesError, load_rules

DOMAIN_EXAMPLES = [
    ("北门那段路灯全不亮了", "facility"),
    ("化粪池满了往外溢", "facility"),
    ("整栋楼停电两个小时了", "facility"),
    ("单元楼的对讲门坏了按不开", "repair"),
    ("楼梯间窗户玻璃碎了一块", "repair"),
    ("楼梯口停满了电瓶车", "safety"),
    ("有人从窗户往下扔花盆", "safety"),
    ("垃圾站旁边老鼠乱窜", "sanitation"),
    ("楼下有人天天往草坪倒剩菜", "sanitation"),
    ("楼下KTV天天唱到后半夜", "noise"),
    ("楼上空调外机滴水在我家窗台，沟通没用", "dispute"),
    ("快递柜里的快递被人拿走了", "security"),
    ("隔壁王奶奶一个人住，电话一直打不通", "assistance"),
    ("退休认证在哪儿办，要带身份证吗", "inquiry"),
    ("有人在绿化带里私自种菜圈地", "violation"),
]
NOT_REQUESTS = ["收到，谢谢", "周末有人一起打羽毛球吗", "路灯已经修好了，点赞", "好的👌",
                "早上好☀️", "谁家有多余的纸箱子，搬家用", "【团购】新鲜草莓接龙，今晚截单",
                "加微信领鸡蛋，扫码进群", "谢谢网格员小李，电梯修好了"]
URGENT = ["3号楼楼道冒烟了", "5栋2单元好大一股煤气味", "电梯困人了！3号楼的",
          "楼上水管爆了水往下灌",
          "小区门口井盖没了，晚上看不见会掉下去", "楼下两个人打起来了，拿着刀",
          "对门李大爷摔倒了起不来", "独居的赵奶奶好几天没见出门了，敲门也没人应"]
NOT_URGENT = ["明天上午9点小区消防演练，请大家配合", "昨天3号楼着火已经灭了，没人受伤",
              "电梯昨天困人今天修好了", "3号楼楼道堆满杂物，万一着火了跑都跑不出去"]


@pytest.mark.parametrize(("text", "category"), DOMAIN_EXAMPLES)
def test_domain_examples(classifier: Classifier, text: str, category: str) -> None:
    d = classifier.classify(text)
    assert d.is_request, d.hits
    assert d.category == category, (d.scores, d.hits)


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_not_requests_stay_silent(classifier: Classifier, text: str) -> None:
    d = classifier.classify(text)
    assert not d.is_request, (d.reason, d.hits)
    assert not d.urgent


@pytest.mark.parametrize("text", URGENT)
def test_urgent_is_never_missed(classifier: Classifier, text: str) -> None:
    d = classifier.classify(text)
    assert d.is_request and d.urgent, d.hits


@pytest.mark.parametrize("text", NOT_URGENT)
def test_drills_and_past_events_are_not_urgent(classifier: Classifier, text: str) -> None:
    assert not classifier.classify(text).urgent


def test_repaired_then_broken_again_is_a_request(classifier: Classifier) -> None:
    assert classifier.classify("路灯上周修好了，结果没两天又不亮了").is_request


def test_decision_explains_itself(classifier: Classifier) -> None:
    d = classifier.classify("3号楼楼道里有人给电瓶车充电，飞线拉得到处都是")
    assert d.category == "safety"
    rules = {h.rule for h in d.hits if h.category == "safety"}
    assert {"电瓶车", "飞线"} <= rules
    assert d.scores["safety"] == max(d.scores.values())
    assert "safety" in str(next(h for h in d.hits if h.rule == "飞线"))


def test_normalise_strips_mentions_stickers_and_full_width() -> None:
    assert normalise("@网格员小李 ３号楼[捂脸]  灯坏了") == "3号楼 灯坏了"


def test_long_forwarded_text_is_not_a_request(classifier: Classifier) -> None:
    article = "关于做好冬季供暖工作的通知。" + "各小区物业要加强巡查，发现暖气漏水及时维修。" * 20
    d = classifier.classify(article)
    assert not d.is_request and d.reason == "too-long"


def test_staff_can_add_a_keyword(tmp_path: Path) -> None:
    default = (Path(__file__).resolve().parent.parent / "handlers" / "data" /
               "intake_rules.toml").read_text(encoding="utf-8")
    text = "小区的充电桩又罢工了"
    assert Classifier(load_rules()).classify(text).category != "facility"
    edited = default.replace("[categories.facility.keywords]\n",
                             '[categories.facility.keywords]\n"充电桩" = 4\n')
    path = tmp_path / "rules.toml"
    path.write_text(edited, encoding="utf-8")
    d = Classifier(load_rules(path)).classify(text)
    assert d.is_request and d.category == "facility"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('[categories.weather.keywords]\n"雨" = 1\n', "[categories.weather] is not a known"),
        ('[categories.noise.patterns]\n"(未闭合" = 1\n', "bad pattern"),
        ('[categories.noise.keywords]\n"吵" = "很多"\n', "needs a number"),
        ('[[urgent.triggers]]\npattern = "x"\ncategory = "nope"\n', "needs a known category"),
        ('[families]\nhot = "烫"\n[[tiebreaks]]\nname = "t"\nwhen = "hot"\ncategory = "x"\n',
         "tiebreak 't' needs a known category"),
        ('[[tiebreaks]]\nname = "t"\nwhen = "cold"\ncategory = "safety"\n',
         "unknown family 'cold'"),
        ('[families]\nhot = "(烫"\n', "[families.hot] bad pattern"),
    ],
)
def test_rules_file_mistakes_name_the_entry(tmp_path: Path, snippet: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(snippet, encoding="utf-8")
    with pytest.raises(RulesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_rules(path)


def test_screen_never_skips_a_pattern_that_matches(classifier: Classifier) -> None:
    """The first-character screen must only skip searches that would fail: every rule pattern
    that matches a corpus message is among the message's candidates."""
    import json

    from handlers.intake.screen import Screen, prefixes

    rules = classifier.rules
    patterns = ([wp.pattern for cat in rules.by_category.values() for wp in cat.patterns]
                + [wp.pattern for wp in rules.signal_patterns]
                + [t.pattern for t in rules.urgent_triggers]
                + [p for pats in rules.vetoes.values() for p in pats]
                + list(rules.families.values()))
    screen = Screen(patterns)
    assert sum(prefixes(p) is not None for p in patterns) > len(patterns) // 2
    data = Path(__file__).resolve().parent / "data"
    training = [data / "intake_corpus.jsonl", *sorted(data.glob("intake_train*.jsonl"))]
    texts = [json.loads(line)["text"] for path in training
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += ["KTV吵死了", "ktv吵死了", "^$", "3#楼", "井盖没了", "又停水了 咋回事",
              "好的", "收到谢谢", "人没气了", "晚上11点还在装修"]
    for text in texts:
        text = normalise(text)
        candidates = set(screen.candidates(text))
        for i, p in enumerate(patterns):
            if p.search(text):
                assert i in candidates, (p.pattern, text)


# The category principles at the top of the rules file's categories part (tiebreaks): the same
# object goes to different categories by the kind of problem.
PRINCIPLES = [
    ("变电箱三天两头跳闸 一跳整片停电", "facility", None),  # a public facility outside
    ("变电箱的门一直开着 里面的线都露在外面", "safety", "a hazard to life"),
    ("楼顶防水层坏了 顶楼几家都漏雨", "repair", None),  # the building
    ("楼上漏水漏到我家 找他好几次都不开门", "dispute", "a quarrel between people"),
    ("隔壁的狗半夜一直叫 吵得人睡不着", "noise", None),
    ("隔壁狗天天叫 说了他两句他还跟我吵", "dispute", "a quarrel between people"),
    ("物业费在哪交 能不能网上交", "inquiry", "a question about a policy or service"),
    ("电梯停了 8楼的李奶奶腿不好下不来 想请人帮她买点菜", "assistance",
     "help for a vulnerable person"),
    ("消防通道被一辆白色轿车堵住了", "violation", "parking or stalls in a fire lane"),
    ("消防通道里堆了一堆旧家具 人都过不去", "safety", "a hazard to life"),
]


@pytest.mark.parametrize(("text", "category", "principle"), PRINCIPLES)
def test_category_principles(classifier: Classifier, text: str, category: str,
                             principle: str | None) -> None:
    d = classifier.classify(text)
    assert d.is_request and d.category == category, (d.scores, d.hits)
    used = {h.rule for h in d.hits if h.kind == "tiebreak"}
    if principle and max(d.scores, key=lambda k: d.scores[k]) != category:
        assert principle in used, d.hits


def test_a_tiebreak_overrides_only_the_categories_it_lists(tmp_path: Path) -> None:
    """A principle steps in only over the categories in its `over` list: with noise dropped
    from the quarrel principle, a quarrel about barking stays a noise case."""
    default = (Path(__file__).resolve().parent.parent / "handlers" / "data" /
               "intake_rules.toml").read_text(encoding="utf-8")
    text = "隔壁狗天天叫 说了他两句他还跟我吵"
    old = 'over = ["repair", "noise", "sanitation", "facility", "violation", "safety", "inquiry",'
    assert old in default
    path = tmp_path / "rules.toml"
    path.write_text(default.replace(old, old.replace('"noise", ', "")), encoding="utf-8")
    assert Classifier(load_rules()).classify(text).category == "dispute"
    assert Classifier(load_rules(path)).classify(text).category == "noise"
