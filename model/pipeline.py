"""RewardEditPipeline: InstructPix2Pix sampling with the reward condition in every branch."""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from .checkpoint import Components, load_components, save_components
from .errors import EditCanceled, InvalidInputError, NonFiniteImageError
from .image import DEFAULT_MAX_SIDE, image_to_tensor, prepare_image, tensor_to_images
from .pipeline_config import SamplingDefaults
from .rewards import Rewards
from .schedulers import build_scheduler, check_sampler
from .text import text_mask, tokenize
from .unet import RewardEditUNet

logger = logging.getLogger(__name__)

# Called after every denoising step with (steps done, total steps); returning False cancels.
StepCallback = Callable[[int, int], "bool | None"]


@dataclass
class RewardEditPipelineOutput:
    images: list[Image.Image]


@dataclass(frozen=True)
class EditRequest:
    """One edit: what `RewardEditPipeline.__call__` takes, as a unit `edit_batch` can stack.

    `rewards` None asks for no reward: the learned null condition, which stands for unlabelled rows
    and dropped rewards in training, so the model edits as one trained without rewards would.
    A guidance scale None is the checkpoint's default (`SamplingDefaults`).
    """

    image: Image.Image
    instruction: str
    rewards: Rewards | None = field(default_factory=Rewards)
    guidance_scale: float | None = None
    image_guidance_scale: float | None = None
    reward_guidance_scale: float = 1.0
    generator: torch.Generator | None = None

    def with_defaults(self, defaults: SamplingDefaults) -> EditRequest:
        """The request with every unset guidance scale taken from the checkpoint's defaults."""
        guidance, image_guidance = self.guidance_scale, self.image_guidance_scale
        return replace(
            self,
            guidance_scale=defaults.guidance_scale if guidance is None else guidance,
            image_guidance_scale=defaults.image_guidance_scale if image_guidance is None else image_guidance,
        )

    def check(self) -> None:
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise InvalidInputError("instruction must be a non-empty string")
        if self.rewards is not None and not isinstance(self.rewards, Rewards):
            raise InvalidInputError(
                f"rewards must be a Rewards instance or None, got {type(self.rewards).__name__}"
            )
        for name in ("guidance_scale", "image_guidance_scale", "reward_guidance_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")


def default_device() -> str:
    """Where a command runs when the user does not say: the GPU when there is one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device 'cuda' was asked for but no CUDA GPU is available")
    return device


class RewardEditPipeline:
    """Edits an image following an instruction, conditioned on the reward the caller asks for."""

    def __init__(self, components: Components) -> None:
        self.components = components
        self.model = RewardEditUNet.from_components(components).eval()
        components.vae.eval()
        components.text_encoder.eval()
        self.vae_scale_factor = 2 ** (len(components.vae.config.block_out_channels) - 1)

    # -- loading / saving -------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
    ) -> RewardEditPipeline:
        """Load a RewardEdit checkpoint or a plain diffusers InstructPix2Pix folder (local files only)."""
        device = resolve_device(device)
        pipe = cls(load_components(path))
        return pipe.to(device, dtype)

    def save_pretrained(self, path: str | Path) -> Path:
        return save_components(self.components, path)

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> RewardEditPipeline:
        """Move to device; dtype None means fp16 on CUDA and fp32 elsewhere."""
        device = torch.device(device)
        if dtype is None:
            dtype = torch.float16 if device.type == "cuda" else torch.float32
        for module in (self.components.vae, self.components.text_encoder, self.model):
            # Passing an unchanged dtype makes diffusers warn about upcast modules; pass only changes.
            module.to(device=device, **({} if module.dtype == dtype else {"dtype": dtype}))
        return self

    @property
    def device(self) -> torch.device:
        return self.components.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.components.unet.dtype

    @property
    def sampling_defaults(self) -> SamplingDefaults:
        """What a call that leaves steps or guidance unset gets: the checkpoint's `rewardedit.json`."""
        return self.components.config.sampling

    # -- sampling -----------------------------------------------------------------------------
    def __call__(
        self,
        image: Image.Image,
        instruction: str,
        rewards: Rewards | None = Rewards(),
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        reward_guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        max_side: int = DEFAULT_MAX_SIDE,
        callback: StepCallback | None = None,
        scheduler: str | None = None,
    ) -> RewardEditPipelineOutput:
        """One edit; `rewards` None asks for no reward (see EditRequest), `scheduler` names a sampler.

        Steps and guidance left None are the checkpoint's defaults (`sampling_defaults`): 30 steps at
        7.5 / 1.5, as InstructPix2Pix, unless its `rewardedit.json` names others.
        """
        request = EditRequest(
            image,
            instruction,
            rewards,
            guidance_scale,
            image_guidance_scale,
            reward_guidance_scale,
            generator,
        )
        return self.edit_batch([request], num_inference_steps, max_side, callback, scheduler)

    @torch.no_grad()
    def edit_batch(
        self,
        requests: Sequence[EditRequest],
        num_inference_steps: int | None = None,
        max_side: int = DEFAULT_MAX_SIDE,
        callback: StepCallback | None = None,
        scheduler: str | None = None,
    ) -> RewardEditPipelineOutput:
        """Run edits of one size together; each gives what it would alone (up to float rounding).

        Every request keeps its own instruction, reward, guidance scales and generator (its initial
        noise and each ancestral step's noise are drawn from it alone). `scheduler` names a sampler
        (`model.schedulers.SAMPLERS`); None samples with the checkpoint's own scheduler, and steps
        or guidance left None are the checkpoint's defaults, as in `__call__`.
        """
        if not requests:
            raise InvalidInputError("edit_batch needs at least one request")
        defaults = self.sampling_defaults
        requests = [request.with_defaults(defaults) for request in requests]
        if num_inference_steps is None:
            num_inference_steps = defaults.num_inference_steps
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int):
            raise InvalidInputError(
                f"num_inference_steps must be a positive integer, got {num_inference_steps!r}"
            )
        if num_inference_steps < 1:
            raise InvalidInputError(
                f"num_inference_steps must be a positive integer, got {num_inference_steps!r}"
            )
        for request in requests:
            request.check()
        c = self.components
        check_sampler(scheduler, c.scheduler)
        if not c.reward.has_null_condition and any(
            r.rewards is None or r.reward_guidance_scale != 1.0 for r in requests
        ):
            c.reward.null(len(requests))  # raises: says why this checkpoint cannot
        sources = [image_to_tensor(prepare_image(request.image, max_side)) for request in requests]
        if len({tuple(source.shape) for source in sources}) > 1:
            raise InvalidInputError("edits batched together must have the same size after resizing")
        scheduler = build_scheduler(c.scheduler, scheduler)
        batch = len(requests)
        use_reward_guidance = any(request.reward_guidance_scale != 1.0 for request in requests)

        states = self.encode_text([r.instruction for r in requests] + [""])
        instruction_states, empty_states = states[:batch], states[batch:].expand(batch, -1, -1)
        reward_condition = self.encode_rewards([r.rewards for r in requests])
        # Branch-major, in diffusers' order: [text+image, image only, neither] (+ [text+image, null reward]).
        text_states = [instruction_states, empty_states, empty_states]
        conditions = [reward_condition] * 3
        if use_reward_guidance:
            text_states.append(instruction_states)
            conditions.append(c.reward.null(batch).to(reward_condition.dtype))
        text_states = torch.cat(text_states)
        conditions = torch.cat(conditions)
        text_mask = self.text_mask([r.instruction for r in requests], branches=len(conditions) // batch)

        # The VAE may run in fp32 after an fp16 overflow (see `decode`): feed it its own dtype.
        source = torch.cat(sources).to(self.device, c.vae.dtype)
        source_latents = c.vae.encode(source).latent_dist.mode().to(self.dtype)
        image_latents = [source_latents, source_latents, torch.zeros_like(source_latents)]
        if use_reward_guidance:
            image_latents.append(source_latents)
        image_latents = torch.cat(image_latents)

        # Latents, guidance and scheduler steps stay in fp32 whatever the model's dtype: the noise a
        # seed gives is then the same in fp16 and fp32 (torch's CPU generator draws fp16 differently
        # in some versions), and rounding does not build up over the steps. Only the U-Net runs in fp16.
        scales = torch.tensor(
            [[r.guidance_scale, r.image_guidance_scale, r.reward_guidance_scale] for r in requests],
            device=self.device,
        )[:, :, None, None, None].unbind(1)
        generators = self._generators(requests)
        # Only stochastic samplers take a generator (diffusers' pipelines ask the signature too).
        stochastic = "generator" in inspect.signature(scheduler.step).parameters
        step_kwargs = {"generator": generators} if stochastic else {}
        scheduler.set_timesteps(num_inference_steps, device=self.device)
        shape = (batch, c.vae.config.latent_channels, *source_latents.shape[-2:])
        latents = randn_tensor(shape, generator=generators, device=self.device, dtype=torch.float32)
        latents = latents * scheduler.init_noise_sigma
        branches = image_latents.shape[0] // batch
        total = len(scheduler.timesteps)
        for step, t in enumerate(scheduler.timesteps):
            model_input = scheduler.scale_model_input(latents.repeat(branches, 1, 1, 1), t).to(self.dtype)
            model_input = torch.cat([model_input, image_latents], dim=1)
            noise = self.model(model_input, t, text_states, conditions, text_mask)
            noise_pred = self.combine_guidance(noise.unflatten(0, (branches, batch)).float(), *scales)
            latents = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=False)[0]
            if callback is not None and callback(step + 1, total) is False:
                raise EditCanceled(step + 1, total)
        return RewardEditPipelineOutput(images=tensor_to_images(self.decode(latents)))

    @staticmethod
    def _generators(requests: Sequence[EditRequest]) -> list[torch.Generator]:
        """One generator per request; a request without one gets a freshly seeded CPU generator."""
        generators = []
        for request in requests:
            generator = request.generator
            if generator is None:
                generator = torch.Generator()
                generator.seed()
            generators.append(generator)
        return generators

    @staticmethod
    def combine_guidance(
        noise: torch.Tensor,
        guidance_scale: torch.Tensor | float,
        image_guidance_scale: torch.Tensor | float,
        reward_guidance_scale: torch.Tensor | float,
    ) -> torch.Tensor:
        """eps(0,0) + g_T (eps(T,I) - eps(0,I)) + g_I (eps(0,I) - eps(0,0)) [+ (g_R - 1)(eps_R - eps_R0)].

        `noise` is (branches, batch, C, H, W); scales are floats or (batch, 1, 1, 1) tensors.
        """
        text, image, uncond = noise[:3]
        combined = uncond + guidance_scale * (text - image) + image_guidance_scale * (image - uncond)
        if noise.shape[0] == 4:
            combined = combined + (reward_guidance_scale - 1.0) * (text - noise[3])
        return combined

    def encode_rewards(self, rewards: Sequence[Rewards | None]) -> torch.Tensor:
        """c_R for each request; None gets the learned null reward (where the checkpoint has one)."""
        reward = self.components.reward
        given = [r or Rewards() for r in rewards]  # placeholders where the null reward goes
        ids = tokenize(self.components.tokenizer, [reward.prompt(r) for r in given]).to(self.device)
        features = reward.text_features(self.components.text_encoder(ids)).to(self.dtype)
        scores = torch.tensor([r.scores for r in given], device=self.device)
        condition = reward.condition(features, scores)
        no_reward = torch.tensor([r is None for r in rewards], device=self.device)
        if not no_reward.any():
            return condition
        null = reward.null(len(rewards)).to(condition.dtype)
        return torch.where(no_reward.view(-1, *[1] * (condition.dim() - 1)), null, condition)

    def text_mask(self, instructions: list[str], branches: int) -> torch.Tensor | None:
        """The branches' cross-attention masks, in `text_states`' order; None where the model reads all."""
        c = self.components
        if not c.config.mask_text_padding:
            return None
        ids = tokenize(c.tokenizer, [*instructions, ""]).to(self.device)
        mask = text_mask(ids, c.tokenizer.eos_token_id)
        instruction, empty = mask[:-1], mask[-1:].expand(len(instructions), -1)
        return torch.cat([instruction, empty, empty, instruction][:branches])

    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Frozen text encoder's last hidden states for the prompts, 77 tokens each."""
        ids = tokenize(self.components.tokenizer, prompts).to(self.device)
        return self.components.text_encoder(ids)[0].to(self.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """VAE decode; an fp16 overflow (NaN/inf) is retried with the VAE upcast to fp32."""
        vae = self.components.vae
        if not torch.isfinite(latents).all():
            raise NonFiniteImageError(
                "the U-Net produced non-finite latents; the checkpoint is unusable in this dtype"
            )
        images = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
        if not torch.isfinite(images).all() and vae.dtype != torch.float32:
            logger.warning("VAE decode overflowed in %s; upcasting the VAE to fp32 from now on", vae.dtype)
            vae.to(torch.float32)
            images = vae.decode(latents.float() / vae.config.scaling_factor, return_dict=False)[0]
        if not torch.isfinite(images).all():
            raise NonFiniteImageError("the decoded image holds NaN or infinite values")
        return images
