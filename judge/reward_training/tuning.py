"""Which weights train: all (the release's full fine-tune), all but the vision tower, or LoRA adapters.

LoRA (peft) adapts the language model's attention and MLP projections; the reward heads train
fully (the release excludes them, the embeddings and lm_head from LoRA too). A checkpoint's
`model.safetensors` holds the merged weights (W + scale B A), under the names the loader expects.
"""

from __future__ import annotations

import torch

from judge.editreward.model import EditRewardModel

from .config import RewardTrainConfig

LORA_TARGETS = r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
ADAPTER = "default"


def apply_lora(model: EditRewardModel, config: RewardTrainConfig) -> None:
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as exc:  # pragma: no cover - peft is a dependency
        raise ValueError("lora needs peft (pip install peft)") from exc
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=LORA_TARGETS,
    )
    torch.manual_seed(config.seed)  # the A matrices' initialisation
    inject_adapter_in_model(lora, model, adapter_name=ADAPTER)


def is_lora(name: str) -> bool:
    return ".lora_" in name


def set_trainable(model: EditRewardModel, config: RewardTrainConfig) -> None:
    for name, parameter in model.named_parameters():
        if config.lora:
            parameter.requires_grad_(is_lora(name) or name.startswith("rm_heads."))
        else:
            parameter.requires_grad_(True)
        if config.freeze_vision_tower and name.startswith("model.visual."):
            parameter.requires_grad_(False)


def merged_state(model: EditRewardModel) -> dict[str, torch.Tensor]:
    """The state dict under the model's own names, LoRA deltas added into their base weights."""
    state = model.state_dict()
    if not any(is_lora(name) for name in state):
        return dict(state)
    merged = {name: t for name, t in state.items() if not is_lora(name) and ".base_layer." not in name}
    for name, module in model.named_modules():
        if hasattr(module, "base_layer") and hasattr(module, "get_delta_weight"):
            base = module.base_layer
            merged[f"{name}.weight"] = base.weight.detach() + module.get_delta_weight(ADAPTER).detach()
            if base.bias is not None:
                merged[f"{name}.bias"] = base.bias.detach()
    return merged
