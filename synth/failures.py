"""InstructPix2Pix-like failures with a severity in [0, 1]: what makes a training triplet noisy.

Following: the edit ignored (blended back towards the source) or done wrong (blended towards
another edit of the same category). Preserving: untouched shapes moved ("spill"). Quality:
blur, noise, JPEG blocking or a colour cast over the whole image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter

from .edits import EditCase, NoRoomError, propose
from .render import render_array
from .scene import Scene

FOLLOWING_FAILURES = ("ignored", "wrong")
PRESERVING_FAILURES = ("spill",)
QUALITY_FAILURES = ("blur", "noise", "blocking", "cast")
CASTS = {"warm": (1.0, 0.35, -0.6), "cool": (-0.5, 0.1, 1.0), "green": (-0.3, 1.0, -0.3)}


@dataclass(frozen=True)
class Failure:
    kind: str
    severity: float


@dataclass(frozen=True)
class FailurePlan:
    """At most one failure per perspective; None leaves that perspective clean."""

    following: Failure | None = None
    preserving: Failure | None = None
    quality: Failure | None = None


def untouched(case: EditCase) -> list[int]:
    """Indices (in the edited scene) of shapes the edit left exactly as they were."""
    before = set(case.before.shapes)
    return [i for i, shape in enumerate(case.after.shapes) if shape in before]


def spill(rng: np.random.Generator, scene: Scene, indices: list[int], severity: float) -> Scene:
    """Move some untouched shapes: more of them, further, as the severity grows."""
    if not indices:
        return scene
    count = max(1, round(severity * len(indices)))
    distance = 2 + round(8 * severity)
    for index in rng.permutation(indices)[:count]:
        shape = scene.shapes[int(index)]
        angle = rng.uniform(0, 2 * np.pi)
        x = int(np.clip(shape.x + round(distance * np.cos(angle)), 0, scene.width - 1))
        y = int(np.clip(shape.y + round(distance * np.sin(angle)), 0, scene.height - 1))
        scene = scene.with_shape(int(index), x=x, y=y)
    return scene


def wrong_scene(rng: np.random.Generator, case: EditCase) -> Scene:
    """Another edit of the same category, different from the one asked for."""
    for _ in range(20):
        try:
            other = propose(rng, case.before, case.category).after
        except NoRoomError:
            continue
        if render_array(other).tobytes() != render_array(case.after).tobytes():
            return other
    return case.before


def degrade(rng: np.random.Generator, image: np.ndarray, failure: Failure) -> np.ndarray:
    """A whole-image quality artifact of the given severity (uint8 in, uint8 out)."""
    s = failure.severity
    if failure.kind == "blur":
        blurred = Image.fromarray(image).filter(ImageFilter.GaussianBlur(0.3 + 1.7 * s))
        return np.asarray(blurred)
    if failure.kind == "blocking":
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=max(1, round(45 - 44 * s)))
        return np.asarray(Image.open(buffer).convert("RGB"))
    out = image.astype(np.float64)
    if failure.kind == "noise":
        out += rng.normal(0.0, 4.0 + 36.0 * s, out.shape)
    elif failure.kind == "cast":
        out += np.array(CASTS[str(rng.choice(list(CASTS)))]) * (8.0 + 52.0 * s)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def noisy_edit(rng: np.random.Generator, case: EditCase, plan: FailurePlan) -> np.ndarray:
    """The edited image a noisy data pipeline might have produced for this case.

    Spill moves the same shapes in every scene involved, then a following failure blends the right
    result towards the source (ignored) or towards another edit (wrong) by its severity.
    """
    right = case.after
    if plan.preserving is not None:
        right = spill(rng, right, untouched(case), plan.preserving.severity)
    image = render_array(right).astype(np.float64)
    if plan.following is not None:
        other = case.before if plan.following.kind == "ignored" else wrong_scene(rng, case)
        other_image = render_array(same_moves(other, case.after, right))
        image += plan.following.severity * (other_image - image)
    out = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return degrade(rng, out, plan.quality) if plan.quality is not None else out


def same_moves(scene: Scene, unmoved: Scene, moved: Scene) -> Scene:
    """Apply to `scene` the changes that turned `unmoved` into `moved`, for the shapes it also holds."""
    moves = {a: b for a, b in zip(unmoved.shapes, moved.shapes, strict=True) if a != b}
    return replace(scene, shapes=tuple(moves.get(shape, shape) for shape in scene.shapes))
