"""What one training step does: the loss falls, clipping clips, and dropout trains the right parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState

from model import build_preset, load_components, save_components
from model.pipeline_config import PipelineConfig
from model.text import text_mask
from training import Trainer
from training.objective import EDIT_WEIGHT_FLOOR, DropoutRates, edit_cells, region_balanced
from training.seeding import generator
from training.state import load_state

from .helpers import changed, make_dataset, snapshot, tiny_config


def first_batch(trainer: Trainer) -> dict[str, torch.Tensor]:
    indices = next(iter(trainer.sampler))
    return torch.utils.data.default_collate([trainer.dataset[key] for key in indices])


def fixed_loss(trainer: Trainer, batch: dict[str, torch.Tensor]) -> float:
    """The loss under one fixed draw of noise, timesteps and dropout."""
    with torch.no_grad():
        return trainer.objective.loss(trainer.model, batch, generator(123)).item()


def tiny_predicting(prediction_type: str, folder: Path) -> Path:
    """A tiny checkpoint folder whose scheduler (and so whose training target) is `prediction_type`."""
    components = build_preset("tiny", seed=0)
    components.scheduler.register_to_config(prediction_type=prediction_type)
    return save_components(components, folder)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_loss_on_a_fixed_batch_goes_down(manifest, tmp_path, prediction_type):
    init = tiny_predicting(prediction_type, tmp_path / "init")
    config = tiny_config(manifest, tmp_path / "run", preset=None, init=init, learning_rate=1e-3, batch_size=4)
    trainer = Trainer(config)
    assert trainer.objective.noise_scheduler.config.prediction_type == prediction_type
    batch = first_batch(trainer)
    before = fixed_loss(trainer, batch)
    losses = [trainer.train_step([batch]).loss for _ in range(15)]
    after = fixed_loss(trainer, batch)
    assert after < 0.7 * before, (before, after, losses)


def test_a_scheduler_predicting_flow_is_refused(manifest, tmp_path):
    init = tiny_predicting("flow_prediction", tmp_path / "init")
    with pytest.raises(ValueError, match="predicts 'flow_prediction'"):
        Trainer(tiny_config(manifest, tmp_path / "run", preset=None, init=init))


def test_gradient_clipping_bounds_the_norm_the_optimizer_sees(manifest, tmp_path):
    trainer = Trainer(tiny_config(manifest, tmp_path, max_grad_norm=0.01))
    seen = []

    def record_norm(optimizer, args, kwargs) -> None:
        norms = [torch.linalg.vector_norm(p.grad) for p in trainer.params if p.grad is not None]
        seen.append(torch.linalg.vector_norm(torch.stack(norms)).item())

    trainer.optimizer.optimizer.register_step_pre_hook(record_norm)
    stats = trainer.train_step([first_batch(trainer)])
    assert stats.grad_norm > 0.1, "the reported norm is the one before clipping"
    assert seen == [pytest.approx(0.01, rel=1e-3)]


def reward_parts_after_training(trainer: Trainer, steps: int) -> tuple[dict, dict]:
    before = snapshot(trainer.denoiser.net.reward)
    batch = first_batch(trainer)
    for _ in range(steps):
        trainer.train_step([batch])
    return before, snapshot(trainer.denoiser.net.reward)


@pytest.mark.parametrize("case", ["reward dropout 1.0", "unlabelled manifest"])
def test_without_rewards_only_the_null_reward_path_trains(tmp_path, case):
    labelled = case == "reward dropout 1.0"
    manifest = make_dataset(tmp_path, count=4, labelled=labelled)
    trainer = Trainer(tiny_config(manifest, tmp_path / "run", reward_dropout=1.0 if labelled else 0.0))
    before, after = reward_parts_after_training(trainer, steps=3)
    assert not changed(before, after, "score_embedding")
    assert not changed(before, after, "type_embedding")
    for part in ("null_condition", "encoder", "block_biases"):
        assert changed(before, after, part), part


def test_with_rewards_kept_the_score_path_trains(tmp_path):
    manifest = make_dataset(tmp_path, count=4, labelled=True)
    trainer = Trainer(tiny_config(manifest, tmp_path / "run", reward_dropout=0.0))
    before, after = reward_parts_after_training(trainer, steps=3)
    assert changed(before, after, "score_embedding") and changed(before, after, "type_embedding")
    assert not changed(before, after, "null_condition")


def test_gradient_checkpointing_gives_the_same_step(manifest, tmp_path):
    weights = []
    for checkpointing in (False, True):
        trainer = Trainer(
            tiny_config(manifest, tmp_path / str(checkpointing), gradient_checkpointing=checkpointing)
        )
        assert trainer.components.unet.is_gradient_checkpointing == checkpointing
        trainer.train_step([first_batch(trainer)])
        weights.append(snapshot(trainer.denoiser))
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[1][name], value, rtol=1e-5, atol=1e-7, msg=name)


class RecordingModel(torch.nn.Module):
    """Stands in for the denoiser and keeps the conditions it was given."""

    def forward(self, noisy, timesteps, text, source, reward_text, scores, use_reward, text_mask=None):
        self.seen = {
            "timesteps": timesteps,
            "text": text,
            "source": source,
            "use_reward": use_reward,
            "text_mask": text_mask,
        }
        return torch.zeros_like(noisy)


@pytest.mark.parametrize("dropped", ["instruction", "image", "reward"])
def test_each_dropout_rate_drops_only_its_own_condition(manifest, tmp_path, dropped):
    trainer = Trainer(tiny_config(manifest, tmp_path, batch_size=4))
    batch = first_batch(trainer)
    rates = {"instruction": 0.0, "image": 0.0, "reward": 0.0, dropped: 1.0}
    trainer.objective.rates = DropoutRates(**rates)
    model = RecordingModel()
    trainer.objective.loss(model, batch, generator(0))
    encoded = trainer.objective.encode(batch, generator(0))

    empty = trainer.objective.empty_states.expand_as(encoded["text"])
    assert torch.equal(model.seen["text"], empty if dropped == "instruction" else encoded["text"])
    source = torch.zeros_like(encoded["source"]) if dropped == "image" else encoded["source"]
    assert torch.equal(model.seen["source"], source)
    assert (
        model.seen["use_reward"].tolist() == [False] * 4
        if dropped == "reward"
        else batch["has_reward"].tolist()
    )


def test_ema_weights_are_what_the_checkpoints_serve(manifest, tmp_path):
    trainer = Trainer(
        tiny_config(
            manifest, tmp_path, ema=True, ema_decay=0.5, max_steps=3, checkpoint_every=3, validate_every=0
        )
    )
    initial = snapshot(trainer.denoiser.net)
    final = trainer.fit()

    raw = snapshot(trainer.denoiser.net)
    names = [name.removeprefix("net.") for name, _ in trainer.denoiser.named_parameters()]
    averaged = dict(zip(names, trainer.ema.shadow_params, strict=True))
    served = load_components(final)
    served = {**prefixed(served.unet, "unet."), **prefixed(served.reward, "reward.")}
    assert all(torch.equal(served[name], averaged[name]) for name in names)
    assert changed(raw, {**raw, **averaged}, "unet.") and changed(initial, {**initial, **averaged}, "unet.")
    _, _, saved_raw = load_state(tmp_path / "checkpoint-3")
    assert all(torch.equal(saved_raw[name], raw[name]) for name in raw)


def prefixed(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + name: value for name, value in module.state_dict().items()}


def test_cached_encodings_give_the_uncached_loss_without_encoding_again(manifest, tmp_path):
    fixed_crops = {"center_crop": True, "random_flip": False}
    plain = Trainer(tiny_config(manifest, tmp_path / "plain", **fixed_crops))
    AcceleratorState._reset_state(reset_partial_state=True)
    cached = Trainer(tiny_config(manifest, tmp_path / "cached", cache_encodings=True, **fixed_crops))
    calls = {"vae": 0, "text": 0}
    cached.components.vae.encoder.register_forward_hook(lambda *_: calls.__setitem__("vae", calls["vae"] + 1))
    cached.components.text_encoder.register_forward_hook(
        lambda *_: calls.__setitem__("text", calls["text"] + 1)
    )
    batch = first_batch(plain)

    expected = fixed_loss(plain, batch)
    assert fixed_loss(cached, batch) == expected
    first = dict(calls)
    assert fixed_loss(cached, batch) == expected
    assert calls == first, "a second pass over the same rows must not run the encoders"
    assert len(cached.objective.cache.posteriors) == len(set(batch["index"].tolist()))

    # Loaded again, the cached rows come without their pixels, and the loss does not need them.
    again = first_batch(cached)
    assert not again["source"].any() and not again["edited"].any()
    assert fixed_loss(cached, again) == expected


def test_a_saved_encoding_cache_serves_the_next_run_and_only_its_own_data(manifest, tmp_path):
    fixed = {"center_crop": True, "random_flip": False, "cache_encodings": True}
    cache_file = tmp_path / "encodings.pt"
    first = Trainer(tiny_config(manifest, tmp_path / "first", encoding_cache_file=cache_file, **fixed))
    batch = first_batch(first)
    expected = fixed_loss(first, batch)
    first.save_final()
    assert cache_file.is_file()

    AcceleratorState._reset_state(reset_partial_state=True)
    second = Trainer(tiny_config(manifest, tmp_path / "second", encoding_cache_file=cache_file, **fixed))
    encoded = []
    second.components.vae.encoder.register_forward_hook(lambda *_: encoded.append(1))
    assert fixed_loss(second, batch) == expected
    assert not encoded, "rows the first run encoded come from the file"

    other = make_dataset(tmp_path, count=2)
    AcceleratorState._reset_state(reset_partial_state=True)
    third = Trainer(tiny_config(other, tmp_path / "third", encoding_cache_file=cache_file, **fixed))
    assert len(third.objective.cache) == 0, "another manifest must not reuse the file"


@pytest.mark.parametrize(
    ("weighting", "masked"), [("uniform", False), ("edit", False), ("region", False), ("region", True)]
)
def test_each_loss_weighting_scores_a_batch_as_defined(manifest, tmp_path, weighting, masked):
    if masked:
        (tmp_path / "masked").mkdir()
        manifest = make_dataset(tmp_path / "masked", count=6, masked=True)
    init = tiny_predicting("sample", tmp_path / "init")
    config = tiny_config(manifest, tmp_path / "run", preset=None, init=init, batch_size=4)
    trainer = Trainer(config.model_copy(update={"loss_weighting": weighting}))
    objective = trainer.objective
    objective.rates = DropoutRates(0.0, 0.0, 0.0)
    batch = first_batch(trainer)
    loss = objective.loss(RecordingModel(), batch, generator(0)).item()  # predicts x0 = 0

    encoded = objective.encode(batch, generator(0))
    target = encoded["target"].double()
    errors = target.pow(2).mean((1, 2, 3))
    change = target - encoded["source"].double() * objective.vae.config.scaling_factor
    if weighting == "edit":
        errors = errors / (change.pow(2).mean((1, 2, 3)) + EDIT_WEIGHT_FLOOR)
        assert errors.std() > 0.05 * errors.mean()  # the weights differ between the samples
    if weighting == "region":
        cells = edit_cells(change, batch["mask"], batch["has_mask"])
        if masked:  # the mask's quadrant, not the cells the target changes
            assert batch["has_mask"].all()
            assert not torch.equal(cells, edit_cells(change, batch["mask"], ~batch["has_mask"]))
        errors = region_balanced(target.pow(2), cells)
        if masked:  # a quadrant is under half the image: it reweighs (the inverted blue channel is not)
            assert errors.double().sub(target.pow(2).mean((1, 2, 3))).abs().max() > 1e-3
    assert loss == pytest.approx(errors.mean().item(), rel=1e-5)


def test_region_weighting_gives_a_small_edits_cells_half_of_its_samples_loss():
    # Two channels on a 2x2 grid. Sample 0: one cell in the edit, its error 8 there and 2 on the
    # other three cells. Sample 1's edit covers no cell, sample 2's every cell and sample 3's three
    # of four (more than half): plain means.
    squared = torch.tensor(
        [
            [[[8.0, 2.0], [2.0, 2.0]], [[8.0, 2.0], [2.0, 2.0]]],
            [[[1.0, 3.0], [5.0, 7.0]], [[1.0, 3.0], [5.0, 7.0]]],
            [[[4.0, 4.0], [4.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]],
            [[[8.0, 2.0], [2.0, 4.0]], [[8.0, 2.0], [2.0, 4.0]]],
        ]
    )
    inside = torch.tensor(
        [
            [[True, False], [False, False]],
            [[False, False], [False, False]],
            [[True, True], [True, True]],
            [[True, True], [False, True]],
        ]
    )
    assert region_balanced(squared, inside).tolist() == [(8.0 + 2.0) / 2, 4.0, 1.5, 4.0]


def test_the_edits_cells_come_from_its_mask_where_a_row_has_one():
    # Two rows on a 2x2 latent grid of 4x4 pixel blocks; both change cells (0, 0) (by 1.0 in channel
    # 1) and (1, 1) (by 0.05, below the threshold). Row 1's mask holds one pixel of cell (0, 1).
    change = torch.zeros(2, 2, 2, 2)
    change[:, 1, 0, 0] = 1.0
    change[:, 0, 1, 1] = 0.05
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, 0, 3, 5] = 1.0
    cells = edit_cells(change, mask, torch.tensor([False, True]))
    assert cells.tolist() == [[[True, False], [False, False]], [[False, True], [False, False]]]


@pytest.mark.parametrize("sampling", ["uniform", "noisy"])
def test_noisy_timestep_sampling_trains_mostly_where_the_target_is_hidden(manifest, tmp_path, sampling):
    config = tiny_config(manifest, tmp_path, batch_size=4, timestep_sampling=sampling)
    trainer = Trainer(config)
    batch = first_batch(trainer)
    model, seen, rng = RecordingModel(), [], generator(0)
    for _ in range(250):
        trainer.objective.loss(model, batch, rng)
        seen.append(model.seen["timesteps"])
    timesteps = torch.cat(seen)
    count = trainer.objective.noise_scheduler.config.num_train_timesteps
    assert timesteps.min() >= 0 and timesteps.max() < count
    noisier_half = (timesteps >= count // 2).float().mean().item()
    # 1000 draws: uniform puts 50% (sd 1.6%) in the noisier half, t = T (1 - u^3) 79% (sd 1.3%).
    assert noisier_half == pytest.approx(0.5 if sampling == "uniform" else 0.79, abs=0.06)


@pytest.mark.parametrize("dropped", [False, True])
def test_a_masking_checkpoint_trains_with_each_rows_own_prompt_mask(manifest, tmp_path, dropped):
    components = build_preset("tiny", seed=0)
    components.config = PipelineConfig(mask_text_padding=True)
    init = save_components(components, tmp_path / "init")
    trainer = Trainer(tiny_config(manifest, tmp_path / "run", preset=None, init=init, batch_size=4))
    trainer.objective.rates = DropoutRates(float(dropped), 0.0, 0.0)
    batch = first_batch(trainer)
    model = RecordingModel()
    trainer.objective.loss(model, batch, generator(0))

    ids = trainer.objective.empty_ids.expand(4, -1) if dropped else batch["input_ids"]
    assert torch.equal(model.seen["text_mask"], text_mask(ids, components.tokenizer.eos_token_id))
    assert model.seen["text_mask"].sum() < model.seen["text_mask"].numel() / 2
