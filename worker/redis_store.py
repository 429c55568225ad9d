"""The job store on Redis: one JSON string per job, blobs as strings, all under `<namespace>:` keys.

Every record change is an optimistic transaction (WATCH the record, apply the change, MULTI/EXEC),
so the state machine in jobs.py is written once for both stores; the same transaction keeps the
indexes in step with the record: the queue, the running jobs by lease end, the jobs whose message
is not sent yet, and each owner's unfinished jobs. A new job is admitted and stored by one Lua
script instead, so that the limits hold under any number of concurrent submissions, without the
retries a WATCH on the busy queue would cost.

Workers' calls retry for about 10 s on connection errors, which carries them over a Redis restart;
the API's give up after about a second and answer 503 (`Patience`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from .jobs import QUEUED, RUNNING, JobRecord
from .store import Change, JobStore, LimitReached, Limits, StoreUnavailable

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)


@dataclass(frozen=True)
class Patience:
    """How long one store call keeps trying before it raises StoreUnavailable."""

    retries: int
    connect_timeout_s: float
    read_timeout_s: float


# Workers ride out a Redis restart: about 10 s of retries, longer than a restart takes.
WORKER_PATIENCE = Patience(retries=14, connect_timeout_s=5, read_timeout_s=30)
# The API fails fast: within about a second, and its client gets a 503 with Retry-After.
API_PATIENCE = Patience(retries=1, connect_timeout_s=0.5, read_timeout_s=2)

# KEYS: record, queue, owner's unfinished jobs, undispatched, idempotency key ("" for none), blobs...
# ARGV: id, record JSON, created_at, ttl_s, queued limit, per-owner limit (0: none), the created_at
# before which records have expired, the records' key prefix, now, blob data...
INSERT = """
if KEYS[5] ~= "" then
  local existing = redis.call("GET", KEYS[5])
  local record = existing and redis.call("GET", ARGV[8] .. existing)
  if record then return {"existing", record} end
end
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", "(" .. ARGV[7])
if redis.call("ZCARD", KEYS[2]) >= tonumber(ARGV[5]) then return {"queued"} end
if tonumber(ARGV[6]) > 0 then
  redis.call("ZREMRANGEBYSCORE", KEYS[3], "-inf", "(" .. ARGV[7])
  if redis.call("ZCARD", KEYS[3]) >= tonumber(ARGV[6]) then return {"per_owner"} end
end
redis.call("SET", KEYS[1], ARGV[2], "EX", ARGV[4])
for i = 6, #KEYS do redis.call("SET", KEYS[i], ARGV[i + 4], "EX", ARGV[4]) end
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[1])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
redis.call("EXPIRE", KEYS[3], ARGV[4])
redis.call("ZADD", KEYS[4], ARGV[9], ARGV[1])
if KEYS[5] ~= "" then redis.call("SET", KEYS[5], ARGV[1], "EX", ARGV[4]) end
return {"stored"}
"""


class RedisJobStore(JobStore):
    def __init__(self, url: str, namespace: str, ttl_s: int, patience: Patience = WORKER_PATIENCE) -> None:
        self._redis = redis.Redis.from_url(
            url,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), patience.retries),
            retry_on_error=list(CONNECTION_ERRORS),
            socket_connect_timeout=patience.connect_timeout_s,
            socket_timeout=patience.read_timeout_s,
            health_check_interval=30,
        )
        # Health queries fail fast instead of waiting out the retries.
        self._probe = redis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2, socket_timeout=2
        )
        self._namespace = namespace
        self._ttl_s = ttl_s
        self._insert = self._redis.register_script(INSERT)

    def _key(self, *parts: str) -> str:
        return ":".join((self._namespace, *parts))

    @contextmanager
    def _available(self) -> Iterator[None]:
        try:
            yield
        except CONNECTION_ERRORS as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc

    def insert(
        self, job: JobRecord, blobs: Mapping[str, bytes], idempotency_key: str | None, limits: Limits
    ) -> JobRecord:
        idem = ""
        if idempotency_key is not None:
            idem = self._key("idem", job.owner, hashlib.sha256(idempotency_key.encode()).hexdigest())
        keys = [self._key("job", job.id), self._key("queue"), self._key("owner", job.owner)]
        keys += [self._key("undispatched"), idem, *(self._key("blob", key) for key in blobs)]
        now = time.time()
        args = [job.id, job.to_json(), job.created_at, self._ttl_s, limits.queued, limits.per_owner or 0]
        args += [now - self._ttl_s, self._key("job", ""), now, *blobs.values()]
        with self._available():
            outcome, *rest = self._insert(keys=keys, args=args)
        if outcome == b"existing":
            return JobRecord.from_json(rest[0])
        if outcome != b"stored":
            limit = outcome.decode()
            raise LimitReached(limit, getattr(limits, limit))
        return job

    def get(self, job_id: str) -> JobRecord | None:
        with self._available():
            raw = self._redis.get(self._key("job", job_id))
        return JobRecord.from_json(raw) if raw is not None else None

    def update(
        self, job_id: str, change: Change, put: Mapping[str, bytes] | None = None, delete: Iterable[str] = ()
    ) -> JobRecord | None:
        job_key = self._key("job", job_id)
        delete = list(delete)

        def apply(pipe: redis.client.Pipeline) -> JobRecord | None:
            raw = pipe.get(job_key)
            if raw is None:
                pipe.multi()
                for index in ("queue", "leases", "undispatched"):  # an expired job holds no place
                    pipe.zrem(self._key(index), job_id)
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
            self._index(pipe, job, new)
            for key, data in (put or {}).items():
                pipe.set(self._key("blob", key), data, ex=self._ttl_s)
            if delete:
                pipe.delete(*(self._key("blob", key) for key in delete))
            return new

        with self._available():
            return self._redis.transaction(apply, job_key, value_from_callable=True)

    def _index(self, pipe: redis.client.Pipeline, job: JobRecord, new: JobRecord) -> None:
        """Keep the indexes in step with a record change, inside its transaction."""
        if new.status == QUEUED and job.status != QUEUED:  # requeued: its message is still to be sent
            pipe.zadd(self._key("queue"), {new.id: new.created_at})
            pipe.zadd(self._key("undispatched"), {new.id: time.time()})
        elif job.status == QUEUED and new.status != QUEUED:
            pipe.zrem(self._key("queue"), new.id)
            pipe.zrem(self._key("undispatched"), new.id)
        if new.status == RUNNING and (job.status != RUNNING or new.lease_until != job.lease_until):
            pipe.zadd(self._key("leases"), {new.id: new.lease_until})
        elif job.status == RUNNING and new.status != RUNNING:
            pipe.zrem(self._key("leases"), new.id)
        if new.finished and not job.finished:
            pipe.zrem(self._key("owner", new.owner), new.id)

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

    def abandoned(self, now: float, limit: int) -> list[JobRecord]:
        with self._available():
            ended = self._redis.zrangebyscore(self._key("leases"), "-inf", f"({now}", 0, limit)
            ids = [member.decode() for member in ended]
            raws = self._redis.mget([self._key("job", job_id) for job_id in ids]) if ids else []
            gone = [job_id for job_id, raw in zip(ids, raws, strict=True) if raw is None]
            if gone:
                self._redis.zrem(self._key("leases"), *gone)
        jobs = (JobRecord.from_json(raw) for raw in raws if raw is not None)
        return [job for job in jobs if job.status == RUNNING and job.lease_until < now]

    def undispatched(self, limit: int) -> list[tuple[str, float]]:
        with self._available():
            entries = self._redis.zrange(self._key("undispatched"), 0, limit - 1, withscores=True)
        return [(member.decode(), since) for member, since in entries]

    def mark_dispatched(self, job_id: str) -> None:
        with self._available():
            self._redis.zrem(self._key("undispatched"), job_id)

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
