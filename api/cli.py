"""`rewardedit serve` (the API, embedded mode without a broker URL) and `rewardedit bench-service`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rewardedit.console import fail

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the editing service's HTTP API")
    serve.add_argument(
        "--model",
        type=Path,
        default=None,
        help="checkpoint folder (default: the settings' model path, else the demo checkpoint)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=serve_command)

    bench = subparsers.add_parser("bench-service", help="load-test the service over HTTP (not a test)")
    bench.add_argument("--url", default=None, help="a running service (default: start one on loopback)")
    bench.add_argument("--clients", type=int, default=4, help="concurrent clients")
    bench.add_argument("--jobs", type=int, default=40, help="jobs per phase")
    bench.add_argument("--steps", type=int, default=5)
    bench.add_argument("--size", type=int, default=64, help="source image side, px")
    bench.add_argument("--broker", action="store_true", help="own stack: Redis + one worker, not embedded")
    bench.add_argument("--model", type=Path, default=None, help="own stack's checkpoint (default: tiny)")
    bench.add_argument("--api-key", default=None)
    bench.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    bench.set_defaults(func=bench_command)


def serve_command(args: argparse.Namespace) -> int:
    from model import CheckpointError
    from model.checkpoint import check_folder
    from worker.settings import Settings

    from .app import create_app
    from .server import serve

    settings = Settings(**({"model_path": args.model} if args.model is not None else {}))
    if not settings.embedded:
        logger.info("broker mode: jobs go to `rewardedit worker` processes; this process loads no model")
    elif settings.model_path is not None:
        try:
            check_folder(settings.model_path)
        except CheckpointError as exc:
            return fail(str(exc))
    serve(create_app(settings), args.host, args.port)
    return 0


def bench_command(args: argparse.Namespace) -> int:
    import json

    from .bench import BenchConfig, format_report, run_bench

    if args.clients < 1 or args.jobs < args.clients:
        return fail("need --clients >= 1 and --jobs >= --clients")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the report
    result = run_bench(
        BenchConfig(
            url=args.url,
            clients=args.clients,
            jobs=args.jobs,
            steps=args.steps,
            size=args.size,
            broker=args.broker,
            model=args.model,
            api_key=args.api_key,
        )
    )
    print(format_report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
