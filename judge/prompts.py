"""Our three review prompts, one per perspective, each asking for one strict JSON object.

Bump PROMPT_VERSION whenever any text here changes: it is part of the judge cache key, so replies
obtained with an older wording are never reused for the new one.
"""

from __future__ import annotations

import json

PROMPT_VERSION = "1"

SYSTEM_PROMPT = (
    "You review the results of instruction-based image editing. Each request gives an editing "
    "instruction, then shows the original image and the edited image. You assess exactly one aspect "
    "of the edit, the one named in the request, and ignore every other aspect: those are reviewed "
    "separately. Be strict and consistent, so that the same edit always gets the same answer. "
    "Reply with a single JSON object and nothing else."
)

# The first line of each prompt names the aspect; test servers use it to tell the perspectives apart.
TITLES = {
    "following": "Review: instruction following.",
    "preserving": "Review: preservation of what should not change.",
    "quality": "Review: image quality.",
}

QUESTIONS = {
    "following": (
        "Does the edited image do what the instruction asks? Check that the requested change is "
        "present, applied to the right object or region, complete, and of the requested kind and "
        "extent (colour, number, position, material, style). An edited image that looks unchanged "
        "fails. Do not consider image quality or changes the instruction does not mention."
    ),
    "preserving": (
        "Apart from what the instruction asks to change, is the edited image faithful to the "
        "original? Compare the identity of people and objects, the layout, the background, the "
        "colours, the lighting and the fine detail in every region the instruction leaves alone. "
        "Changes the instruction requires are not faults. Do not consider whether the instruction "
        "was carried out, nor image quality."
    ),
    "quality": (
        "Is the edited image a clean, natural, well-made picture, at least as good as the original? "
        "Look for blur, noise, compression artefacts, distorted shapes, hands or faces, lighting or "
        "shadows that disagree with the scene, visible seams around the edited region and "
        "implausible textures. Do not consider whether the instruction was carried out, nor how "
        "much of the original changed."
    ),
}

ANSWER_FORMAT = (
    'Reply with exactly one JSON object with the keys "verdict", "score" and "problem":\n'
    '- "verdict": "yes" if this aspect is fully satisfied, otherwise "no";\n'
    '- "score": a number from 0 to 5 for this aspect: 5 flawless, 4 a small flaw a careful viewer '
    "would notice, 3 a clear flaw although the aspect mostly holds, 2 serious flaws, 1 the aspect "
    "almost entirely fails, 0 it entirely fails;\n"
    '- "problem": one short sentence naming what is wrong in this aspect, or "None" if nothing is.'
)


def user_prompt(perspective: str, instruction: str) -> str:
    """The text part of the user message; the two images follow it."""
    quoted = json.dumps(instruction.strip(), ensure_ascii=False)
    return "\n\n".join((TITLES[perspective], f"Instruction: {quoted}", QUESTIONS[perspective], ANSWER_FORMAT))
