"""The reward model: a Qwen2.5-VL backbone and two reward heads, run as the release runs it.

Module names follow the released state dict (transformers 4.52+ names): `model.visual.*`,
`model.language_model.*` and `rm_heads.head_{0,1}.*`. The release's `lm_head` is never used to
score (no text is generated), so it is checked on load and not kept.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

from .inputs import ModelInputs
from .prompts import HEADS

HEAD_HIDDEN = (1024, 16)
HEAD_DROPOUT = 0.05


def reward_head(hidden_size: int) -> nn.Sequential:
    """Linear-ReLU-Dropout-Linear-ReLU-Linear to [mu, log sigma]: parameters at indices 0, 3 and 5."""
    first, second = HEAD_HIDDEN
    return nn.Sequential(
        nn.Linear(hidden_size, first),
        nn.ReLU(),
        nn.Dropout(HEAD_DROPOUT),
        nn.Linear(first, second),
        nn.ReLU(),
        nn.Linear(second, 2),
    )


def text_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Plain 1-D positions in all three rotary sections, as the release gets them.

    The release calls the language model with `input_ids=None`, so transformers 4.57 never builds
    Qwen2.5-VL's 3-D multimodal positions: every token, image tokens too, is at its attention-mask
    count minus one (padding at 1). The models were trained so; M-RoPE would move scores by ~0.4.
    """
    positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
    return positions.unsqueeze(0).expand(3, -1, -1)


class EditRewardModel(nn.Module):
    def __init__(self, config: Qwen2_5_VLConfig) -> None:
        super().__init__()
        self.model = Qwen2_5_VLModel(config)
        hidden_size = config.text_config.hidden_size
        self.rm_heads = nn.ModuleDict(
            {f"head_{index}": reward_head(hidden_size) for index in range(len(HEADS))}
        )

    def forward(self, inputs: ModelInputs) -> torch.Tensor:
        """[rows, 2] float32: each row's head output (mu, log sigma).

        Differentiable (training runs it); the scorer calls it under `torch.inference_mode()`.
        """
        visual = self.model.visual
        embed = self.model.language_model.get_input_embeddings()
        embeddings = embed(inputs.input_ids)
        out = visual(inputs.pixel_values.to(embeddings.dtype), grid_thw=inputs.image_grid_thw)
        image_embeddings = getattr(out, "pooler_output", out)  # a tensor before transformers 5
        per_image = image_embeddings.split(
            (inputs.image_grid_thw.prod(-1) // visual.spatial_merge_size**2).tolist()
        )
        # Row r shows edit e's source and edited images, in that order.
        row_images = [per_image[i] for e in inputs.edit_of_row for i in (2 * e, 2 * e + 1)]
        image_tokens = torch.cat(row_images).to(embeddings.dtype)
        image_mask = (inputs.input_ids == self.model.config.image_token_id).unsqueeze(-1)
        if int(image_mask.sum()) != image_tokens.shape[0]:  # a tokenizer that splits the placeholder
            raise ValueError(
                f"{int(image_mask.sum())} image tokens in the rows for {image_tokens.shape[0]} image "
                "features: does the base folder's tokenizer match its config's image_token_id?"
            )
        embeddings = embeddings.masked_scatter(image_mask, image_tokens)
        hidden = self.model.language_model(
            inputs_embeds=embeddings,
            attention_mask=inputs.attention_mask,
            position_ids=text_positions(inputs.attention_mask),
            use_cache=False,
        ).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        at_reward = hidden[rows, inputs.reward_positions].float()  # the heads run in fp32
        outputs = torch.empty((hidden.shape[0], 2), dtype=torch.float32, device=hidden.device)
        for head in sorted(set(inputs.heads)):
            selected = torch.tensor([h == head for h in inputs.heads], device=hidden.device)
            outputs[selected] = self.rm_heads[f"head_{head}"](at_reward[selected])
        return outputs
