"""The metrics of the field's reward benchmarks for image editing, implemented from their definitions.

Pairwise benchmarks (GenAI-Bench's editing split, AURORA-Bench, EditReward-Bench's pairs) give, for
two edits of one source, the human relation: the first is better (1), the second is (-1), or a tie
(0). A judge gives each edit a scalar; its prediction for the pair is the *margin*, score(first) -
score(second). Humans tie often (a fifth to a third of the pairs), and a judge that never predicts a
tie is wrong on all of those, so Deutsch, Foster & Freitag (2023, "Ties Matter: Meta-Evaluating
Modern Metrics with Pairwise Accuracy and Tie Calibration") count a tie as a prediction too:

    |margin| <= epsilon  ->  predicted tie;  otherwise the sign of the margin is the predicted order,

and a pair is right when the predicted relation (>, <, =) equals the human one. Judges differ in
scale (a reward model's logit, a 0-5 score, an exact oracle), so epsilon is not fixed: *tie
calibration* picks, for each judge, the epsilon that maximises that accuracy, and reports both.
Only the partition of the pairs into "predicted tie" and "not" matters, and it changes only at the
values |margin| takes, so the candidates are 0 (ties only where the scores are equal) and every
distinct |margin|. A sweep over them sorted is O(n log n).

Accuracy *without ties* is the older figure: over the pairs humans did not tie, the share whose
margin has the human sign (a zero margin is wrong: it prefers neither).

Ranking benchmarks: ImagenHub rates each editing model's outputs; a judge is measured by
Spearman's rho between its scores and the human ratings, per editing model, averaged through
Fisher's z (`fisher_z_mean`). EditReward-Bench's groups of 3 and 4 candidates count a group right
only when the judge's whole ranking equals the human one (`group_ranking_correct`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HUMAN_RELATIONS = (-1, 0, 1)


@dataclass(frozen=True)
class PairCounts:
    """The five cells of a pairwise confusion table at one epsilon (Deutsch et al., table 1).

    concordant: both order the pair the same way; discordant: opposite orders; human_tie_only:
    humans tie, the judge orders; judge_tie_only: the judge ties, humans order; both_tie.
    """

    concordant: int = 0
    discordant: int = 0
    human_tie_only: int = 0
    judge_tie_only: int = 0
    both_tie: int = 0

    @property
    def total(self) -> int:
        return self.concordant + self.discordant + self.human_tie_only + self.judge_tie_only + self.both_tie

    @property
    def accuracy(self) -> float:
        """Pairwise accuracy with ties: (C + T_hm) / all pairs."""
        return (self.concordant + self.both_tie) / self.total if self.total else math.nan


@dataclass(frozen=True)
class TieCalibration:
    """The tie-calibrated pairwise accuracy of one judge on one set of pairs.

    accuracy: the best accuracy with ties over all epsilons; epsilon: the smallest epsilon reaching
    it (|margin| <= epsilon is a predicted tie; apply it to held-out pairs with
    `pairwise_accuracy_at`); counts: the confusion table at that epsilon; accuracy_without_ties:
    over the pairs humans did not tie, by the margin's sign.
    """

    accuracy: float
    epsilon: float
    counts: PairCounts
    accuracy_without_ties: float

    @property
    def pairs(self) -> int:
        return self.counts.total

    def as_dict(self) -> dict[str, float | int]:
        return {
            "accuracy": self.accuracy,
            "epsilon": self.epsilon,
            "accuracy_without_ties": self.accuracy_without_ties,
            "pairs": self.pairs,
            "human_ties": self.counts.human_tie_only + self.counts.both_tie,
            "predicted_ties": self.counts.judge_tie_only + self.counts.both_tie,
        }


def _checked(margins: Sequence[float], truth: Sequence[int]) -> list[tuple[float, int]]:
    if len(margins) != len(truth):
        raise ValueError(f"{len(margins)} margins but {len(truth)} human relations")
    pairs = []
    for margin, relation in zip(margins, truth, strict=True):
        if relation not in HUMAN_RELATIONS:
            raise ValueError(f"a human relation is -1, 0 or 1, got {relation!r}")
        margin = float(margin)
        if math.isnan(margin):
            raise ValueError("a margin is NaN")
        pairs.append((margin, int(relation)))
    return pairs


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def pair_counts(margins: Sequence[float], truth: Sequence[int], epsilon: float) -> PairCounts:
    """The confusion table when |margin| <= epsilon is a predicted tie (a negative epsilon: no ties)."""
    cells = [0, 0, 0, 0, 0]
    for margin, relation in _checked(margins, truth):
        judge_tie = abs(margin) <= epsilon
        if relation == 0:
            cells[4 if judge_tie else 2] += 1
        elif judge_tie:
            cells[3] += 1
        else:
            cells[0 if _sign(margin) == relation else 1] += 1
    return PairCounts(*cells)


def pairwise_accuracy_at(margins: Sequence[float], truth: Sequence[int], epsilon: float) -> float:
    """Accuracy with ties at a given epsilon, e.g. one calibrated on other pairs."""
    return pair_counts(margins, truth, epsilon).accuracy


def pairwise_accuracy_without_ties(margins: Sequence[float], truth: Sequence[int]) -> float:
    """Over the pairs humans did not tie: the share whose margin has the human sign.

    A zero margin prefers neither edit and counts as wrong (as EditReward's released evaluation
    counts it). NaN when every pair is a human tie.
    """
    pairs = [(m, r) for m, r in _checked(margins, truth) if r != 0]
    if not pairs:
        return math.nan
    return sum(_sign(m) == r for m, r in pairs) / len(pairs)


def tie_calibrated_accuracy(margins: Sequence[float], truth: Sequence[int]) -> TieCalibration:
    """Pairwise accuracy with tie calibration (Deutsch, Foster & Freitag 2023).

    margins: score(first) - score(second) per pair; truth: the human relation per pair, 1 (first
    better), -1 (second better) or 0 (tie). Sweeps epsilon over 0 and every distinct |margin| in
    increasing order, moving the pairs whose |margin| equals the new epsilon from "ordered" to
    "tied" all at once (pairs with equal |margin| are never split, which a pair-by-pair sweep
    would do), and keeps the best accuracy; on equal accuracy, the smaller epsilon.
    """
    pairs = _checked(margins, truth)
    if not pairs:
        raise ValueError("no pairs to measure")
    # At epsilon = 0 the judge ties exactly the pairs whose scores are equal.
    start = pair_counts([m for m, _ in pairs], [r for _, r in pairs], 0.0)
    correct = start.concordant + start.both_tie
    best_correct, best_epsilon = correct, 0.0
    ordered = sorted((abs(m), m, r) for m, r in pairs if m != 0.0)
    i = 0
    while i < len(ordered):
        epsilon = ordered[i][0]
        while i < len(ordered) and ordered[i][0] == epsilon:
            _, margin, relation = ordered[i]
            # This pair goes from "ordered by the judge" to "tied by the judge".
            if relation == 0:
                correct += 1  # human_tie_only -> both_tie
            elif _sign(margin) == relation:
                correct -= 1  # concordant -> judge_tie_only
            i += 1
        if correct > best_correct:
            best_correct, best_epsilon = correct, epsilon
    counts = pair_counts([m for m, _ in pairs], [r for _, r in pairs], best_epsilon)
    return TieCalibration(
        accuracy=best_correct / len(pairs),
        epsilon=best_epsilon,
        counts=counts,
        accuracy_without_ties=pairwise_accuracy_without_ties(margins, truth),
    )


# ---- ImagenHub: rank correlation with human ratings, per editing model --------------------------


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of the ranks they span (as Spearman's rho needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson's r of the average ranks. NaN when either side is constant."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} scores but {len(y)} ratings")
    if len(x) < 2:
        return math.nan
    rx, ry = average_ranks(x), average_ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return math.nan
    return sxy / math.sqrt(sxx * syy)


FISHER_CLIP = 1 - 1e-9  # |r| = 1 has an infinite z; clip it so one perfect group does not swamp the mean


def fisher_z_mean(correlations: Sequence[float]) -> float:
    """Average correlations through Fisher's z: tanh(mean(atanh(r))). NaN entries are left out.

    Correlations are not additive; their z transforms are (roughly normal, equal variance), so
    this is the usual way to pool them. (EditReward's released ImagenHub evaluation averages the
    raw r and applies tanh to that mean; this follows the definition instead.)
    """
    zs = [math.atanh(max(-FISHER_CLIP, min(FISHER_CLIP, r))) for r in correlations if not math.isnan(r)]
    return math.tanh(sum(zs) / len(zs)) if zs else math.nan


@dataclass(frozen=True)
class GroupedCorrelation:
    """Spearman's rho per group (ImagenHub: per editing model) and their Fisher-z mean."""

    mean: float
    per_group: dict[str, float]
    items: int

    def as_dict(self) -> dict[str, object]:
        return {"spearman": self.mean, "per_group": self.per_group, "items": self.items}


def grouped_spearman(
    groups: Sequence[str], scores: Sequence[float], ratings: Sequence[float]
) -> GroupedCorrelation:
    members: dict[str, tuple[list[float], list[float]]] = {}
    for group, score, rating in zip(groups, scores, ratings, strict=True):
        s, r = members.setdefault(group, ([], []))
        s.append(float(score))
        r.append(float(rating))
    per_group = {group: spearman(s, r) for group, (s, r) in sorted(members.items())}
    return GroupedCorrelation(fisher_z_mean(list(per_group.values())), per_group, len(scores))


# ---- EditReward-Bench: groups of K candidates with a human ranking -------------------------------


def parse_ranking(text: str) -> list[list[str]]:
    """A ranking string as tiers of candidate letters, best first.

    "C>A>B" -> [[C], [A], [B]]; "A=B=Good" and "A=B=Bad" -> [[A, B]] (the word says whether the tied
    edits are both good or both bad, which a scalar cannot tell apart); "B<A" -> [[A], [B]].
    """
    text = text.replace(" ", "")
    if "<" in text and ">" in text:
        raise ValueError(f"a ranking mixes '<' and '>': {text!r}")
    chain = text.split("<")[::-1] if "<" in text else text.split(">")
    tiers = []
    for part in chain:
        letters = [token for token in part.split("=") if len(token) == 1 and token.isupper()]
        if not letters:
            raise ValueError(f"cannot read the ranking {text!r}")
        tiers.append(letters)
    seen = [letter for tier in tiers for letter in tier]
    if len(seen) != len(set(seen)):
        raise ValueError(f"a candidate appears twice in the ranking {text!r}")
    return tiers


def ranking_relations(text: str) -> dict[tuple[str, str], int]:
    """{(X, Y): 1 if X ranks above Y, -1 below, 0 tied} for every pair of letters the ranking names, X < Y."""
    level = {letter: depth for depth, tier in enumerate(parse_ranking(text)) for letter in tier}
    letters = sorted(level)
    return {
        (x, y): (level[x] < level[y]) - (level[x] > level[y])
        for i, x in enumerate(letters)
        for y in letters[i + 1 :]
    }


def group_correct(
    scores: Sequence[float], relations: dict[tuple[int, int], int], epsilon: float | None = None
) -> bool:
    """Whether the judge's scores reproduce every human relation of a group.

    relations: {(i, j): 1 | 0 | -1} over candidate indices. With epsilon (K=2), |s_i - s_j| <=
    epsilon is a predicted tie; without (K>=3, a whole ranking), only equal scores tie, as the
    judge's order is what is compared.
    """
    threshold = 0.0 if epsilon is None else epsilon
    for (i, j), relation in relations.items():
        margin = scores[i] - scores[j]
        predicted = 0 if abs(margin) <= threshold else _sign(margin)
        if predicted != relation:
            return False
    return True


@dataclass(frozen=True)
class RankingAccuracy:
    """EditReward-Bench's figures.

    by_k: {K: share of groups of K candidates judged right} (K=2: the three-way relation at the
    tie-calibrated epsilon, i.e. the tie-calibrated accuracy; K=3, 4: the whole ranking);
    overall: correct groups over all groups, every K pooled (as the release's evaluation computes
    its overall); epsilon: the K=2 threshold, calibrated on the K=2 groups.
    """

    by_k: dict[int, float]
    groups_by_k: dict[int, int]
    overall: float
    epsilon: float

    def as_dict(self) -> dict[str, object]:
        return {
            **{f"k{k}": acc for k, acc in sorted(self.by_k.items())},
            "overall": self.overall,
            "epsilon": self.epsilon,
            "groups": {f"k{k}": n for k, n in sorted(self.groups_by_k.items())},
        }


def ranking_accuracy(groups: Sequence[tuple[Sequence[float], dict[tuple[int, int], int]]]) -> RankingAccuracy:
    """groups: (scores of the K candidates, human relations over candidate indices) per group."""
    if not groups:
        raise ValueError("no groups to measure")
    pairs = [(scores, rel) for scores, rel in groups if len(scores) == 2]
    epsilon = 0.0
    if pairs:
        margins = [scores[0] - scores[1] for scores, _ in pairs]
        truth = [rel.get((0, 1), 0) for _, rel in pairs]
        epsilon = tie_calibrated_accuracy(margins, truth).epsilon
    correct: dict[int, int] = {}
    total: dict[int, int] = {}
    for scores, relations in groups:
        k = len(scores)
        total[k] = total.get(k, 0) + 1
        right = group_correct(scores, relations, epsilon if k == 2 else None)
        correct[k] = correct.get(k, 0) + right
    return RankingAccuracy(
        by_k={k: correct[k] / total[k] for k in sorted(total)},
        groups_by_k=dict(sorted(total.items())),
        overall=sum(correct.values()) / sum(total.values()),
        epsilon=epsilon,
    )
