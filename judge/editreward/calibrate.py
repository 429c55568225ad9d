"""`rewardedit reward-calibrate`: score a manifest with EditReward, fit its calibration, show the fit."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from model.rewards import PERSPECTIVES
from training.manifest import ManifestRow, read_manifest

from ..batch import EditToJudge, judge_with_progress, open_upright
from ..cache import JudgeCache
from ..errors import InputFileError
from ..judgement import Judgements
from .calibration import (
    PERSPECTIVE_HEADS,
    Calibration,
    CalibrationError,
    default_calibration,
    fit_labelled,
    fit_quantile,
)

logger = logging.getLogger(__name__)


def scored_rows(
    args: argparse.Namespace, rows: list[ManifestRow], cache_dir: Path | None
) -> dict[str, Judgements]:
    """Every row's judgements (their `raw` is mu) under the default map; failed rows are logged, left out."""
    from ..editreward_judge import EditRewardJudge
    from .scorer import EditRewardScorer

    scorer = EditRewardScorer.from_pretrained(
        args.reward_model, args.base_model, args.device, batch_size=args.batch_size
    )
    judge = EditRewardJudge(
        scorer, default_calibration(), PERSPECTIVES, JudgeCache(cache_dir) if cache_dir else None
    )
    edits = [
        EditToJudge(
            row.id, row.instruction, lambda row=row: (open_upright(row.source), open_upright(row.edited))
        )
        for row in rows
    ]
    judged: dict[str, Judgements] = {}

    def keep(edit: EditToJudge, outcome: object) -> None:
        if isinstance(outcome, Exception):
            logger.error("row %r left out of the fit: %s", edit.key, outcome)
        else:
            judged[edit.key] = outcome

    judge_with_progress(judge, edits, args.concurrency, keep, "scoring")
    return judged


def calibrate(args: argparse.Namespace, cache_dir: Path | None, out: Path) -> str:
    """Fit (labelled, or quantile-matched to --reference), save to `out`, and return the fit as text."""
    rows = read_manifest(args.manifest)
    reference = read_manifest(args.reference) if args.reference is not None else None
    if reference is None and any(row.rewards is None for row in rows):
        raise InputFileError(f"{args.manifest} has unlabelled rows: label them, or give --reference to match")
    judged = scored_rows(args, rows, cache_dir)
    used = [row for row in rows if row.id in judged]
    raw = {p: [judged[row.id][p].raw for row in used] for p in PERSPECTIVES}
    about = {"manifest": str(args.manifest), "edits": len(used), "reward_model": str(args.reward_model)}
    if reference is None:
        labels = {p: [getattr(row.rewards, p) for row in used] for p in PERSPECTIVES}
        calibration = fit_labelled(raw, labels, args.pass_score, about)
    else:
        labels = {
            p: [getattr(row.rewards, p) for row in reference if row.rewards is not None] for p in PERSPECTIVES
        }
        if not labels["following"]:
            raise CalibrationError(f"{args.reference} has no labelled rows")
        calibration = fit_quantile(raw, labels, args.pass_score, {**about, "reference": str(args.reference)})
    calibration.save(out)
    return fit_report(calibration, raw, labels, args.pass_score, matched=reference is not None)


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their mean rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def fit_report(
    calibration: Calibration,
    raw: dict[str, list[float]],
    labels: dict[str, list[float]],
    pass_score: float,
    matched: bool,
) -> str:
    """Per perspective: the data, how well the calibrated scores and verdicts fit, and the knots."""
    method = "quantile-matched to the reference" if matched else "isotonic on the labels"
    lines = [f"calibration ({method}; labels >= {pass_score:g} pass), {len(raw['following'])} edits"]
    if matched:
        lines.append(f"{'':<11}{'head':>5}{'mu range':>18}{'ref pass':>10}{'pass':>8}{'threshold':>11}")
    else:
        lines.append(
            f"{'':<11}{'head':>5}{'mu range':>18}{'MAE':>7}{'rank r':>8}{'verdict acc':>13}{'threshold':>11}"
        )
    for name in PERSPECTIVES:
        score_map = calibration.maps[name]
        mus = np.asarray(raw[name], float)
        verdicts = np.asarray([score_map.verdict(mu) for mu in mus])
        span = f"{mus.min():.2f} .. {mus.max():.2f}"
        truth = np.asarray(labels[name], float) >= pass_score
        if matched:
            figures = f"{truth.mean():>10.0%}{verdicts.mean():>8.0%}"
        else:
            mapped = np.asarray([score_map.score(mu) for mu in mus])
            mae = np.abs(mapped - np.asarray(labels[name], float)).mean()
            figures = (
                f"{mae:>7.2f}{spearman(raw[name], labels[name]):>8.2f}{(verdicts == truth).mean():>13.0%}"
            )
        lines.append(
            f"{name:<11}{PERSPECTIVE_HEADS[name]:>5}{span:>18}{figures}{score_map.verdict_threshold:>11.3f}"
        )
    lines.append("knots (mu -> score):")
    for name in PERSPECTIVES:
        knots = ", ".join(f"{mu:.2f}->{score:.2f}" for mu, score in calibration.maps[name].knots)
        lines.append(f"  {name}: {knots}")
    return "\n".join(lines)
