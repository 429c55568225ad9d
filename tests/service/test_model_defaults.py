"""Steps and guidance a request leaves unset are the served checkpoint's own, filled in by its worker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from api.admission import expected_steps
from api.schemas import EditForm
from model import RewardEditPipeline
from model.pipeline_config import CONFIG_NAME
from worker.jobs import RUNNING, SUCCEEDED, claim, new_job, with_defaults

from .helpers import reference_edit
from .test_batching import assert_same_image, queue_job, runner_for, stored_result

OWN = {"steps": 2, "guidance_scale": 3.0, "image_guidance_scale": 1.0}


@pytest.fixture(scope="module")
def own_pipe(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> RewardEditPipeline:
    """The tiny model with sampling defaults of its own (rewardedit.json), as a worker loads it."""
    folder = shutil.copytree(tiny_checkpoint, tmp_path_factory.mktemp("own") / "ckpt")
    sampling = {"num_inference_steps": 2, "guidance_scale": 3.0, "image_guidance_scale": 1.0}
    (folder / CONFIG_NAME).write_text(json.dumps({"sampling": sampling}))
    return RewardEditPipeline.from_pretrained(folder)


def test_unset_params_wait_for_the_worker_and_set_ones_are_kept():
    params = EditForm(instruction="x", guidance_scale=5.0).model_dump(exclude={"seed"})
    job = new_job("owner", params, seed=1, now=1.0, size=(64, 64))
    assert (job.params["steps"], job.params["image_guidance_scale"], job.total) == (None, None, 0)
    running = claim(job, "w1", now=2.0, lease_s=5, defaults=OWN)
    assert running.status == RUNNING and running.total == 2
    assert {name: running.params[name] for name in OWN} == {**OWN, "guidance_scale": 5.0}
    assert with_defaults(running, {"steps": 30}) == running  # filled once: a takeover keeps them


def test_the_cost_check_counts_the_served_models_default_steps():
    unset, set_ = EditForm(instruction="x"), EditForm(instruction="x", steps=7)
    assert expected_steps(unset, []) == 30  # none announced yet: InstructPix2Pix's
    assert expected_steps(unset, [{"sampling": OWN}, {"sampling": {**OWN, "steps": 12}}]) == 12
    assert expected_steps(set_, [{"sampling": OWN}]) == 7


def test_a_worker_edits_unset_requests_with_its_checkpoints_defaults(local_store, own_pipe, source_image):
    runner = runner_for(local_store, own_pipe)
    assert runner.info()["model"]["sampling"] == OWN  # what /healthz shows and the page fills in
    unset, unset_fields = queue_job(local_store, source_image, seed=1)
    explicit, explicit_fields = queue_job(local_store, source_image, seed=2, **OWN)
    louder, louder_fields = queue_job(local_store, source_image, seed=3, guidance_scale=6.0)
    other_steps, _ = queue_job(local_store, source_image, seed=4, steps=3)

    assert runner.run(unset.id) == SUCCEEDED
    for job, fields in ((unset, unset_fields), (explicit, explicit_fields), (louder, louder_fields)):
        record = local_store.get(job.id)
        # One batch: unset steps are the checkpoint's 2, so they batch with an explicit 2.
        assert (record.status, record.batch_size, record.total) == (SUCCEEDED, 3, 2)
        ran = {name: fields.get(name, default) for name, default in OWN.items()}
        assert {name: record.params[name] for name in OWN} == ran
        expected = reference_edit(own_pipe, source_image, {**fields, **ran})
        assert_same_image(stored_result(local_store, job.id), expected)
    assert local_store.get(other_steps.id).status == "queued"
