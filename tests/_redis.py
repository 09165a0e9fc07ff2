"""A real Redis for tests: redis-server on a free loopback port, its files in a tmp folder.

    from _redis import redis_server, redis_url  # noqa: F401

    def test_something(redis_url):          # redis://127.0.0.1:<port>/0, flushed for this test
        ...

`guarded_redis` is a second server that wants PASSWORD (127.0.0.1:<port>, no scheme: tests
write the password into the URL in each form redis-py reads, or pass it in $DEEPAUG_REDIS_PASSWORD).

The server starts once per session (`--save '' --appendonly no`, nothing persisted) and
is stopped through the pid file it wrote. Tests skip with a hint when redis-server is not
installed (scripts/setup.sh installs it as root).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

PASSWORD = "Hunter@Secret2"  # guarded_redis's; an '@' in it, as in issue 38

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start redis-server on 127.0.0.1; yield redis://127.0.0.1:<port>."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server, or bash scripts/setup.sh as root)")
    import redis

    folder = tmp_path_factory.mktemp("redis")
    pidfile = folder / "redis.pid"
    port = _free_port()
    subprocess.run([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "yes", "--dir", str(folder), "--pidfile", str(pidfile),
                    "--logfile", str(folder / "redis.log")], check=True)
    url = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {folder / 'redis.log'}") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        client.close()
        _stop(pidfile)


def _stop(pidfile: Path) -> None:
    deadline = time.monotonic() + 2
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass


@pytest.fixture(scope="session")
def guarded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of its own that wants PASSWORD (for the default user); yields 127.0.0.1:<port>."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server, or bash scripts/setup.sh as root)")
    import redis  # redis is optional (queue mode only), as are its parts below
    from redis.backoff import ConstantBackoff
    from redis.retry import Retry

    folder, port = tmp_path_factory.mktemp("guarded-redis"), _free_port()
    subprocess.run([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "yes", "--dir", str(folder), "--pidfile", str(folder / "redis.pid"),
                    "--logfile", str(folder / "redis.log"), "--requirepass", PASSWORD], check=True)
    wait = Retry(ConstantBackoff(0.05), 200)  # up to 10 s for the server to listen
    with redis.Redis(port=port, password=PASSWORD, retry=wait, retry_on_error=[redis.exceptions.ConnectionError]) as c:
        c.ping()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        _stop(folder / "redis.pid")


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis (database 0), emptied for this test."""
    import redis

    url = f"{redis_server}/0"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url
