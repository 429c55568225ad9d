"""Where training starts: a random model of a small shape, a base VLM's weights, or a reward checkpoint.

The model trains in fp32 (mixed precision autocasts). Starting from a base folder follows the
release: the backbone's weights under their pre-4.52 names, the embedding grown by the rows the
tokenizer gained (`<|Reward|>`; new rows start at the mean of the old ones), fresh reward heads.
The checkpoint keeps an `lm_head` as the release's do (never trained: scoring does not use it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import init_empty_weights
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from judge.editreward.base_folder import (
    CONFIG,
    PREPROCESSOR_CONFIG,
    TEMPLATE_FILES,
    TOKENIZER,
    TOKENIZER_CONFIG,
    BaseFolder,
    read_base_folder,
)
from judge.editreward.checkpoint import (
    LM_HEAD,
    WEIGHTS,
    RewardCheckpointError,
    load_reward_model,
    released_name,
)
from judge.editreward.model import EditRewardModel, reward_head
from judge.editreward.random_model import random_model, write_base_folder
from training.seeding import derive_seed

from .config import RewardTrainConfig

BASE_FILES = (CONFIG, TOKENIZER, TOKENIZER_CONFIG, PREPROCESSOR_CONFIG, *TEMPLATE_FILES)
EMBEDDINGS = "model.language_model.embed_tokens.weight"
HEADS_SEED, LM_HEAD_SEED = 10, 11  # derive_seed purposes (training.seeding uses 0-2)


class ModelStartError(ValueError):
    """The starting weights do not fit the model the base folder describes."""


@dataclass
class StartingModel:
    model: EditRewardModel
    base: BaseFolder
    lm_head: torch.Tensor | None  # saved with every checkpoint, as the release's hold one


def copy_base_files(base: Path, folder: Path) -> None:
    """The base folder's small files, so that a checkpoint folder is also its own --base-model."""
    for name in dict.fromkeys(BASE_FILES):
        if (base / name).is_file():
            shutil.copyfile(base / name, folder / name)


def base_folder_for(config: RewardTrainConfig, main_process: bool) -> Path:
    if config.shape is not None:
        folder = config.out / "base"
        if main_process and not (folder / CONFIG).is_file():
            write_base_folder(folder, config.shape, seed=None)
        return folder
    folder = config.base_model if config.base_model is not None else config.init
    assert folder is not None
    return folder


def grown(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    if tensor.shape[0] >= rows:
        return tensor[:rows]
    extra = tensor.float().mean(0, keepdim=True).expand(rows - tensor.shape[0], -1).to(tensor.dtype)
    return torch.cat([tensor, extra])


def model_from_base_weights(
    base: BaseFolder, folder: Path, seed: int
) -> tuple[EditRewardModel, torch.Tensor | None]:
    """The backbone from the base folder's safetensors (no random init of it), fresh seeded heads."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelStartError(
            f"{folder} holds no *.safetensors weights: give 'shape' for a random model, or 'init'"
        )
    config = base.config
    config.text_config.vocab_size = base.vocabulary_size
    config.text_config.pad_token_id = base.pad_token_id
    config._attn_implementation = "sdpa"
    with init_empty_weights(include_buffers=False):
        model = EditRewardModel(config)
    loaded: dict[str, torch.Tensor] = {}
    for file in files:
        loaded.update({released_name(k): v for k, v in load_file(str(file)).items()})
    lm_head = loaded.pop(LM_HEAD, None)
    expected = {k: v.shape for k, v in model.state_dict().items() if not k.startswith("rm_heads.")}
    rows = expected[EMBEDDINGS][0]
    if EMBEDDINGS in loaded:
        loaded[EMBEDDINGS] = grown(loaded[EMBEDDINGS], rows)
    if lm_head is not None:
        lm_head = grown(lm_head, rows).float()
    missing = sorted(set(expected) - set(loaded))
    extra = sorted(set(loaded) - set(expected))
    wrong = sorted(k for k in set(expected) & set(loaded) if loaded[k].shape != expected[k])
    if missing or extra or wrong:
        raise ModelStartError(
            f"{folder}: base weights do not fit its config ({len(missing)} missing, {len(extra)} "
            f"unexpected, {len(wrong)} of another shape; first: {(missing + extra + wrong)[:5]})"
        )
    torch.manual_seed(derive_seed(seed, HEADS_SEED))
    heads = nn.ModuleDict({name: reward_head(config.text_config.hidden_size) for name in model.rm_heads})
    state = {k: v.float() for k, v in loaded.items()}
    state.update({f"rm_heads.{k}": v for k, v in heads.state_dict().items()})
    model.load_state_dict(state, strict=True, assign=True)
    return model, lm_head


def checkpoint_lm_head(folder: Path) -> torch.Tensor | None:
    with safe_open(str(folder / WEIGHTS), framework="pt") as weights:
        return weights.get_tensor(LM_HEAD).float() if LM_HEAD in weights.keys() else None  # noqa: SIM118


def start_model(config: RewardTrainConfig, base_dir: Path) -> StartingModel:
    """The model to train, fp32 on the CPU, in train mode."""
    if config.init is not None:
        try:
            loaded = load_reward_model(config.init, base_dir, "cpu", torch.float32)
        except RewardCheckpointError as exc:
            raise ModelStartError(str(exc)) from exc
        model, base, lm_head = loaded.model, loaded.base, checkpoint_lm_head(config.init)
    else:
        base = read_base_folder(base_dir)
        if config.shape is not None:
            model, lm_head = random_model(base, derive_seed(config.seed, HEADS_SEED)), None
        else:
            model, lm_head = model_from_base_weights(base, base_dir, config.seed)
    if lm_head is None and not base.config.tie_word_embeddings:
        embeddings = model.state_dict()[EMBEDDINGS]
        generator = torch.Generator().manual_seed(derive_seed(config.seed, LM_HEAD_SEED))
        lm_head = torch.randn(embeddings.shape, generator=generator) * 0.02
    return StartingModel(model.float().train(), base, lm_head)
