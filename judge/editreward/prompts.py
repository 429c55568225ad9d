"""The released models' text input: a rubric per head, filled with the instruction, and the reward prompt.

The texts are EditReward's own (data/editreward_prompts.json, MIT, see data/NOTICE): the released
models were trained on them, so a single changed character changes the scores.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

REWARD_TOKEN = "<|Reward|>"
# What each reward head scores, in head order (rm_heads.head_0, rm_heads.head_1).
HEADS = ("instruction_following", "visual_quality")
PROMPTS_FILE = "editreward_prompts.json"


@cache
def released_texts() -> dict[str, str]:
    """The rubric of each head and the reward prompt that ends every user message."""
    data = json.loads(resources.files(__package__).joinpath("data", PROMPTS_FILE).read_text(encoding="utf-8"))
    texts = {name: data[name] for name in (*HEADS, "reward_prompt")}
    if REWARD_TOKEN not in texts["reward_prompt"]:
        raise ValueError(f"{PROMPTS_FILE}: the reward prompt lacks {REWARD_TOKEN}")
    return texts


def head_prompt(head: int, instruction: str) -> str:
    """The text after the two images in the user message that head `head` scores."""
    texts = released_texts()
    return texts[HEADS[head]].format(text_prompt=instruction) + texts["reward_prompt"]
