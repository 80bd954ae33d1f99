"""Rule matching: the compiled matcher with 10, 1,000 and 10,000 rules, in this process."""

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from devtools.bench.load import Latencies
from devtools.bench.plan import Plan


def measure_rules(plan: Plan) -> dict:
    from rules.matching import Matcher, RuleSpec

    randomness = random.Random(7)
    vocabulary = [f"word{n}" for n in range(50_000)]
    created = datetime(2026, 1, 1, tzinfo=UTC)
    result = {}
    for count in plan.rule_counts:
        kinds = ("contains", "word", "starts_with", "exact")
        rules = [
            RuleSpec(
                id=n,
                keywords=tuple(randomness.sample(vocabulary, 3)),
                match_type=kinds[n % 4],
                priority=n % 5,
                created_at=created + timedelta(seconds=n),
                response_text=f"reply {n}",
            )
            for n in range(count)
        ]
        built = time.perf_counter()
        matcher = Matcher(rules)
        build_ms = (time.perf_counter() - built) * 1000
        messages = [
            " ".join(randomness.choices(vocabulary, k=randomness.randint(3, 30)))
            for _ in range(plan.rule_messages)
        ]
        timings = []
        for text in messages:
            started = time.perf_counter()
            matcher.match(text)
            timings.append((time.perf_counter() - started) * 1000)
        samples = Latencies(timings)
        result[f"median_ms_{count}"] = round(statistics.median(timings), 4)
        result[f"p99_ms_{count}"] = samples.percentile(99)
        result[f"build_ms_{count}"] = round(build_ms, 1)
    return result
