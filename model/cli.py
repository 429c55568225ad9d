"""`rewardedit make-model`, `rewardedit export-model`, `rewardedit edit` and `rewardedit bench`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rewardedit.console import fail

from .errors import CheckpointError, InvalidInputError
from .pipeline_config import PipelineConfig
from .presets import PRESETS, REWARD_ARCHITECTURES
from .schedulers import SAMPLERS


def add_scheduler_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        choices=list(SAMPLERS),
        default=None,
        help="sampler (default: the one the checkpoint's scheduler/ folder names)",
    )


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """--steps and the two guidance scales; unset, they are the checkpoint's (SamplingDefaults)."""
    default = "default: the checkpoint's own, {} unless its rewardedit.json names another"
    parser.add_argument("--steps", type=int, default=None, help=default.format(30))
    parser.add_argument("--guidance-scale", type=float, default=None, help=default.format(7.5))
    parser.add_argument("--image-guidance-scale", type=float, default=None, help=default.format(1.5))


def register(subparsers: argparse._SubParsersAction) -> None:
    make = subparsers.add_parser(
        "make-model", help="write a randomly initialised preset checkpoint (offline)"
    )
    make.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    make.add_argument("--preset", choices=sorted(PRESETS), required=True)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument(
        "--reward-architecture",
        choices=REWARD_ARCHITECTURES,
        default="rewardedit",
        help="reward condition: ours (zero-initialised) or the paper's released one",
    )
    make.set_defaults(func=make_model_command)

    export = subparsers.add_parser(
        "export-model",
        help="rewrite any folder --model reads (ours, a plain InstructPix2Pix, the released "
        "Reward-InsPix2Pix) as our checkpoint layout, its weights in another dtype (fp16 halves it)",
    )
    export.add_argument("model", type=Path, metavar="MODEL", help="checkpoint folder to read")
    export.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    export.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16")
    for flag, kind, what in (
        ("steps", int, "denoising steps"),
        ("guidance-scale", float, "instruction guidance"),
        ("image-guidance-scale", float, "source image guidance"),
    ):
        export.add_argument(
            f"--default-{flag}",
            type=kind,
            default=None,
            help=f"the {what} an edit gets when it sets none (default: MODEL's own)",
        )
    export.set_defaults(func=export_model_command)

    edit = subparsers.add_parser("edit", help="edit one image following an instruction")
    edit.add_argument("input", type=Path, metavar="INPUT")
    edit.add_argument("--instruction", required=True)
    edit.add_argument("--out", type=Path, required=True, help="output PNG path")
    edit.add_argument("--model", type=Path, required=True, help="checkpoint folder")
    for name in ("following", "preserving", "quality"):
        edit.add_argument(f"--{name}", type=float, default=5.0, help=f"{name} score in [0, 5]")
        edit.add_argument(f"--{name}-text", default="None", help=f"what should be wrong in {name} ('None')")
    add_sampling_arguments(edit)
    edit.add_argument("--reward-guidance-scale", type=float, default=1.0)
    add_scheduler_argument(edit)
    edit.add_argument("--seed", type=int, default=0)
    edit.add_argument("--max-side", type=int, default=512)
    edit.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    edit.set_defaults(func=edit_command)

    bench = subparsers.add_parser(
        "bench",
        help="time our pipeline (eager, reward-guided, batched, optimised) against diffusers' "
        "StableDiffusionInstructPix2PixPipeline on the same weights",
    )
    bench.add_argument("--model", type=Path, default=None, help="checkpoint folder (default: build --preset)")
    bench.add_argument("--preset", choices=sorted(PRESETS), default="sd15")
    bench.add_argument(
        "--reward-architecture",
        choices=REWARD_ARCHITECTURES,
        default="rewardedit",
        help="reward condition of the --preset model: ours or the paper's released one",
    )
    bench.add_argument("--resolution", type=int, default=512)
    bench.add_argument("--steps", type=int, default=30)
    bench.add_argument("--runs", type=int, default=5, help="timed runs per variant")
    bench.add_argument("--warmup", type=int, default=1, help="untimed runs per variant before those")
    bench.add_argument("--device", default=None)
    bench.add_argument("--batch-size", type=int, default=8, help="requests in the batched variants")
    bench.add_argument(
        "--reward-guidance-scale", type=float, default=2.0, help="of the reward-guided variant"
    )
    bench.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the optimised variants (default: on CUDA only)",
    )
    bench.add_argument("--compile-mode", default="reduce-overhead", help="torch.compile mode")
    bench.add_argument("--unet-calls", type=int, default=10, help="timed U-Net calls per U-Net figure")
    bench.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    bench.add_argument("--markdown", type=Path, default=None, help="also write the tables here")
    bench.set_defaults(func=bench_command)


def make_model_command(args: argparse.Namespace) -> int:
    from .presets import make_model

    path = make_model(args.preset, args.out_dir, seed=args.seed, reward_architecture=args.reward_architecture)
    print(f"wrote {args.preset} checkpoint to {path}")
    return 0


def export_model_command(args: argparse.Namespace) -> int:
    import torch

    from .pipeline import RewardEditPipeline

    if args.out_dir.resolve() == args.model.resolve():
        return fail("OUT_DIR must differ from MODEL, so that a failed write cannot lose the checkpoint")
    try:
        pipe = RewardEditPipeline.from_pretrained(args.model, device="cpu", dtype=getattr(torch, args.dtype))
        pipe.components.config = with_sampling_defaults(pipe.components.config, args)
    except (CheckpointError, ValueError) as exc:
        return fail(str(exc))
    pipe.save_pretrained(args.out_dir)
    print(f"wrote {args.model} in {args.dtype} to {args.out_dir}")
    return 0


def with_sampling_defaults(config: PipelineConfig, args: argparse.Namespace) -> PipelineConfig:
    """The checkpoint's options with the sampling defaults that export-model's --default-* flags set."""
    given = {
        "num_inference_steps": args.default_steps,
        "guidance_scale": args.default_guidance_scale,
        "image_guidance_scale": args.default_image_guidance_scale,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    return replace(config, sampling=replace(config.sampling, **changes))


def edit_command(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from .image import load_image
    from .pipeline import RewardEditPipeline, default_device
    from .rewards import Rewards

    if args.out.suffix.lower() != ".png":
        return fail(f"--out must name a .png file, got {str(args.out)!r}")
    try:
        rewards = Rewards(
            following=args.following,
            preserving=args.preserving,
            quality=args.quality,
            following_text=args.following_text,
            preserving_text=args.preserving_text,
            quality_text=args.quality_text,
        )
        image = load_image(args.input)
        pipe = RewardEditPipeline.from_pretrained(args.model, device=args.device or default_device())
        steps = pipe.sampling_defaults.num_inference_steps if args.steps is None else args.steps
        with tqdm(total=steps, desc="editing", unit="step") as bar:
            out = pipe(
                image=image,
                instruction=args.instruction,
                rewards=rewards,
                num_inference_steps=steps,
                guidance_scale=args.guidance_scale,
                image_guidance_scale=args.image_guidance_scale,
                reward_guidance_scale=args.reward_guidance_scale,
                generator=torch.Generator().manual_seed(args.seed),
                max_side=args.max_side,
                callback=lambda step, total: bar.update(step - bar.n),
                scheduler=args.scheduler,
            )
    except (InvalidInputError, CheckpointError) as exc:
        return fail(str(exc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.images[0].save(args.out)
    print(f"wrote {args.out} ({out.images[0].width}x{out.images[0].height})")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    import json

    from .benchmark import BenchConfig, format_markdown, run_benchmark
    from .pipeline import default_device

    try:
        result = run_benchmark(
            BenchConfig(
                model=args.model,
                preset=args.preset,
                reward_architecture=args.reward_architecture,
                resolution=args.resolution,
                steps=args.steps,
                runs=args.runs,
                warmup=args.warmup,
                device=args.device or default_device(),
                batch_size=args.batch_size,
                reward_guidance_scale=args.reward_guidance_scale,
                compile=args.compile,
                compile_mode=args.compile_mode,
                unet_calls=args.unet_calls,
            )
        )
    except (InvalidInputError, CheckpointError) as exc:
        return fail(str(exc))
    tables = format_markdown(result)
    print(tables)
    for path, text in ((args.json, json.dumps(result, indent=2)), (args.markdown, tables)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n")
    return 0
