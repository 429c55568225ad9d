# The HTTP API (`rewardedit serve`). With a broker URL it loads no model, but it imports the
# package and so torch: the CPU build, a fraction of the CUDA build's size. The optional Flower
# queue monitor runs on this image too.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REWARDEDIT_DATA_DIR=/data

# torch first, from the CPU index, so that the project's `torch>=2.4` is already satisfied.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.4"
COPY . /src
RUN pip install /src "flower>=2.0,<3" \
    && rm -rf /src \
    && useradd --create-home rewardedit \
    && mkdir -p /data \
    && chown rewardedit /data

USER rewardedit
WORKDIR /home/rewardedit
EXPOSE 8000
CMD ["rewardedit", "serve", "--host", "0.0.0.0", "--port", "8000"]
