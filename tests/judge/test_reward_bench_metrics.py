"""The reward benchmarks' metrics on cases computed by hand."""

from __future__ import annotations

import math
import random

import pytest

from judge.reward_bench.metrics import (
    fisher_z_mean,
    group_correct,
    grouped_spearman,
    pair_counts,
    pairwise_accuracy_at,
    pairwise_accuracy_without_ties,
    parse_ranking,
    ranking_accuracy,
    ranking_relations,
    spearman,
    tie_calibrated_accuracy,
)


def test_tie_calibration_picks_the_epsilon_that_turns_human_ties_into_predicted_ties():
    margins = [2.0, -1.0, 0.5, 0.0, -3.0]
    truth = [1, -1, 0, 0, 1]
    # eps 0: C C Th Thm D -> 3/5; eps 0.5: C C Thm Thm D -> 4/5; eps 1: C Tm Thm Thm D -> 3/5;
    # eps 2: 2/5; eps 3: 2/5.
    assert [pairwise_accuracy_at(margins, truth, e) for e in (0, 0.5, 1, 2, 3)] == [0.6, 0.8, 0.6, 0.4, 0.4]
    result = tie_calibrated_accuracy(margins, truth)
    assert result.accuracy == 0.8
    assert result.epsilon == 0.5
    assert result.counts == pair_counts(margins, truth, 0.5)
    assert (result.counts.concordant, result.counts.discordant, result.counts.both_tie) == (2, 1, 2)
    assert result.accuracy_without_ties == pytest.approx(2 / 3)  # pairs 1, 2 right, 5 wrong
    assert result.as_dict()["human_ties"] == 2 and result.as_dict()["predicted_ties"] == 2


def test_no_predicted_ties_is_a_candidate_when_every_tie_would_cost():
    result = tie_calibrated_accuracy([1.0, 2.0], [1, 1])
    assert (result.accuracy, result.epsilon) == (1.0, 0.0)


def test_pairs_with_equal_margins_become_ties_together():
    # At eps 1 both pairs are predicted ties: one right (human tie), one wrong -> 1/2, as at eps 0.
    # Moving them one at a time would pass through a state no epsilon gives (both right, 2/2).
    result = tie_calibrated_accuracy([1.0, -1.0], [0, -1])
    assert (result.accuracy, result.epsilon) == (0.5, 0.0)


def test_equal_accuracy_keeps_the_smallest_epsilon():
    result = tie_calibrated_accuracy([1.0, 3.0, -5.0], [0, 1, 0])
    # eps 0: Th C Th -> 1/3; eps 1: Thm C Th -> 2/3; eps 3: Thm Tm Th -> 1/3; eps 5: Thm Tm Thm -> 2/3
    assert (result.accuracy, result.epsilon) == (pytest.approx(2 / 3), 1.0)


def test_accuracy_without_ties_skips_human_ties_and_counts_a_zero_margin_wrong():
    assert pairwise_accuracy_without_ties([0.3, -0.2, 0.0, 5.0], [1, 1, -1, 0]) == pytest.approx(1 / 3)
    assert math.isnan(pairwise_accuracy_without_ties([1.0], [0]))


def test_scaling_the_scores_scales_epsilon_and_keeps_the_accuracy():
    rng = random.Random(0)
    margins = [rng.gauss(0, 1) for _ in range(50)]
    truth = [rng.choice((-1, 0, 1)) for _ in range(50)]
    a, b = tie_calibrated_accuracy(margins, truth), tie_calibrated_accuracy([7 * m for m in margins], truth)
    assert a.accuracy == b.accuracy
    assert b.epsilon == pytest.approx(7 * a.epsilon)


@pytest.mark.parametrize("seed", range(5))
def test_the_sweep_equals_trying_every_candidate_epsilon(seed):
    rng = random.Random(seed)
    margins = [rng.choice((0, 0.5, 1, 1.5, 2)) * rng.choice((-1, 1)) for _ in range(40)]
    truth = [rng.choice((-1, 0, 0, 1)) for _ in range(40)]
    best = max(pairwise_accuracy_at(margins, truth, e) for e in {0.0, *map(abs, margins)})
    assert tie_calibrated_accuracy(margins, truth).accuracy == pytest.approx(best)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="human relation"):
        tie_calibrated_accuracy([1.0], [2])
    with pytest.raises(ValueError, match="margins"):
        tie_calibrated_accuracy([1.0, 2.0], [1])
    with pytest.raises(ValueError, match="no pairs"):
        tie_calibrated_accuracy([], [])


def test_spearman_uses_average_ranks_for_ties():
    # ranks of x: 1, 2.5, 2.5, 4; of y: 1, 2, 3, 4 -> r = 4.5 / sqrt(4.5 * 5) = 0.9487
    assert spearman([1, 2, 2, 3], [10, 20, 30, 40]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_fisher_z_mean_averages_in_z_and_skips_undefined_groups():
    expected = math.tanh((math.atanh(0.5) + math.atanh(0.9)) / 2)  # 0.7608, not the plain mean 0.7
    assert fisher_z_mean([0.5, 0.9, math.nan]) == pytest.approx(expected)
    result = grouped_spearman(["a", "a", "a", "b", "b", "b"], [1, 2, 3, 1, 2, 3], [1, 2, 3, 3, 1, 2])
    assert result.per_group["a"] == pytest.approx(1.0)
    assert result.per_group["b"] == pytest.approx(-0.5)
    assert result.mean == pytest.approx(math.tanh((math.atanh(1 - 1e-9) + math.atanh(-0.5)) / 2))


def test_rankings_are_read_as_tiers_and_pairwise_relations():
    assert parse_ranking("C>A>B") == [["C"], ["A"], ["B"]]
    assert parse_ranking("A=B=Good") == [["A", "B"]]
    assert parse_ranking("B<A") == [["A"], ["B"]]
    assert ranking_relations("C>A>B") == {("A", "B"): 1, ("A", "C"): -1, ("B", "C"): -1}
    assert ranking_relations("A=B=Bad") == {("A", "B"): 0}
    with pytest.raises(ValueError):
        parse_ranking("A>A")


def test_a_group_is_right_only_when_every_relation_is():
    relations = {(0, 1): 1, (0, 2): -1, (1, 2): -1}  # C > A > B
    assert group_correct([2.0, 1.0, 3.0], relations)
    assert not group_correct([2.0, 2.0, 3.0], relations)  # equal scores tie A and B
    assert not group_correct([1.0, 2.0, 3.0], relations)
    assert group_correct([1.0, 1.4], {(0, 1): 0}, epsilon=0.5)
    assert not group_correct([1.0, 1.4], {(0, 1): 0}, epsilon=0.3)


def test_editreward_bench_overall_pools_every_group():
    groups = [
        ([1.0, 1.2], {(0, 1): 0}),  # K=2 tie: right at epsilon 0.2
        ([3.0, 1.0], {(0, 1): 1}),  # K=2: right
        ([1.0, 3.0], {(0, 1): 1}),  # K=2: wrong whatever epsilon
        ([2.0, 1.0, 3.0], {(0, 1): 1, (0, 2): -1, (1, 2): -1}),  # K=3 right
        ([1.0, 2.0, 3.0, 4.0], {(i, j): 1 for i in range(4) for j in range(i + 1, 4)}),  # K=4 wrong
    ]
    result = ranking_accuracy(groups)
    # K=2 margins -0.2, 2, -2 with truth 0, 1, 1: eps 0 -> 1/3, eps 0.2 -> 2/3, eps 2 -> 1/3.
    assert result.epsilon == pytest.approx(0.2)
    assert result.by_k == {2: pytest.approx(2 / 3), 3: 1.0, 4: 0.0}
    assert result.overall == pytest.approx(3 / 5)  # (2 + 1 + 0) / 5 groups, not the mean of 2/3, 1, 0
    assert result.as_dict()["groups"] == {"k2": 3, "k3": 1, "k4": 1}
