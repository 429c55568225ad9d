"""Loading a released EditReward checkpoint: the base folder's config and tokenizer, then every weight.

The checkpoint's `model.safetensors` holds the whole state dict, saved with transformers 4.57
(`model.language_model.*`, `model.visual.*`, `lm_head.weight`, `rm_heads.head_{0,1}.{0,3,5}.*`).
Checkpoints saved before transformers 4.52 name the same weights as base folders do
(`model.layers.*`, `model.embed_tokens.*`, `model.norm.*`, `visual.*`); both are mapped
explicitly. A weight missing, left over, named twice or of another shape fails the load, naming
them: a reward model must never score with random weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import init_empty_weights
from safetensors.torch import load_file

from .base_folder import BaseFolder, read_base_folder
from .model import EditRewardModel

WEIGHTS = "model.safetensors"
# Read and checked, not kept: scoring never decodes text. Optional when the embeddings are tied.
LM_HEAD = "lm_head.weight"
# Names before transformers 4.52 -> the released (and our) names.
OLD_PREFIXES = (
    ("model.embed_tokens.", "model.language_model.embed_tokens."),
    ("model.layers.", "model.language_model.layers."),
    ("model.norm.", "model.language_model.norm."),
    ("visual.", "model.visual."),
)
SHOWN = 8  # names listed per kind of problem


class RewardCheckpointError(ValueError):
    """The checkpoint does not fit the model the base folder describes; the message names the weights."""


@dataclass(frozen=True)
class LoadedRewardModel:
    model: EditRewardModel
    base: BaseFolder
    fingerprint: str  # changes when the weights file or the base folder's tokenizer/template change


def released_name(key: str) -> str:
    for old, new in OLD_PREFIXES:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def listing(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def weights_path(reward_dir: Path) -> Path:
    path = reward_dir / WEIGHTS
    if not path.is_file():
        raise RewardCheckpointError(f"{reward_dir}: no {WEIGHTS} (the released checkpoints hold one)")
    return path


def fingerprint(weights: Path, base: BaseFolder) -> str:
    """Cheap identity of the model for caches: the weights file's header, size and time, the text inputs."""
    digest = hashlib.sha256()
    stat = weights.stat()
    digest.update(f"{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    with weights.open("rb") as file:
        header_size = int.from_bytes(file.read(8), "little")
        digest.update(file.read(min(header_size, 1 << 24)))
    digest.update(base.tokenizer.to_str().encode())
    digest.update(base.chat_template.encode())
    return digest.hexdigest()[:16]


def check_names(
    loaded: dict[str, torch.Tensor], expected: dict[str, torch.Size], tied: bool, weights: Path
) -> dict[str, torch.Tensor]:
    """The state dict under our names, or RewardCheckpointError listing every mismatch."""
    renamed: dict[str, torch.Tensor] = {}
    twice = []
    for key, tensor in loaded.items():
        name = released_name(key)
        if name in renamed:
            twice.append(name)
        renamed[name] = tensor
    lm_head = renamed.pop(LM_HEAD, None)
    problems = []
    if lm_head is None and not tied:
        problems.append(f"missing {LM_HEAD}")
    missing = [name for name in expected if name not in renamed]
    extra = [name for name in renamed if name not in expected]
    wrong = [
        f"{name} {tuple(renamed[name].shape)} (expected {tuple(shape)})"
        for name, shape in expected.items()
        if name in renamed and renamed[name].shape != shape
    ]
    embeddings = expected["model.language_model.embed_tokens.weight"]
    if lm_head is not None and lm_head.shape != embeddings:
        wrong.append(f"{LM_HEAD} {tuple(lm_head.shape)} (expected {tuple(embeddings)})")
    for what, names in (("missing", missing), ("unexpected", extra), ("named twice", twice)):
        if names:
            problems.append(f"{len(names)} {what}: {listing(names)}")
    if wrong:
        problems.append(f"{len(wrong)} of another shape: {listing(wrong)}")
    if problems:
        raise RewardCheckpointError(
            f"{weights} does not match the model its base folder describes ({'; '.join(problems)}). "
            "Is --base-model the folder the reward model was trained from?"
        )
    return renamed


def load_reward_model(
    reward_dir: str | Path,
    base_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LoadedRewardModel:
    """Build the model from the base folder's config and load every weight of the checkpoint into it.

    The backbone runs in `dtype`, the heads in fp32 as in the release. `base_dir` defaults to the
    reward model folder itself (for a folder holding both).
    """
    reward_dir = Path(reward_dir)
    weights = weights_path(reward_dir)
    base = read_base_folder(base_dir if base_dir is not None else reward_dir)
    config = base.config
    config.text_config.vocab_size = base.vocabulary_size
    config.text_config.pad_token_id = base.pad_token_id
    config._attn_implementation = "sdpa"
    with init_empty_weights(include_buffers=False):  # no random init of billions of parameters
        model = EditRewardModel(config)
    expected = {name: param.shape for name, param in model.state_dict().items()}
    # Straight onto the device; every name and shape is checked before a tensor is converted.
    state = check_names(
        load_file(str(weights), device=str(device)), expected, config.tie_word_embeddings, weights
    )
    heads = {name for name in state if name.startswith("rm_heads.")}
    state = {name: t.to(torch.float32 if name in heads else dtype) for name, t in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.to(device).eval()
    return LoadedRewardModel(model, base, fingerprint(weights, base))
