"""What every subcommand shares: one way to report a usage error."""

from __future__ import annotations

import sys

EXIT_USAGE = 2


def fail(message: str) -> int:
    """Print `rewardedit: error: MESSAGE` to stderr; the exit status for a bad invocation or input."""
    print(f"rewardedit: error: {message}", file=sys.stderr)
    return EXIT_USAGE
