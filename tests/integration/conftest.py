"""A real `celery worker` process against the real Redis and the PostgreSQL test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import kombu.pools
import psycopg
import pytest
import redis
from django.db import connection

from config.celery import app as celery_app
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], object], timeout: float = 30, message: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or condition}")


def use_broker(url: str) -> None:
    """Point this (test) process's Celery app at ``url``, dropping pooled connections."""
    celery_app.conf.broker_url = url
    kombu.pools.reset()  # connection and producer pools are cached per broker URL
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def kill(self) -> None:
        """SIGKILL the worker and its pool children, as a crashed machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def database_url() -> str:
    """Return the URL of the test database, for processes and connections outside Django's."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{quote(db['USER'], safe='')}{password}@{host}:{port}/{db['NAME']}"


class TableLock:
    """An EXCLUSIVE lock on a table, held by a second connection until released.

    Reads of the table go on; writes (a worker persisting a snapshot) wait for the lock, so a
    run can be stopped mid-way from the test without any hook in the code under test.
    """

    def __init__(self, table: str) -> None:
        self.connection = psycopg.connect(database_url())
        self.connection.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

    def waiters(self) -> int:
        """Return how many database sessions are waiting for this lock."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                [self.connection.info.backend_pid],
            )
            return cursor.fetchone()[0]

    def release(self) -> None:
        if not self.connection.closed:
            self.connection.rollback()
            self.connection.close()


@pytest.fixture
def table_lock():
    """Yield ``lock(model)``, which locks the model's table until released (or the test ends)."""
    locks: list[TableLock] = []

    def lock(model: type) -> TableLock:
        locks.append(TableLock(model._meta.db_table))
        return locks[-1]

    yield lock
    for held in locks:
        held.release()


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    require(bool(url), "needs a real Redis (set REDIS_URL)")
    return url


@pytest.fixture
def real_celery(redis_url, settings, transactional_db, tmp_path):
    """Switch this process to the real broker on a private queue; yield a worker starter."""
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    # The default queue: this process's router is already built for it. Start clean.
    queue = celery_app.conf.task_default_queue
    original_broker = celery_app.conf.broker_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = redis_url
    celery_app.conf.task_always_eager = False
    use_broker(redis_url)
    clean_broker(redis_url, queue)
    workers: list[Worker] = []

    def start(**extra_env: str) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            **extra_env,
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    queue,
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "INFO",
                    "--without-mingle",
                    "--without-gossip",
                    "-n",
                    f"test-{uuid.uuid4().hex[:8]}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log)
        workers.append(worker)
        wait_for(
            lambda: b" ready." in log.read_bytes() or process.poll() is not None,
            timeout=60,
            message="the worker to start",
        )
        assert process.poll() is None, log.read_text()
        return worker

    yield start

    for worker in workers:
        if worker.process.poll() is None:
            os.killpg(worker.process.pid, signal.SIGTERM)
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
    clean_broker(redis_url, queue)
    celery_app.conf.task_always_eager = True
    use_broker(original_broker)


def clean_broker(redis_url: str, queue: str) -> None:
    """Drop queued messages and pending-run markers left by earlier tests."""
    client = redis.Redis.from_url(redis_url)
    client.delete(queue, "unacked", "unacked_index")
    for key in client.scan_iter("maturity:aggregate-pending:*"):
        client.delete(key)


def unacknowledged_ages(redis_url: str) -> list[float]:
    """Return for how many seconds each message a worker took is still unacknowledged."""
    client = redis.Redis.from_url(redis_url)
    now = time.time()
    return [now - since for _, since in client.zrange("unacked_index", 0, -1, withscores=True)]
