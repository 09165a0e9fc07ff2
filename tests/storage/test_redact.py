"""`redact`: URLs (alone or in text) lose their userinfo and credential parameters, and keep the rest."""
from __future__ import annotations

import pytest

from deepaug.storage.base import redact

SECRETS = ("Hunter", "Secret2", "hunter2", "pw", "tok", "sigval", "AKIA5", "sess", "zz")


@pytest.mark.parametrize("url, expected", [
    # the two bypasses: a password parameter, and an '@' inside the password
    ("redis://host:6379/0?password=Hunter2", "redis://host:6379/0?password=***"),
    ("redis://default:Hunter@Secret2@host/0", "redis://***@host/0"),
    ("redis://:hunter2@redis.example:6379/0", "redis://***@redis.example:6379/0"),
    ("rediss://user@host:6380/1", "rediss://***@host:6380/1"),
    # percent-encoding, in the userinfo and in a parameter's name; names of any case
    ("redis://u:Hunter%40Secret2@host/0", "redis://***@host/0"),
    ("redis://host/0?pass%77ord=Hunter&db=2", "redis://host/0?pass%77ord=***&db=2"),
    ("redis://host/0?PassWord=Hunter;socket_timeout=5", "redis://host/0?PassWord=***;socket_timeout=5"),
    ("redis://host/0?username=default&password=Hunter@Secret2", "redis://host/0?username=***&password=***"),
    # IPv6 hosts, with a zone
    ("redis://:pw@[::1]:6379/0", "redis://***@[::1]:6379/0"),
    ("rediss://u:pw@[fe80::1%25eth0]/0?ssl_cert_reqs=none", "rediss://***@[fe80::1%25eth0]/0?ssl_cert_reqs=none"),
    # redis-py's unix socket form, and the other schemes
    ("unix://user:pw@/tmp/redis.sock?db=1&password=pw", "unix://***@/tmp/redis.sock?db=1&password=***"),
    ("s3://bucket/prefix/data.npz", "s3://bucket/prefix/data.npz"),
    ("http://AKIA5:pw@minio:9000", "http://***@minio:9000"),
    ("https://b.s3.amazonaws.com/k.npz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA5%2F2026&"
     "X-Amz-Date=20261206T000000Z&X-Amz-Security-Token=sess&X-Amz-Signature=sigval",
     "https://b.s3.amazonaws.com/k.npz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***&"
     "X-Amz-Date=20261206T000000Z&X-Amz-Security-Token=***&X-Amz-Signature=***"),
    ("https://acct.blob.core.windows.net/c/x?sv=2022&sig=sigval&se=2027", "https://acct.blob.core.windows.net/c/x?"
     "sv=2022&sig=***&se=2027"),
    ("https://h/cb#access_token=tok&state=1", "https://h/cb#access_token=***&state=1"),
    ("https://h/p?api_key=zz&access_key=zz&secret_key=zz&token=tok&passwd=pw&pwd=pw&auth=zz",
     "https://h/p?api_key=***&access_key=***&secret_key=***&token=***&passwd=***&pwd=***&auth=***"),
])
def test_a_url_loses_its_credentials_and_keeps_the_rest(url, expected):
    assert redact(url) == expected


@pytest.mark.parametrize("url", [
    "redis://:Hunter/Secret2@host/0",  # '/', '?' or '#' in the password: urllib ends the netloc before the '@'
    "redis://:Hunter?Secret2@host/0",
    "redis://:Hunter#Secret2@host/0",
    "redis://:Hunter#Secret2",
    "redis://:Hunter",  # no '@' at all: not a host and port
    "redis://default:Hunter",
    "redis://host/0?password=Hunter&Secret2",  # an unencoded '&' in the password: the tail is a bare word
    "redis://default:Hunter@Secret2@host/0?password=Hunter@Secret2",
    "a=redis://x:Hunter@h,b=redis://y:Secret2@h2",  # URLs run together
])
def test_when_in_doubt_more_goes(url):
    redacted = redact(url)
    assert "Hunter" not in redacted and "Secret2" not in redacted, redacted
    assert redacted.startswith(("redis://", "a=redis://"))


def test_every_url_in_a_text_is_redacted_and_the_text_stays():
    text = ("cannot reach 'redis://default:Hunter@Secret2@10.0.0.5:6379/0' (from redis://h2/3?password=pw);\n"
            "S3 endpoint http://AKIA5:sigval@[::1]:9000 said no, see https://docs.example/x?y=1 and s3://b/k")
    redacted = redact(text)
    assert not any(secret in redacted for secret in SECRETS), redacted
    # a URL runs to the next whitespace, so a hidden value takes the ')' that follows it with it
    assert redacted == ("cannot reach 'redis://***@10.0.0.5:6379/0' (from redis://h2/3?password=***;\n"
                        "S3 endpoint http://***@[::1]:9000 said no, see https://docs.example/x?y=1 and s3://b/k")


@pytest.mark.parametrize("text", ["", "no URL here", "a path /data/x@2x.png", "redis://host:6379/0", 42])
def test_text_without_credentials_is_unchanged(text):
    assert redact(text) == str(text)
