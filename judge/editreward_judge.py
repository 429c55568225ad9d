"""`--judge editreward`: the EditReward reward model as a judge, running in this process.

Following reads head 0's mu, quality head 1's, preserving head 0's (EditReward has no preserving
head; compose with another judge for one: `--judge editreward,preserving=openai`), each mapped
to a 0-5 score and verdict by the calibration stored with the model (editreward/calibration.py).
Every judgement keeps its mu as `raw`. EditReward writes no text: a failing verdict gets a fixed
sentence naming the rubric it failed, a passing one "None".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from model.rewards import NO_PROBLEM

from .cache import JudgeCache, cache_key
from .editreward.batching import MicroBatcher
from .editreward.calibration import CALIBRATION_FILE, PERSPECTIVE_HEADS, Calibration, default_calibration
from .editreward.edits import EditToScore, UnscorableEditError
from .errors import JudgeInputError, JudgeRequestError
from .judgement import PERSPECTIVES, Judge, Judgement, Judgements
from .openai_judge import png_bytes
from .registry import JudgeOptions, register_judge

if TYPE_CHECKING:  # the scorer's module imports transformers' Qwen2.5-VL: only when a judge is made
    from .editreward.scorer import EditRewardScorer

logger = logging.getLogger(__name__)

FAILED_TEXTS = {
    "following": "the edit does not follow the instruction accurately, completely and exclusively",
    "preserving": "the edit changes parts of the image the instruction does not ask to change",
    "quality": "the edited image looks unrealistic or shows visible artifacts",
}
Mus = dict[int, float]  # head -> mu


class EditRewardJudge(Judge):
    def __init__(
        self,
        scorer: EditRewardScorer,
        calibration: Calibration,
        perspectives: tuple[str, ...] = PERSPECTIVES,
        cache: JudgeCache | None = None,
    ) -> None:
        self.scorer = scorer
        self.calibration = calibration
        self.perspectives = perspectives
        self.heads = tuple(sorted({PERSPECTIVE_HEADS[p] for p in perspectives}))
        self.cache = cache
        self.batcher: MicroBatcher[EditToScore, Mus] = MicroBatcher(self.score_batch, scorer.batch_size)

    async def judge(self, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
        mus = await self.mus(source, edited, instruction)
        return {p: self.judgement(p, mus[PERSPECTIVE_HEADS[p]]) for p in self.perspectives}

    def judgement(self, perspective: str, mu: float) -> Judgement:
        score_map = self.calibration.maps[perspective]
        verdict = score_map.verdict(mu)
        text = NO_PROBLEM if verdict else FAILED_TEXTS[perspective]
        return Judgement(verdict, score_map.score(mu), text, raw=mu)

    async def mus(self, source: Image.Image, edited: Image.Image, instruction: str) -> Mus:
        """Each needed head's mu, from the cache (keyed by model, head, pixels, instruction) or the model."""
        if self.cache is None:
            return await self.batcher.submit(EditToScore(source, edited, instruction))
        images = (png_bytes(source), png_bytes(edited))
        model = self.scorer.fingerprint
        keys = {head: cache_key("editreward", model, str(head), *images, instruction) for head in self.heads}
        cached = {head: self.cache.read(key, "mu") for head, key in keys.items()}
        if all(isinstance(mu, float) for mu in cached.values()):
            return cached
        mus = await self.batcher.submit(EditToScore(source, edited, instruction))
        for head, key in keys.items():
            self.cache.write(key, {"mu": mus[head]})
        return mus

    def score_batch(self, edits: list[EditToScore]) -> list[Mus | Exception]:
        """Runs in a worker thread. An edit the model cannot take fails alone; a model failure fails all."""
        try:
            scores = self.scorer.score(edits, self.heads)
        except UnscorableEditError as exc:
            if len(edits) > 1:
                return [result for edit in edits for result in self.score_batch([edit])]
            return [JudgeInputError(self.perspectives[0], f"EditReward cannot score this edit: {exc}")]
        except RuntimeError as exc:  # out of memory and the like: later batches would fail too
            raise JudgeRequestError(f"the EditReward model failed: {exc}") from exc
        return [score.by_head() for score in scores]


def load_calibration(path: Path | None, reward_model: Path) -> Calibration:
    """--calibration, else the reward model folder's own, else the default (with a warning)."""
    if path is None and (reward_model / CALIBRATION_FILE).is_file():
        path = reward_model / CALIBRATION_FILE
    if path is not None:
        return Calibration.load(path)
    logger.warning(
        "no calibration for %s (%s, or --calibration): EditReward's mu is mapped to 0-5 by the uncalibrated "
        "default; fit one with `rewardedit reward-calibrate`",
        reward_model,
        CALIBRATION_FILE,
    )
    return default_calibration()


@register_judge("editreward", loads_model=True)
def editreward_judge(options: JudgeOptions) -> EditRewardJudge:
    from .editreward.scorer import EditRewardScorer

    if options.reward_model is None:
        raise ValueError("the editreward judge needs --reward-model (an EditReward checkpoint folder)")
    calibration = load_calibration(options.calibration, options.reward_model)
    scorer = EditRewardScorer.from_pretrained(
        options.reward_model, options.base_model, options.device, batch_size=options.batch_size
    )
    cache = JudgeCache(options.cache_dir) if options.cache_dir is not None else None
    return EditRewardJudge(scorer, calibration, options.perspectives, cache)
