"""The dataset's paired augmentation and the resumable sample stream."""

from __future__ import annotations

import itertools

import torch

from model import build_preset
from model.pipeline import RewardEditPipeline
from training import read_manifest
from training.dataset import PLACEHOLDER_REWARDS, Augmentation, ManifestDataset
from training.sampler import StreamBatchSampler

from .helpers import LABELLED, make_dataset


def dataset_of(manifest, resolution=32, **augmentation) -> ManifestDataset:
    components = build_preset("tiny")
    return ManifestDataset(
        read_manifest(manifest),
        components.tokenizer,
        Augmentation(resolution, **augmentation),
        seed=0,
        reward_prompt=components.reward.prompt,
    )


def test_source_and_edited_get_the_same_crop_and_flip(tmp_path):
    manifest = make_dataset(tmp_path, count=1, size=(96, 64))
    # The edited image is the source with its blue channel inverted: any offset breaks that relation.
    data = dataset_of(manifest)
    crops = []
    for position in range(12):
        item = data[0, position]
        assert item["source"].shape == item["edited"].shape == (3, 32, 32)
        torch.testing.assert_close(item["edited"][:2], item["source"][:2])
        torch.testing.assert_close(item["edited"][2], -item["source"][2], atol=2.5 / 255, rtol=0)
        crops.append(item["source"])
    distinct = {tuple(crop.flatten()[:64].tolist()) for crop in crops}
    assert len(distinct) > 6, "positions should give different crops and flips"
    torch.testing.assert_close(data[0, 5]["source"], crops[5])


def test_a_mask_gets_the_same_crop_and_flip_as_its_images(tmp_path):
    # Short side at the resolution: crops and flips move pixels without resampling them.
    data = dataset_of(make_dataset(tmp_path, count=1, size=(48, 32), masked=True))
    for position in range(8):
        item = data[0, position]
        assert item["has_mask"] and item["mask"].shape == (1, 32, 32)
        torch.testing.assert_close(item["mask"][0], (item["source"][0] > 0).float())


def test_a_cached_row_keeps_its_mask_and_a_row_without_one_gets_zeros(tmp_path):
    manifest = make_dataset(tmp_path, count=1, masked=True)
    fixed = {"random_flip": False, "center_crop": True}
    cached = dataset_of(manifest, **fixed)
    cached.encoded = {0}
    torch.testing.assert_close(cached[0, 3]["mask"], dataset_of(manifest, **fixed)[0, 0]["mask"])
    assert 0 < cached[0, 3]["mask"].mean() < 1
    (tmp_path / "plain").mkdir()
    unmasked = dataset_of(make_dataset(tmp_path / "plain", count=1))[0, 0]
    assert not unmasked["has_mask"] and not unmasked["mask"].any()


def test_center_crop_without_flip_is_the_same_at_every_position(manifest):
    data = dataset_of(manifest, random_flip=False, center_crop=True)
    torch.testing.assert_close(data[0, 0]["source"], data[0, 7]["source"])


def test_texts_are_tokenized_as_the_pipeline_encodes_them(manifest):
    data = dataset_of(manifest)
    labelled, unlabelled = data[0, 0], data[1, 0]
    components = build_preset("tiny")
    pipe = RewardEditPipeline(components)
    expected = pipe.encode_text(["invert the blue channel", components.reward.prompt(LABELLED)])
    ids = torch.stack([labelled["input_ids"], labelled["reward_ids"]])
    torch.testing.assert_close(components.text_encoder(ids)[0], expected)
    assert labelled["scores"].tolist() == [2.0, 4.5, 3.0] and labelled["has_reward"]
    assert not unlabelled["has_reward"]
    assert unlabelled["scores"].tolist() == list(PLACEHOLDER_REWARDS.scores)


def batches(sampler: StreamBatchSampler, count: int) -> list[list[tuple[int, int]]]:
    return list(itertools.islice(iter(sampler), count))


def test_stream_is_a_permutation_per_epoch_split_between_processes():
    ranks = [StreamBatchSampler(10, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    per_rank = [batches(sampler, 5) for sampler in ranks]  # 5 global batches of 4 = two epochs
    positions = sorted(p for rank in per_rank for batch in rank for _, p in batch)
    assert positions == list(range(20))
    order = {p: i for rank in per_rank for batch in rank for i, p in batch}
    assert sorted(order[p] for p in range(10)) == list(range(10))
    assert sorted(order[p] for p in range(10, 20)) == list(range(10))
    assert [order[p] for p in range(10)] != [order[p] for p in range(10, 20)], "epochs reshuffle"


def test_stream_resumed_at_a_position_continues_identically():
    full = batches(StreamBatchSampler(7, 3, seed=1), 6)
    resumed = batches(StreamBatchSampler(7, 3, seed=1, start=9), 3)
    assert resumed == full[3:]
    assert batches(StreamBatchSampler(7, 3, seed=2), 6) != full
