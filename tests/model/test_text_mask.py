"""Masking the instruction's padding (`mask_text_padding`): cross-attention reads only the prompt's tokens."""

from __future__ import annotations

import torch

from model import RewardEditPipeline, RewardEditUNet, build_preset
from model.pipeline_config import PipelineConfig
from model.text import text_mask, tokenize


def test_the_mask_ends_at_the_first_end_of_text():
    ids = torch.tensor([[1, 5, 6, 9, 9, 9], [1, 9, 9, 9, 9, 9], [1, 5, 6, 7, 8, 9]])
    assert text_mask(ids, eos_token_id=9).tolist() == [
        [True, True, True, True, False, False],
        [True, True, False, False, False, False],
        [True] * 6,
    ]


def test_masked_padding_states_do_not_reach_the_output():
    c = build_preset("tiny")
    model = RewardEditUNet.from_components(c).eval()
    ids = tokenize(c.tokenizer, ["make the red square blue", "make it blue"])
    mask = text_mask(ids, c.tokenizer.eos_token_id)
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, c.unet.config.in_channels, 8, 8, generator=generator)
    states = c.text_encoder(ids)[0]
    noisy_padding = torch.where(mask[:, :, None], states, torch.randn(states.shape, generator=generator))
    condition = c.reward.null(2)

    def run(text: torch.Tensor, with_mask: bool) -> torch.Tensor:
        with torch.no_grad():
            return model(sample, 500, text, condition, mask if with_mask else None)

    torch.testing.assert_close(run(noisy_padding, True), run(states, True))
    assert not torch.allclose(run(noisy_padding, False), run(states, False))


def test_each_guidance_branch_gets_its_own_prompts_mask(tiny_checkpoint):
    pipe = RewardEditPipeline.from_pretrained(tiny_checkpoint)
    assert pipe.text_mask(["make it blue"], branches=3) is None  # the option is off by default
    pipe.components.config = PipelineConfig(mask_text_padding=True)
    masks = pipe.text_mask(["make it blue", "make the red square blue"], branches=4)
    lengths = masks.sum(-1).tolist()  # [text+image, image only, neither, null reward] x requests
    assert lengths == [5, 7, 2, 2, 2, 2, 5, 7]
