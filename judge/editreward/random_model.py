"""Random EditReward-shaped models, built offline, in the released layouts.

`tiny` (two layers, 64 wide) is what the tests and the CPU figures use; `7b` has the shapes of
Qwen2.5-VL-7B-Instruct (data/qwen2_5_vl_7b_config.json) for GPU figures. Their tokenizer is a
byte-level BPE trained on the rubric texts (so rows are about as long as with Qwen's own), with
Qwen2.5-VL's added tokens after the base vocabulary, at Qwen's ids for `7b`.

`write_base_folder` writes what a base model folder holds (config.json as Qwen's folders write
it, tokenizer, chat template, image processor settings, and random weights under the pre-4.52
names); `write_reward_checkpoint` writes `model.safetensors` under the 4.57 names, as the release
saved it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from .base_folder import BaseFolder, read_base_folder
from .checkpoint import LM_HEAD, WEIGHTS
from .images import PIXELS_KEY
from .model import EditRewardModel
from .prompts import released_texts
from .shapes import SHAPES, SMALL, SMALL_PIXELS, SMALL_VISION, TINY, TINY_VISION, qwen_7b_config

# Qwen2.5-VL's added tokens, in id order after the base vocabulary (151643 on); True: special.
QWEN_ADDED_TOKENS = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
QWEN_BASE_VOCABULARY = 151643
# Qwen2-VL's chat template (Qwen2.5-VL ships the same).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
PREPROCESSOR = {
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": CLIP_MEAN,
    "image_std": CLIP_STD,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "do_convert_rgb": True,
}
TINY_BPE_VOCABULARY = 1200
# Old (pre-4.52, base folder) name prefixes for the released ones.
BASE_FOLDER_PREFIXES = (("model.language_model.", "model."), ("model.visual.", "visual."))


def build_tokenizer(shape: str) -> Tokenizer:
    """Byte-level BPE trained on the prompts, then Qwen's added tokens (at Qwen's ids for `7b`)."""
    texts = released_texts()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_BPE_VOCABULARY,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(
        [*texts.values(), "You are a helpful assistant. system user assistant"], trainer
    )
    if shape == "7b":  # unreachable filler tokens put the added ones at Qwen's ids
        bpe = json.loads(tokenizer.to_str())["model"]
        vocab = dict(bpe["vocab"])
        vocab.update({f"<|filler_{i}|>": i for i in range(len(vocab), QWEN_BASE_VOCABULARY)})
        merges = [
            tuple(merge) if isinstance(merge, list) else tuple(merge.split(" ")) for merge in bpe["merges"]
        ]
        model = models.BPE(vocab=vocab, merges=merges)
        tokenizer.model = model
    tokenizer.add_tokens(
        [AddedToken(text, special=special, normalized=False) for text, special in QWEN_ADDED_TOKENS]
    )
    return tokenizer


def config_data(shape: str, tokenizer: Tokenizer) -> dict[str, Any]:
    """config.json as Qwen's base folders write it (text settings at the top level)."""
    data = qwen_7b_config()
    if shape in ("tiny", "small"):
        data.update(TINY if shape == "tiny" else SMALL)
        data["vision_config"].update(TINY_VISION if shape == "tiny" else SMALL_VISION)
        data.update(
            vocab_size=tokenizer.get_vocab_size(with_added_tokens=True) + 32,  # padded, like Qwen's 152064
            bos_token_id=tokenizer.token_to_id("<|endoftext|>"),
            eos_token_id=tokenizer.token_to_id("<|im_end|>"),
            vision_start_token_id=tokenizer.token_to_id("<|vision_start|>"),
            vision_end_token_id=tokenizer.token_to_id("<|vision_end|>"),
            vision_token_id=tokenizer.token_to_id("<|vision_pad|>"),
            image_token_id=tokenizer.token_to_id("<|image_pad|>"),
            video_token_id=tokenizer.token_to_id("<|video_pad|>"),
        )
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_base_folder(folder: str | Path, shape: str = "tiny", seed: int | None = 0) -> Path:
    """A base model folder; with a `seed`, random bf16 weights too (old names, vocabulary not resized)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(shape)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = config_data(shape, tokenizer)
    write_json(folder / "config.json", config)
    write_json(folder / "chat_template.json", {"chat_template": CHAT_TEMPLATE})
    write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "Qwen2Tokenizer",
            "bos_token": None,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "unk_token": None,
            "model_max_length": 131072,
            "chat_template": CHAT_TEMPLATE,
        },
    )
    preprocessor = {**PREPROCESSOR, PIXELS_KEY: SMALL_PIXELS} if shape == "small" else PREPROCESSOR
    write_json(folder / "preprocessor_config.json", preprocessor)
    if seed is not None:
        base = read_base_folder(folder)
        model = random_model(base, seed, vocabulary=config["vocab_size"], dtype=torch.bfloat16)
        write_base_weights(model, folder)
    return folder


def write_base_weights(model: EditRewardModel, folder: str | Path) -> Path:
    """The backbone as a base VLM's folder holds it: pre-4.52 names, a random lm_head, no heads.

    The model's vocabulary should be the base config's (`train-reward --base-model` grows it by
    `<|Reward|>`'s row, as the release does).
    """
    weights = {name: tensor.contiguous() for name, tensor in model.model.state_dict().items()}
    renamed = {}
    for name, tensor in weights.items():
        name = "model." + name
        for new, old in BASE_FOLDER_PREFIXES:
            if name.startswith(new):
                name = old + name[len(new) :]
                break
        renamed[name] = tensor
    renamed[LM_HEAD] = torch.randn_like(weights["language_model.embed_tokens.weight"]) * 0.02
    path = Path(folder) / WEIGHTS
    save_file(renamed, str(path), metadata={"format": "pt"})
    return path


def random_model(
    base: BaseFolder,
    seed: int,
    vocabulary: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> EditRewardModel:
    """Transformers' own initialisation, seeded; vocabulary: the tokenizer's length, as in the release."""
    config = base.config
    config.text_config.vocab_size = vocabulary or base.vocabulary_size
    config.text_config.pad_token_id = base.pad_token_id
    config._attn_implementation = "sdpa"
    config.dtype = dtype  # transformers builds the backbone in the config's dtype
    torch.manual_seed(seed)
    with torch.device(device):
        model = EditRewardModel(config)
    model.model.to(dtype)
    model.rm_heads.float()
    return model.eval()


def write_reward_checkpoint(model: EditRewardModel, folder: str | Path, seed: int = 0) -> Path:
    """`model.safetensors` as the release saved it: every weight, with an lm_head, under the 4.57 names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    embeddings = weights["model.language_model.embed_tokens.weight"]
    weights[LM_HEAD] = torch.randn(embeddings.shape, generator=generator).to(embeddings) * 0.02
    save_file(weights, str(folder / WEIGHTS), metadata={"format": "pt"})
    return folder / WEIGHTS


def write_random_editreward(folder: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """A tiny base folder (FOLDER/base) and reward checkpoint (FOLDER/reward), the latter another
    random model than the base's weights, its backbone in bf16 and its heads in fp32 as released."""
    folder = Path(folder)
    base = write_base_folder(folder / "base", "tiny", seed=seed + 1)
    model = random_model(read_base_folder(base), seed + 2, dtype=torch.bfloat16)
    write_reward_checkpoint(model, folder / "reward")
    return base, folder / "reward"
