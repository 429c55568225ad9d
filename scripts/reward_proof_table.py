"""Tables of the reward-training proof (scripts/reward_proof.sh): accuracy per variant and the main curve.

    python scripts/reward_proof_table.py RUNS_DIR [SHORT_STEPS]

Reads RUNS_DIR/<variant>/logs/{eval,train}.jsonl and prints markdown: every variant at the shared
budget (SHORT_STEPS, the last evaluation at or before it) and at its last evaluation, then the
main variant's curve over steps. Accuracies are tie-calibrated (judge.reward_bench.metrics).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MAIN = "per-dimension-bt-ties"
COLUMNS = ("following_acc", "quality_acc", "overall_acc", "following_acc_no_ties", "quality_acc_no_ties")


def lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def row(name: str, evaluation: dict, seconds: float | None) -> str:
    cells = [f"{100 * evaluation[c]:.1f}" if c in evaluation else "-" for c in COLUMNS]
    time = f"{seconds / 60:.1f}" if seconds is not None else "-"
    return f"| {name} | {evaluation['step']} | " + " | ".join(cells) + f" | {time} |"


def seconds_at(train: list[dict], step: int) -> float | None:
    times = [line["elapsed_s"] for line in train if line["step"] <= step]
    return times[-1] if times else None


def main() -> None:
    runs = Path(sys.argv[1])
    short = int(sys.argv[2]) if len(sys.argv) > 2 else None
    header = (
        "| variant | step | following | quality | overall | following, no ties | quality, no ties | "
        "train min |\n|---|---|---|---|---|---|---|---|"
    )
    variants = sorted(p.name for p in runs.iterdir() if (p / "logs/eval.jsonl").is_file())
    for title, pick in (
        (f"at the shared budget ({short} steps)", lambda evs: [e for e in evs if e["step"] <= short]),
        ("at each run's last evaluation", lambda evs: evs),
    ):
        if title.startswith("at the shared") and short is None:
            continue
        print(f"\n### {title}\n\n{header}")
        for name in variants:
            chosen = pick(lines(runs / name / "logs/eval.jsonl"))
            if chosen:
                train = lines(runs / name / "logs/train.jsonl")
                print(row(name, chosen[-1], seconds_at(train, chosen[-1]["step"])))
    curve = lines(runs / MAIN / "logs/eval.jsonl")
    if curve:
        print(f"\n### {MAIN} over training\n\n{header}")
        train = lines(runs / MAIN / "logs/train.jsonl")
        for evaluation in curve:
            print(row(MAIN, evaluation, seconds_at(train, evaluation["step"])))


if __name__ == "__main__":
    main()
