"""EditReward-Bench: groups of 2, 3 or 4 edits of one source with the humans' ranking of them.

Two layouts are read:
- the release on Hugging Face (TIGER-Lab/EditReward-Bench: `2pair/`, `3pair/`, `4pair/` parquet),
  one row per compared pair, as its evaluation scripts read it: `id` (the group is the part before
  the first "_"), `dataset` ("2pair", "3pair", "4pair"), `instruction`, `source_image`,
  `candidate_1`, `candidate_2`, `comparison_type` ("AvsC": candidate_1 is A, candidate_2 is C) and
  `ranking` ("A>C", "C>A", or a tie such as "A=B");
- EditReward's evaluation JSON (`EditReward_Bench_{2,3,4}pair.json`), one row per group: `prompt`,
  `path_src`, `paths_generated` (A, B, ...) and `human_vote.ranking` ("A>B", "A=B=Good", "C>A>B").
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ..errors import InputFileError
from .items import RANKING, BenchItem, Benchmark, ImageRef, field_of, image, records
from .metrics import ranking_relations

NAME = "editreward-bench"


def index(letter: str) -> int:
    return ord(letter) - ord("A")


def by_index(relations: dict[tuple[str, str], int]) -> dict[tuple[int, int], int]:
    return {(index(x), index(y)): relation for (x, y), relation in relations.items()}


def group_item(record: dict[str, Any], folder: Path, number: int) -> BenchItem:
    paths = field_of(record, "paths_generated")
    ranking = field_of(record, "human_vote")
    ranking = ranking.get("ranking") if isinstance(ranking, dict) else ranking
    if not isinstance(paths, list) or not 2 <= len(paths) <= 26 or not isinstance(ranking, str):
        raise InputFileError(f"row {number}: needs paths_generated (2+ paths) and human_vote.ranking")
    relations = by_index(_relations(ranking, number))
    _check_complete(relations, len(paths), f"row {number}")
    return BenchItem(
        id=str(record.get("id", number)),
        instruction=str(field_of(record, "prompt", "instruction")),
        source=image(field_of(record, "path_src"), folder, f"row {number} path_src"),
        candidates=tuple(image(p, folder, f"row {number} paths_generated") for p in paths),
        relations=relations,
        group=f"{len(paths)}pair",
    )


def _relations(ranking: str, where: object) -> dict[tuple[str, str], int]:
    try:
        return ranking_relations(ranking)
    except ValueError as exc:
        raise InputFileError(f"row {where}: {exc}") from exc


def _check_complete(relations: dict[tuple[int, int], int], k: int, where: str) -> None:
    wanted = {(i, j) for i in range(k) for j in range(i + 1, k)}
    if set(relations) != wanted:
        raise InputFileError(f"{where}: the ranking does not relate every pair of its {k} candidates")


def pair_rows_to_groups(rows: list[tuple[dict[str, Any], Path]]) -> list[BenchItem]:
    """The release's one-row-per-pair layout, regrouped into candidates A, B, ... with their relations."""
    groups: dict[tuple[str, str], list[tuple[dict[str, Any], Path]]] = defaultdict(list)
    for record, folder in rows:
        row_id = str(field_of(record, "id"))
        groups[(str(record.get("dataset", "")), row_id.split("_")[0])].append((record, folder))
    items = []
    for (subset, group_id), members in groups.items():
        images: dict[str, ImageRef] = {}
        relations: dict[tuple[int, int], int] = {}
        first, folder = members[0]
        for record, where in members:
            kind = str(field_of(record, "comparison_type"))
            x, _, y = kind.partition("vs")
            if len(x) != 1 or len(y) != 1:
                raise InputFileError(f"row {record['id']}: comparison_type {kind!r} is not like 'AvsC'")
            images.setdefault(x, image(record["candidate_1"], where, f"row {record['id']} candidate_1"))
            images.setdefault(y, image(record["candidate_2"], where, f"row {record['id']} candidate_2"))
            # A row's ranking may name the letters in either order ("C>A" on an "AvsC" row).
            relation = _relations(str(field_of(record, "ranking")), record["id"])
            a, b = sorted((x, y))
            if (a, b) not in relation:
                raise InputFileError(f"row {record['id']}: ranking does not compare {x} and {y}")
            relations[(index(a), index(b))] = relation[(a, b)]
        k = len(images)
        if sorted(images) != [chr(ord("A") + i) for i in range(k)]:
            raise InputFileError(f"group {group_id}: candidates {sorted(images)} are not A, B, ...")
        _check_complete(relations, k, f"group {group_id}")
        items.append(
            BenchItem(
                id=group_id,
                instruction=str(field_of(first, "instruction", "prompt")),
                source=image(first["source_image"], folder, f"group {group_id} source_image"),
                candidates=tuple(images[letter] for letter in sorted(images)),
                relations=relations,
                group=subset or f"{k}pair",
            )
        )
    return items


def load(path: Path) -> Benchmark:
    rows = list(records(path))
    pair_rows = [(r, f) for r, f in rows if "comparison_type" in r]
    group_rows = [(r, f) for r, f in rows if "comparison_type" not in r]
    items = pair_rows_to_groups(pair_rows) if pair_rows else []
    items += [group_item(record, folder, n) for n, (record, folder) in enumerate(group_rows)]
    return Benchmark(NAME, RANKING, items)
