"""A real S3 for tests: a moto server on loopback, fake credentials, a fresh bucket per test.

Import all three fixtures into the test module that needs them (pytest finds fixtures by
name in the module, and each one asks for the one before it):

    from _moto import moto_server, s3_env, s3_bucket  # noqa: F401

    def test_something(s3_bucket):          # s3_bucket: the name of an empty bucket
        S3Storage(s3_bucket).write("k", b"v")

The server is started once per session on a free port (port 0) of 127.0.0.1 and talked
to over HTTP; `s3_env` points boto3 at it through AWS_ENDPOINT_URL and fake credentials,
and hides any real AWS config so that no test can reach a real account.
"""
from __future__ import annotations

import uuid
from typing import Iterator

import pytest

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
HIDDEN_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
              "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_ENDPOINT_URL_S3")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start a threaded moto server on 127.0.0.1 (a free port); yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Point boto3 at the moto server with fake credentials for one test; return the endpoint URL."""
    for name in HIDDEN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    nowhere = tmp_path_factory.mktemp("aws") / "absent"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(nowhere))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.fixture
def s3_bucket(s3_env: str) -> str:
    """Create an empty bucket with a unique name on the moto server; return its name."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=name)
    return name
