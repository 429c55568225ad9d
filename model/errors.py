"""Errors the model package raises for bad inputs, so callers (CLI, service) can map them to 4xx."""


class InvalidInputError(ValueError):
    """An input to the pipeline is unusable (bad image, empty instruction, score out of range...)."""


class CheckpointError(ValueError):
    """A model folder is missing or is not a RewardEdit / InstructPix2Pix checkpoint."""


class EditCanceled(RuntimeError):
    """The per-step callback asked the sampling loop to stop."""

    def __init__(self, step: int, total: int) -> None:
        super().__init__(f"edit canceled after step {step} of {total}")
        self.step = step
        self.total = total


class NonFiniteImageError(RuntimeError):
    """The decoded image still holds NaN/inf after the fp32 retry: the weights produce garbage."""
