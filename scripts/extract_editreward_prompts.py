"""Write judge/editreward/data/editreward_prompts.json from EditReward's own source files.

The released EditReward models were trained on these rubric texts, so they are part of the
models' input format: they are copied verbatim by parsing the upstream files (never retyped).

    git -C EDITREWARD_CHECKOUT show HEAD:EditReward/dataset/prompts.py > /tmp/prompts.py
    git -C EDITREWARD_CHECKOUT show HEAD:EditReward/dataset/data_collator_qwen_edit.py > /tmp/collator.py
    python scripts/extract_editreward_prompts.py /tmp/prompts.py /tmp/collator.py \
        --commit "$(git -C EDITREWARD_CHECKOUT rev-parse HEAD)"
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "judge" / "editreward" / "data" / "editreward_prompts.json"
UPSTREAM = "https://github.com/TIGER-AI-Lab/EditReward"
PROMPTS_FILE = "EditReward/dataset/prompts.py"
COLLATOR_FILE = "EditReward/dataset/data_collator_qwen_edit.py"
# Our key: (upstream file, upstream variable). Head 0 reads the first rubric, head 1 the second.
TEXTS = {
    "instruction_following": (PROMPTS_FILE, "INSTRUCTION_EDIT_FOLLOWING"),
    "visual_quality": (PROMPTS_FILE, "INSTRUCTION_EDIT_QUALITY"),
    "reward_prompt": (COLLATOR_FILE, "prompt_with_special_token"),
}


def module_strings(path: Path) -> dict[str, str]:
    """Every `NAME = "string literal"` at the top level of a Python file."""
    strings = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        constant = isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        if constant and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    strings[target.id] = node.value.value
    return strings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("prompts", type=Path, help=f"a copy of upstream {PROMPTS_FILE}")
    parser.add_argument("collator", type=Path, help=f"a copy of upstream {COLLATOR_FILE}")
    parser.add_argument("--commit", required=True, help="the upstream commit the copies come from")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    found = {PROMPTS_FILE: module_strings(args.prompts), COLLATOR_FILE: module_strings(args.collator)}
    data = {
        "source": {
            "repository": UPSTREAM,
            "commit": args.commit,
            "license": "MIT, Copyright (c) 2025 TIGER Lab (see NOTICE beside this file)",
            "variables": {key: f"{file}:{name}" for key, (file, name) in TEXTS.items()},
        },
        **{key: found[file][name] for key, (file, name) in TEXTS.items()},
    }
    args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
