"""An offline CLIP BPE vocabulary for the presets (real checkpoints ship their own tokenizer files).

It holds every byte (so any text tokenizes), CLIP's special tokens, and merges that spell out
whole words for the vocabulary of editing instructions and reward texts, so a 77-token prompt
holds a useful sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = """
a an the it its this that these those of on in at to into from with without by for and or but not no
none make turn change add remove replace put give let is are be as all more less very much some red
orange yellow green blue purple pink brown black white gray grey gold silver colour color colors sky
sea water grass tree trees sun moon cloud clouds snow rain fire night day sunset light dark
background foreground object objects shape shapes circle square triangle star ring cross stripe
stripes big small large larger smaller bigger tiny huge left right top bottom middle center corner
side texture wood wooden stone metal glass paper brick marble fabric striped dotted checkered noisy
smooth style painting sketch cartoon photo watercolor oil pixel art drawing vintage global whole
image picture scene everything brighter darker warmer colder contrast saturation local style
instruction following preserving quality edit edited editing ignored ignores wrong changed change
changes unintended unchanged missing extra artifact artifacts blur blurry blurred noise noisy
blocking blocky cast distorted distortion low high details detail person man woman dog cat car house
hat glasses face hair eyes building road mountain river flower flowers
""".split()


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte -> printable character map (bytes that print stay themselves)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def build_vocab(words: list[str] = WORDS) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Token -> id map and merge list; each word gets left-to-right merges ending in its `</w>` form."""
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    merges: list[tuple[str, str]] = []
    known = set(tokens)
    for word in dict.fromkeys(words):
        pieces = [*word[:-1], word[-1] + "</w>"]
        left = pieces[0]
        for right in pieces[1:]:
            merged = left + right
            if merged not in known:
                merges.append((left, right))
                tokens.append(merged)
                known.add(merged)
            left = merged
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(tokens)}, merges


def write_vocab_files(folder: Path) -> tuple[Path, Path]:
    """Write `vocab.json` and `merges.txt` (the files CLIPTokenizer reads) into folder."""
    vocab, merges = build_vocab()
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False))
    merges_file.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return vocab_file, merges_file
