"""An offline CLIP BPE vocabulary for the presets (real checkpoints ship their own tokenizer files).

It holds every byte (so any text tokenizes), CLIP's special tokens, and merges that spell out
whole words for the vocabulary of editing instructions and reward texts (including every word the
synthetic editing world of synth/ writes), so a 77-token prompt holds a useful sentence.
"""

from __future__ import annotations

import itertools
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
teal cream navy lime diamond solid plain checks dots invert warm grayscale pixelate outline posterize
paint enlarge increase size shrink reduce delete get rid erase draw cover pattern colours look like
negative darken dusk tone glow convert retro bit every outlines around pop poster use only bold flat
checkerboard was executed poorly outside area compression partly carried out over magenta different made
other moved positions cool
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
    """Token -> id map and merge list in which every word becomes its single `</w>` token.

    Each word is first split the way CLIP's BPE would split it with the merges so far, then merges
    joining those pieces left to right are appended. Appended merges rank last, so they never change
    how an earlier word is split: every word stays whole, however words share letters.
    """
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    ranks: dict[tuple[str, str], int] = {}
    for word in dict.fromkeys(words):
        pieces = _bpe([*word[:-1], word[-1] + "</w>"], ranks)
        left = pieces[0]
        for right in pieces[1:]:
            ranks[(left, right)] = len(ranks)
            left += right
            tokens.append(left)
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    # Two merge paths can spell the same token; ids must stay dense for the embedding table.
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}, list(ranks)


def _bpe(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """CLIP's BPE on one word: repeatedly merge every occurrence of the best-ranked adjacent pair."""
    while len(pieces) > 1:
        pair = min(itertools.pairwise(pieces), key=lambda p: ranks.get(p, len(ranks)))
        if pair not in ranks:
            break
        merged: list[str] = []
        for piece in pieces:
            if merged and (merged[-1], piece) == pair:
                merged[-1] += piece
            else:
                merged.append(piece)
        pieces = merged
    return pieces


def write_vocab_files(folder: Path) -> tuple[Path, Path]:
    """Write `vocab.json` and `merges.txt` (the files CLIPTokenizer reads) into folder."""
    vocab, merges = build_vocab()
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False))
    merges_file.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return vocab_file, merges_file
