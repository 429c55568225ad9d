"""A checkpoint the trainer writes serves a job through Redis and `rewardedit worker`."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from api.local_stack import RedisServer, Service, Worker
from model import RewardEditPipeline, Rewards
from training import Trainer

from .helpers import tiny_config

FIELDS = {"instruction": "invert the blue channel", "following": "3.5", "steps": "4", "seed": "11"}


@pytest.mark.slow
def test_trained_checkpoint_serves_a_job_through_the_worker(manifest, tmp_path, source_image):
    final = Trainer(tiny_config(manifest, tmp_path / "run", max_steps=8, validate_every=0)).fit()

    redis = RedisServer(tmp_path / "redis").start()
    settings = {
        "REWARDEDIT_BROKER_URL": redis.url,
        "REWARDEDIT_NAMESPACE": "training-test",
        "REWARDEDIT_DATA_DIR": str(tmp_path / "data"),
        # The thread count of this process, which computes the expected pixels: they depend on it.
        "REWARDEDIT_TORCH_THREADS": str(torch.get_num_threads()),
    }
    processes = [redis]
    try:
        processes.append(Worker(tmp_path, settings, final))
        service = Service(tmp_path, settings, final)
        processes.append(service)
        service.wait_ready()
        png = io.BytesIO()
        source_image.save(png, format="PNG")
        response = httpx.post(
            f"{service.url}/edit",
            data=FIELDS,
            files={"image": ("source.png", png.getvalue(), "image/png")},
            headers={"Prefer": "wait=60"},
            timeout=90,
        )
        assert response.status_code == 200, response.text
        job = response.json()
        assert job["status"] == "succeeded", job
        result = httpx.get(f"{service.url}{job['result_url']}", timeout=30)
        assert result.status_code == 200
        served = Image.open(io.BytesIO(result.content)).convert("RGB")
    finally:
        for process in reversed(processes):
            process.stop()

    expected = RewardEditPipeline.from_pretrained(final)(
        image=source_image,
        instruction=FIELDS["instruction"],
        rewards=Rewards(following=3.5),
        num_inference_steps=4,
        generator=torch.Generator().manual_seed(11),
    ).images[0]
    assert np.array_equal(np.asarray(served), np.asarray(expected))
