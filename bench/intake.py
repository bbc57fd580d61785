"""Classification speed on one core, next to raw jieba segmentation of the same messages.

jieba.lcut is the ceiling: the classifier segments every message with jieba and then applies its
rules, so it can only be slower. Prints messages per second for both and their ratio (target:
the classifier at >= 50 % of the jieba-only rate), measured in alternating rounds. The held-out
files are left out. Figures only; nothing is asserted.

    .venv/bin/python bench/intake.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jieba

from handlers.intake.classifier import Classifier
from handlers.intake.rules import default_userdict

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def messages() -> list[str]:
    texts = []
    for path in sorted(DATA.glob("intake_*.jsonl")):
        if path.name.startswith("intake_test"):
            continue  # held out: never opened while tuning
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8")
                  .splitlines() if line.strip()]
    return texts


def one_pass(fn: Callable[[str], object], texts: list[str]) -> float:
    """Messages per second of this process's own CPU time: on a shared machine, wall time
    would also count the moments other processes had the core."""
    start = time.process_time()
    for text in texts:
        fn(text)
    return len(texts) / (time.process_time() - start)


def paired(ceiling: Callable[[str], object], fn: Callable[[str], object], texts: list[str],
           rounds: int) -> tuple[float, float, float]:
    """Best rate of each, and the median of the per-round ratios. The two run in alternating
    rounds, so a neighbour's load on the shared machine slows both alike instead of whichever
    happened to run during it."""
    ceiling(texts[0])  # warm up
    fn(texts[0])
    best_ceiling = best_fn = 0.0
    ratios = []
    for _ in range(rounds):
        c = one_pass(ceiling, texts)
        f = one_pass(fn, texts)
        best_ceiling, best_fn = max(best_ceiling, c), max(best_fn, f)
        ratios.append(f / c)
    return best_ceiling, best_fn, statistics.median(ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    texts = messages()
    jieba.setLogLevel(60)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    tokenizer.load_userdict(str(default_userdict()))
    classifier = Classifier.default()
    # the same tokenizer setup for both: a fair ceiling
    for word in classifier.rules.all_keywords:
        if len(word) > 1:
            tokenizer.add_word(word, freq=2000)
    jieba_rate, classify_rate, ratio = paired(tokenizer.lcut, classifier.classify, texts,
                                              args.rounds)
    print(f"{len(texts)} messages, best of {args.rounds} alternating rounds, CPU time of one core")
    print(f"jieba.lcut only:  {jieba_rate:10.0f} msg/s")
    print(f"classifier:       {classify_rate:10.0f} msg/s")
    print(f"ratio:            {classify_rate / jieba_rate:10.1%} of the jieba-only rate (best)")
    print(f"round ratio:      {ratio:10.1%} median of the per-round ratios")


if __name__ == "__main__":
    main()
