"""The classifier measured on the labelled corpus in tests/data/.

`intake_corpus.jsonl` (and any `intake_train*.jsonl`) is the training split: the rules are tuned
on it. `intake_test*.jsonl` are held out: written apart from the rules (the second by someone who
never saw the rules or the code), never read while tuning; only their aggregate figures are
looked at. `gridbot eval FILE` prints the same figures with the
misclassified lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.intake.classifier import Classifier
from handlers.intake.evaluation import Report, evaluate, load_corpus

DATA = Path(__file__).resolve().parent / "data"
TRAIN = sorted(DATA.glob("intake_corpus.jsonl")) + sorted(DATA.glob("intake_train*.jsonl"))
TESTS = sorted(DATA.glob("intake_test*.jsonl"))


def measure(classifier: Classifier, paths: list[Path], split: str) -> Report:
    examples = [ex for p in paths for ex in load_corpus(p, split)]
    assert len(examples) >= 150, "the corpus is smaller than the issue asks"
    return evaluate(classifier, examples)


def test_corpus_files_are_well_formed() -> None:
    texts: list[str] = []
    for path in [*TRAIN, *TESTS]:
        examples = load_corpus(path)
        texts += [ex.text for ex in examples]
        for ex in examples:
            assert ex.split == ("test" if path in TESTS else "train"), ex.text
            if not ex.is_request:
                assert ex.category is None and not ex.urgent
    assert len(texts) == len(set(texts)), "a message appears twice in the corpus"


def test_training_split(classifier: Classifier) -> None:
    """Floors a little under what the split reaches (1710 messages after round 3: P 0.993,
    R 0.993, category 0.985, urgent R 1.0 P 0.995, location 0.990). The fifth to tenth files
    were written to be hard (urgency, near misses, category boundaries, unseen phrasing) and
    measured before tuning; their before-figures are in the commits that added them."""
    r = measure(classifier, TRAIN, "train")
    print(r.summary())
    assert r.precision >= 0.98 and r.recall >= 0.98, r.summary()
    assert r.category_accuracy >= 0.97, r.summary()
    assert r.urgent_recall == 1.0 and r.urgent_precision >= 0.95, r.summary()
    assert r.location_rate >= 0.98, r.summary()


def test_held_out_split_does_not_regress(classifier: Classifier) -> None:
    """A floor at the level measured after the third tuning round (516 held-out messages:
    P 0.933, R 0.942, F1 0.938, category 0.881, urgent recall 0.864, urgent precision 0.877,
    location 0.958). Round one stood at F1 0.899, category 0.917 (fewer, easier requests
    detected), urgent recall 0.742; round two at F1 0.936, urgent recall 0.848. The
    understanding-residents issue's targets are higher (F1 >= 0.95, category >= 0.90, urgent
    recall 1.0): raise these floors as the rules improve."""
    r = measure(classifier, TESTS, "test")
    print(r.summary())
    assert r.precision >= 0.93 and r.recall >= 0.93, r.summary()
    assert r.f1 >= 0.93, r.summary()
    assert r.category_accuracy >= 0.87, r.summary()
    assert r.urgent_recall >= 0.86 and r.urgent_precision >= 0.85, r.summary()
    assert r.location_rate >= 0.95, r.summary()


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: p.name)
def test_every_category_is_represented(path: Path) -> None:
    cats = {ex.category for ex in load_corpus(path) if ex.is_request}
    assert len(cats) == 10
