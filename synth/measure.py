"""The oracle's measurements: following, preserving and quality of an edit, from pixels and the truth.

All three compare the edited image E with the source S and the exact ground truth G (float RGB in
[0, 1]). Each gives a badness b in [0, 1]; the score is round(5 (1 - b)) and the verdict is yes
when the score is at least PASS_SCORE, so 5/5/5 means "indistinguishable from the truth".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.rewards import MAX_SCORE, NO_PROBLEM

from .vocabulary import COLOURS

PASS_SCORE = 4
CHANGE_TOLERANCE = 0.12  # a low-passed pixel differs when a channel moves by more than this (~30/255)
MARGIN = 2  # pixels around the intended change a correct edit may still touch (edges, resampling)
PIXEL_SPILL_LIMIT = 0.15  # share of the untouched area changed that scores 0 for preserving
EDGE_SPILL_LIMIT = 0.5  # share of edges moved that scores 0 (whole-image edits, judged by structure)
STRUCTURE_MODE_BELOW = 0.1  # untouched area share under which preserving is judged on edges
OFF_PALETTE_LIMIT = 0.08  # mean distance (max channel) of pixels from the nearest allowed colour: 0 points
CAST_SHIFT = 0.03  # median shift from the nearest allowed colour that names a colour cast
PALETTE = np.array(list(COLOURS.values()), dtype=np.float64) / 255.0


@dataclass(frozen=True)
class Measurement:
    """Badness in [0, 1] and a short text naming what is wrong ("None" when nothing)."""

    badness: float
    text: str

    @property
    def score(self) -> float:
        return float(np.floor(MAX_SCORE * (1.0 - self.badness) + 0.5))

    @property
    def verdict(self) -> bool:
        return self.score >= PASS_SCORE


def scored(badness: float, problem: str) -> Measurement:
    """Clip the badness; the text names the problem only when it costs a point."""
    measured = Measurement(float(np.clip(badness, 0.0, 1.0)), problem)
    return measured if measured.score < MAX_SCORE else Measurement(measured.badness, NO_PROBLEM)


def to_float(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, dtype=np.float64) / 255.0


def box_blur(image: np.ndarray, radius: int = 1) -> np.ndarray:
    """Mean over a (2r+1)^2 window, edges replicated: the low-pass every comparison goes through."""
    k = 2 * radius + 1
    padded = np.pad(image, [(radius, radius), (radius, radius)] + [(0, 0)] * (image.ndim - 2), mode="edge")
    summed = padded.cumsum(0).cumsum(1)
    summed = np.pad(summed, [(1, 0), (1, 0)] + [(0, 0)] * (image.ndim - 2))
    return (summed[k:, k:] - summed[:-k, k:] - summed[k:, :-k] + summed[:-k, :-k]) / (k * k)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    return box_blur(mask.astype(np.float64), radius) > 0


def edges(image: np.ndarray) -> np.ndarray:
    """Pixels on a colour boundary: a neighbour differs by more than CHANGE_TOLERANCE in a channel."""
    dx = np.abs(np.diff(image, axis=1, append=image[:, -1:])).max(-1)
    dy = np.abs(np.diff(image, axis=0, append=image[-1:])).max(-1)
    return np.maximum(dx, dy) > CHANGE_TOLERANCE


def following(source: np.ndarray, truth: np.ndarray, edited: np.ndarray) -> Measurement:
    """Share of the intended change (where G differs from S) that E carries out."""
    changed = np.abs(source - truth).max(-1) > 0
    if not changed.any():
        return Measurement(0.0, NO_PROBLEM)
    lp_s, lp_g, lp_e = (box_blur(x)[changed] for x in (source, truth, edited))
    needed = np.abs(lp_s - lp_g).sum()
    progress = float(np.clip(1.0 - np.abs(lp_e - lp_g).sum() / max(needed, 1e-9), 0.0, 1.0))
    left_as_was = np.abs(lp_e - lp_s).sum() < 0.2 * needed
    return scored(
        1.0 - progress,
        "the instruction was ignored" if left_as_was else "the instruction was executed poorly",
    )


def preserving(source: np.ndarray, truth: np.ndarray, edited: np.ndarray) -> Measurement:
    """Unintended change: pixels away from the intended change that moved, or edges that moved."""
    keep = ~dilate(np.abs(source - truth).max(-1) > 0, MARGIN)
    if keep.mean() >= STRUCTURE_MODE_BELOW:
        moved = np.abs(box_blur(edited) - box_blur(source)).max(-1) > CHANGE_TOLERANCE
        badness = moved[keep].mean() / PIXEL_SPILL_LIMIT
        text = "unintended changes outside the edited area"
    else:
        mine, wanted = edges(box_blur(edited)), edges(box_blur(truth))
        stray = (mine & ~dilate(wanted, MARGIN)) | (wanted & ~dilate(mine, MARGIN))
        badness = stray.sum() / max(1, (mine | wanted).sum()) / EDGE_SPILL_LIMIT
        text = "unintended changes to the objects' shapes or positions"
    return scored(badness, text)


def quality(source: np.ndarray, truth: np.ndarray, edited: np.ndarray) -> Measurement:
    """Artifacts: the world is flat colours, so every pixel should be a colour of S, G or the palette.

    Blur, noise, blocking and casts all leave pixels off that palette; moved or wrong content does not,
    which keeps quality apart from the other two perspectives.
    """
    off, nearest = off_palette(source, truth, edited)
    shift = np.median(edited.reshape(-1, 3) - nearest, axis=0)
    return scored(off.mean() / OFF_PALETTE_LIMIT, artifact_name(edited, truth, shift))


def off_palette(source: np.ndarray, truth: np.ndarray, edited: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's distance (max channel) from the nearest colour of S, G or the palette, and that colour."""
    allowed = np.unique(np.concatenate([source.reshape(-1, 3), truth.reshape(-1, 3), PALETTE]), axis=0)
    distance = np.abs(edited.reshape(-1, 3)[:, None, :] - allowed[None, :, :]).max(-1)
    return distance.min(1), allowed[distance.argmin(1)]


def cast_name(shift: np.ndarray) -> str:
    """The hue a uniform shift tints towards: the dominant channel, or its complement if negative."""
    channel = int(np.abs(shift).argmax())
    return (("red", "green", "blue") if shift[channel] > 0 else ("cyan", "magenta", "yellow"))[channel]


def artifact_name(edited: np.ndarray, truth: np.ndarray, shift: np.ndarray) -> str:
    """Blur loses gradient energy, blocking adds it on the 8-pixel grid, a cast shifts every pixel."""
    mine, wanted = (np.diff(x, axis=1) ** 2 for x in (edited, truth))
    if mine.sum() < 0.7 * wanted.sum():
        return "the image is blurry"
    excess = (mine - wanted).sum(-1).mean(0)
    if excess[7::8].mean() > 2.0 * max(excess.mean(), 1e-9):
        return "blocky compression artifacts"
    if np.abs(shift).max() > CAST_SHIFT:
        return f"a {cast_name(shift)} colour cast"
    return "the image is noisy"


def measure(source: np.ndarray, truth: np.ndarray, edited: np.ndarray) -> dict[str, Measurement]:
    """The three perspectives for uint8 (H, W, 3) arrays of equal size."""
    s, g, e = to_float(source), to_float(truth), to_float(edited)
    return {"following": following(s, g, e), "preserving": preserving(s, g, e), "quality": quality(s, g, e)}
