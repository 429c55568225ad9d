"""Shapes of the random EditReward models (random_model.py): `tiny` for tests and CPU figures, `small`
to train on CPU (reward_training's proof on the synthetic world), `7b` for GPUs.

Kept apart from the builders so that the command line can list them without importing torch.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SHAPES = ("tiny", "small", "7b")
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "max_window_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},  # head_dim 16 = 2 x (2 + 3 + 3)
    "initializer_range": 0.3,  # wider than Qwen's 0.02, so that scores differ clearly between edits
}
TINY_VISION = {
    "depth": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_heads": 2,
    "out_hidden_size": 64,
    "fullatt_block_indexes": [1],  # block 0 attends within windows, block 1 over the whole image
}

# Trainable on one CPU core: Qwen's own initialiser scale, and 64 px images seen at 112 x 112 (an
# 8 x 8 grid of 14 px patches, 16 tokens per image) instead of the release's 448 x 448.
SMALL = {
    **TINY,
    "intermediate_size": 256,
    "initializer_range": 0.02,
}
SMALL_VISION = {**TINY_VISION, "hidden_size": 64, "intermediate_size": 128}
SMALL_PIXELS = 112 * 112


def qwen_7b_config() -> dict[str, Any]:
    """Qwen2.5-VL-7B-Instruct's config.json (shapes and token ids; the EditReward-Qwen2.5-VL-7B base)."""
    path = resources.files(__package__).joinpath("data", "qwen2_5_vl_7b_config.json")
    return json.loads(path.read_text(encoding="utf-8"))
