"""Knowledge's built-in retrieval (knowledge.index): searching 20, 200 and 2,000 entries, the
memory of an index and of the library, and the evaluation set's hit and wrong-answer rates."""

import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from devtools.bench.load import Latencies
from devtools.bench.plan import Plan

ENTRY_COUNTS = (20, 200, 2_000)
EVALUATION = Path(__file__).resolve().parents[2] / "knowledge" / "evaluation"
# What importing the library adds to a process (a fresh interpreter, so nothing is shared). Its
# current RSS from /proc: ru_maxrss carries the parent's peak over fork and exec.
IMPORT_RSS = (
    "def rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS:'):\n"
    "            return int(line.split()[1]) / 1024\n"
    "before = rss()\n"
    "import numpy, bm25s\n"
    "print(rss() - before)\n"
)


def measure_knowledge(plan: Plan) -> dict:
    from knowledge.index import EntrySpec, KnowledgeIndex

    randomness = random.Random(11)
    vocabulary = [f"word{n}" for n in range(20_000)]
    result = {}
    for count in ENTRY_COUNTS:
        entries = [
            EntrySpec(
                id=n,
                title=" ".join(randomness.sample(vocabulary, 2)),
                questions=tuple(
                    " ".join(randomness.sample(vocabulary, randomness.randint(3, 9)))
                    for _ in range(5)
                ),
                answer=" ".join(randomness.sample(vocabulary, 25)),
                reply_text="",
            )
            for n in range(count)
        ]
        built = time.perf_counter()
        index = KnowledgeIndex(entries)
        build_ms = (time.perf_counter() - built) * 1000
        # Its memory: built again under tracemalloc (which slows building down).
        tracemalloc.start()
        kept = KnowledgeIndex(entries)
        index_mb = tracemalloc.get_traced_memory()[0] / 1e6
        tracemalloc.stop()
        del kept
        timings = []
        for _ in range(plan.rule_messages):
            question = " ".join(randomness.choices(vocabulary, k=randomness.randint(3, 15)))
            started = time.perf_counter()
            index.search(question)
            timings.append((time.perf_counter() - started) * 1000)
        result[f"median_ms_{count}"] = round(statistics.median(timings), 3)
        result[f"p99_ms_{count}"] = Latencies(timings).percentile(99)
        result[f"build_ms_{count}"] = round(build_ms, 1)
        result[f"index_mb_{count}"] = round(index_mb, 2)
    imported = subprocess.run(  # noqa: S603  (our own interpreter and code)
        [sys.executable, "-c", IMPORT_RSS], capture_output=True, text=True, check=True
    )
    result["library_rss_mb"] = round(float(imported.stdout), 1)
    result.update(_evaluation())
    return result


def _evaluation() -> dict:
    from knowledge.evaluating import evaluate, read_questions, totals
    from knowledge.index import KnowledgeIndex, spec_of
    from knowledge.models import KnowledgeSettings
    from knowledge.transfer import entries_from_csv

    knowledge = (EVALUATION / "shop_knowledge.csv").read_text(encoding="utf-8")
    index = KnowledgeIndex(spec_of(entry) for entry in entries_from_csv(knowledge))
    with open(EVALUATION / "questions.csv", encoding="utf-8") as file:
        questions = read_questions(file)
    threshold = KnowledgeSettings._meta.get_field("min_confidence").default
    measured = totals(evaluate(questions, index.search, threshold))
    return {
        "eval_questions": measured.questions,
        "eval_threshold": threshold,
        "eval_hit_rate": round(measured.hit_rate, 3),
        "eval_wrong_rate": round(measured.wrong_rate, 3),
        "eval_ms_per_question": round(measured.ms_per_question, 3),
    }
