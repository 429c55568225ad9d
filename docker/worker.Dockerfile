# A GPU worker (`rewardedit worker --device cuda`): PyTorch's official CUDA runtime image, whose
# CUDA build of torch already satisfies the project's `torch>=2.4`, so pip keeps it. The model
# runs in fp16 on the one GPU that pick-gpu gives the process. torch.compile (the worker's default
# on CUDA) needs a C compiler: Triton builds its kernel launchers with it. Compiled kernels go to
# /cache/compile, a volume, so a restarted worker warms up from them instead of compiling again.
ARG BASE_IMAGE=pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    REWARDEDIT_DATA_DIR=/data \
    HF_HOME=/cache/huggingface \
    TORCHINDUCTOR_CACHE_DIR=/cache/compile/inductor \
    TRITON_CACHE_DIR=/cache/compile/triton

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

COPY . /src
RUN pip install /src \
    && install -m 0755 /src/docker/pick-gpu.sh /usr/local/bin/pick-gpu \
    && rm -rf /src \
    && useradd --create-home rewardedit \
    && mkdir -p /data /cache/huggingface /cache/compile /var/lock/rewardedit \
    && chown rewardedit /data /cache/huggingface /cache/compile /var/lock/rewardedit

USER rewardedit
WORKDIR /home/rewardedit
ENTRYPOINT ["pick-gpu"]
CMD ["rewardedit", "worker", "--device", "cuda"]
