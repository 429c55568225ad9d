"""The job store on Redis: one JSON string per job, blobs as strings, all under `<namespace>:` keys.

Every record change is an optimistic transaction (WATCH the record, apply the change, MULTI/EXEC),
so the state machine in jobs.py is written once for both stores. The client retries for a few
seconds on connection errors, which carries API and workers over a Redis restart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from .jobs import QUEUED, JobRecord
from .store import Change, JobStore, StoreUnavailable

# About 10 s of retries in all: longer than a Redis restart, shorter than an HTTP client's patience.
RETRIES = 14
CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)


class RedisJobStore(JobStore):
    def __init__(self, url: str, namespace: str, ttl_s: int) -> None:
        self._redis = redis.Redis.from_url(
            url,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), RETRIES),
            retry_on_error=list(CONNECTION_ERRORS),
            socket_connect_timeout=5,
            socket_timeout=30,
            health_check_interval=30,
        )
        # Health queries fail fast instead of waiting out the retries.
        self._probe = redis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2, socket_timeout=2
        )
        self._namespace = namespace
        self._ttl_s = ttl_s

    def _key(self, *parts: str) -> str:
        return ":".join((self._namespace, *parts))

    @contextmanager
    def _available(self) -> Iterator[None]:
        try:
            yield
        except CONNECTION_ERRORS as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc

    def insert(self, job: JobRecord, blobs: Mapping[str, bytes], idempotency_key: str | None) -> JobRecord:
        idem = None
        if idempotency_key is not None:
            idem = self._key("idem", job.owner, hashlib.sha256(idempotency_key.encode()).hexdigest())

        def write(pipe: redis.client.Pipeline) -> JobRecord:
            if idem is not None:
                existing_id = pipe.get(idem)
                existing = existing_id and pipe.get(self._key("job", existing_id.decode()))
                if existing:
                    return JobRecord.from_json(existing)
            pipe.multi()
            pipe.set(self._key("job", job.id), job.to_json(), ex=self._ttl_s)
            for key, data in blobs.items():
                pipe.set(self._key("blob", key), data, ex=self._ttl_s)
            pipe.zadd(self._key("queue"), {job.id: job.created_at})
            if idem is not None:
                pipe.set(idem, job.id, ex=self._ttl_s)
            return job

        watches = [idem] if idem is not None else []
        with self._available():
            return self._redis.transaction(write, *watches, value_from_callable=True)

    def get(self, job_id: str) -> JobRecord | None:
        with self._available():
            raw = self._redis.get(self._key("job", job_id))
        return JobRecord.from_json(raw) if raw is not None else None

    def update(
        self, job_id: str, change: Change, put: Mapping[str, bytes] | None = None, delete: Iterable[str] = ()
    ) -> JobRecord | None:
        job_key, queue_key = self._key("job", job_id), self._key("queue")
        delete = list(delete)

        def apply(pipe: redis.client.Pipeline) -> JobRecord | None:
            raw = pipe.get(job_key)
            if raw is None:
                pipe.multi()
                pipe.zrem(queue_key, job_id)  # an expired job must not hold a queue position
                return None
            job = JobRecord.from_json(raw)
            new = change(job)
            if new is None:
                return None
            pipe.multi()
            if new.finished:
                pipe.set(job_key, new.to_json(), ex=self._ttl_s)
            else:
                pipe.set(job_key, new.to_json(), keepttl=True)
            if job.status == QUEUED and new.status != QUEUED:
                pipe.zrem(queue_key, job_id)
            for key, data in (put or {}).items():
                pipe.set(self._key("blob", key), data, ex=self._ttl_s)
            if delete:
                pipe.delete(*(self._key("blob", key) for key in delete))
            return new

        with self._available():
            return self._redis.transaction(apply, job_key, value_from_callable=True)

    def get_blob(self, key: str) -> bytes | None:
        with self._available():
            return self._redis.get(self._key("blob", key))

    def queue_position(self, job_id: str) -> int | None:
        with self._available():
            rank = self._redis.zrank(self._key("queue"), job_id)
        return None if rank is None else rank + 1

    def queue_length(self) -> int:
        with self._available():
            return self._redis.zcard(self._key("queue"))

    def queued(self, limit: int) -> list[JobRecord]:
        with self._available():
            ids = [member.decode() for member in self._redis.zrange(self._key("queue"), 0, limit - 1)]
            raws = self._redis.mget([self._key("job", job_id) for job_id in ids]) if ids else []
        jobs = (JobRecord.from_json(raw) for raw in raws if raw is not None)
        return [job for job in jobs if job.status == QUEUED]

    def announce_worker(self, worker_id: str, info: Mapping[str, Any], ttl_s: float) -> None:
        with self._available():
            pipe = self._redis.pipeline()
            pipe.sadd(self._key("workers"), worker_id)
            pipe.set(self._key("worker", worker_id), json.dumps(dict(info)), px=int(ttl_s * 1000))
            pipe.execute()

    def workers(self) -> list[dict[str, Any]]:
        with self._available():
            ids = sorted(member.decode() for member in self._probe.smembers(self._key("workers")))
            if not ids:
                return []
            infos = self._probe.mget([self._key("worker", worker_id) for worker_id in ids])
            gone = [worker_id for worker_id, info in zip(ids, infos, strict=True) if info is None]
            if gone:
                self._probe.srem(self._key("workers"), *gone)
        return [json.loads(info) for info in infos if info is not None]

    def ping(self) -> None:
        with self._available():
            self._probe.ping()

    def close(self) -> None:
        self._redis.close()
        self._probe.close()
