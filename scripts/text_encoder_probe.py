"""How far a preset's frozen text encoder keeps instructions that differ in one word apart.

    python scripts/text_encoder_probe.py small small32 pixel

Prints, per preset, the cosine similarity of the encoder's states for "change the background to
brown / blue / red": mean-pooled, and at the colour word (output state and input embedding).
Near 1 means the U-Net cannot tell the instructions apart (docs/synthetic-experiment.md, run 5).
"""

from __future__ import annotations

import sys

import torch
from torch.nn.functional import cosine_similarity

from model.presets import build_preset
from model.text import tokenize

TEXTS = ["change the background to brown", "change the background to blue", "change the background to red"]


def probe(name: str) -> list[float]:
    components = build_preset(name)
    ids = tokenize(components.tokenizer, TEXTS)
    encoder = components.text_encoder.eval()
    with torch.no_grad():
        states = encoder(ids).last_hidden_state
        embeddings = encoder.get_input_embeddings()(ids)
    colour = len(components.tokenizer(TEXTS[0]).input_ids) - 2  # the last word, before the end token
    pooled = states.mean(1)
    return [
        cosine_similarity(pooled[0], pooled[1], 0).item(),
        cosine_similarity(pooled[0], pooled[2], 0).item(),
        cosine_similarity(states[0, colour], states[1, colour], 0).item(),
        cosine_similarity(embeddings[0, colour], embeddings[1, colour], 0).item(),
    ]


def main() -> None:
    print("| preset | pooled brown / blue | pooled brown / red | colour-word state | colour-word embedding |")
    print("|---|---|---|---|---|")
    for name in sys.argv[1:] or ["small", "small32", "pixel"]:
        print(f"| {name} | " + " | ".join(f"{value:.2f}" for value in probe(name)) + " |")


if __name__ == "__main__":
    main()
