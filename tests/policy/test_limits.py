"""deepaug.policy.limits: policy input from an untrusted source is capped (bytes, nesting depth,
sub-policies, ops) before anything is built, YAML anchors and aliases are refused, and a string
no file can have is never handed to the OS; each refusal is one PolicyError saying what was over
which limit. Ordinary policies still load."""
from __future__ import annotations

import json

import pytest
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401  (fixtures)

from deepaug import Policy, PolicyError, ops
from deepaug.policy import as_policy, builtin
from deepaug.policy.limits import (DISTRIBUTION_OPS_FACTOR, MAX_NESTING, MAX_OPS_PER_SUB_POLICY, MAX_POLICY_BYTES,
                                   MAX_SUB_POLICIES)
from deepaug.storage.s3 import S3Storage

OP = {"op": "identity", "probability": 1.0, "magnitude": 0.0}


def _policy(subs: int, ops: int = 1) -> dict:
    return {"format_version": 1, "sub_policies": [[OP] * ops for _ in range(subs)]}


def _alias_bomb(width: int = 1000) -> str:
    """A YAML policy of ~8 KB whose aliases expand to width x width ops (the issue's example)."""
    first = "[&o {op: identity, probability: 1.0, magnitude: 0.0}" + ", *o" * (width - 1) + "]"
    return f"format_version: 1\nsub_policies: [&s {first}" + ", *s" * (width - 1) + "]\n"


def test_yaml_aliases_are_refused_before_anything_is_built(tmp_path):
    bomb = _alias_bomb()
    assert len(bomb) < 20_000
    (tmp_path / "bomb.yaml").write_text(bomb)
    for form in (bomb, str(tmp_path / "bomb.yaml")):
        with pytest.raises(PolicyError, match=r"anchor or alias .*refuses them.*write each value out"):
            as_policy(form)
    small = "format_version: 1\nsub_policies:\n- &s [{op: identity, probability: 1.0, magnitude: 0.0}]\n- *s\n"
    with pytest.raises(PolicyError, match=r"the policy text uses a YAML anchor or alias \(&s\)"):
        Policy.from_yaml(small)


@pytest.mark.parametrize("text", [
    '{"format_version": 1, "sub_policies": ' + "[" * 10_000 + "]" * 10_000 + "}",
    "format_version: 1\nsub_policies: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "{" + '"a": {' * 10_000 + "}" * 10_001,
], ids=["json", "yaml", "json-objects"])
def test_deep_nesting_is_a_policy_error_not_a_recursion_error(text, tmp_path):
    with pytest.raises(PolicyError, match=rf"nests \d+ or more levels deep, over the limit of {MAX_NESTING}"):
        as_policy(text)
    suffix = ".json" if text.startswith("{") else ".yaml"
    (tmp_path / f"deep{suffix}").write_text(text)
    with pytest.raises(PolicyError, match=r"policy file .*deep.* nests"):
        Policy.load(tmp_path / f"deep{suffix}")


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"format_version": 1, "sub_policies": [[{**OP, "op": "[[[{{" * 20}]]})
    with pytest.raises(PolicyError, match="sub_policies\\[0\\]\\[0\\]") as caught:
        as_policy(text)  # past the depth check: the op name is what is wrong
    assert "nests" not in str(caught.value)
    unterminated = '{"sub_policies": "' + '\\"' * 200_000  # every quote escaped: one string to the end
    with pytest.raises(PolicyError, match="the policy text is not valid JSON"):
        as_policy(unterminated)


def test_a_million_sub_policies_are_refused_by_size_before_parsing(tmp_path):
    entry = json.dumps([OP])
    text = '{"format_version": 1, "sub_policies": [' + ",".join([entry] * 1_000_001) + "]}"
    with pytest.raises(PolicyError, match=rf"the policy text is over the limit of {MAX_POLICY_BYTES} bytes"):
        as_policy(text)
    path = tmp_path / "big.json"
    path.write_text(text)
    with pytest.raises(PolicyError, match=rf"policy file {path} is over the limit of {MAX_POLICY_BYTES} bytes"):
        Policy.load(path)
    with pytest.raises(PolicyError, match="over the limit"):
        Policy.from_json(path)


def test_counts_are_capped_for_every_door(tmp_path):
    subs, wide = _policy(MAX_SUB_POLICIES + 1), _policy(1, MAX_OPS_PER_SUB_POLICY + 1)
    for data, what in ((subs, f"{MAX_SUB_POLICIES + 1} sub-policies, over the limit of {MAX_SUB_POLICIES}"),
                       (wide, f"sub_policies\\[0\\] has {MAX_OPS_PER_SUB_POLICY + 1} operations, over the limit")):
        (tmp_path / "p.json").write_text(json.dumps(data))
        (tmp_path / "p.yaml").write_text(json.dumps(data))  # JSON is YAML
        for form in (data, json.dumps(data), tmp_path / "p.json", str(tmp_path / "p.yaml")):
            with pytest.raises(PolicyError, match=what):
                as_policy(form)
    many = [{"op": "identity"}] * (DISTRIBUTION_OPS_FACTOR * len(ops.names()) + 1)
    with pytest.raises(PolicyError, match=r"distribution has \d+ ops, over the limit"):
        Policy.from_dict({"format_version": 2, "kind": "distribution", "distribution": {"ops": many}})


@pytest.mark.parametrize("name", ["rand-m" + "9" * 300, "rand-m9-n2-" + "9" * 300, "x" * 300, "a/" + "b" * 256])
def test_a_string_no_file_can_have_is_a_policy_error(name):
    for read in (as_policy, Policy.load):
        with pytest.raises(PolicyError) as caught:
            read(name)
        message = str(caught.value)
        assert "over the limit of 100 characters" in message or "neither an existing file" in message
        assert len(message) < 2_000  # the input is quoted cut short, not whole


def test_ordinary_policies_still_load(tmp_path):
    for name in builtin.names():
        assert as_policy(name) == builtin.get(name)
        builtin.get(name).to_json(tmp_path / f"{name}.json")
        assert Policy.load(tmp_path / f"{name}.json") == builtin.get(name)
    policy = builtin.get("reference")
    policy.to_yaml(tmp_path / "p.yaml")
    assert Policy.load(tmp_path / "p.yaml") == Policy.from_yaml(policy.to_yaml()) == policy
    assert as_policy("rand-m9-n2-mstd0.5-inc1") == Policy.from_timm("rand-m9-n2-mstd0.5-inc1")
    wide = _policy(MAX_SUB_POLICIES, 2)  # at the caps: read
    assert len(as_policy(json.dumps(wide))) == MAX_SUB_POLICIES


def test_an_s3_policy_is_refused_by_its_listed_size_before_the_download(s3_bucket, monkeypatch):
    storage = S3Storage(s3_bucket)
    storage.write("big.json", b" " * (MAX_POLICY_BYTES + 1))
    storage.write("deep.json", b"[" * 10_000 + b"]" * 10_000)
    storage.write("ok.json", builtin.get("reference").to_json().encode())
    assert as_policy(f"s3://{s3_bucket}/ok.json") == builtin.get("reference")
    with pytest.raises(PolicyError, match=r"nests \d+ or more levels deep"):
        as_policy(f"s3://{s3_bucket}/deep.json")
    monkeypatch.setattr(S3Storage, "read", lambda *_: pytest.fail("downloaded a policy over the size limit"))
    with pytest.raises(PolicyError, match=rf"policy file s3://{s3_bucket}/big.json is over the limit of "
                                          rf"{MAX_POLICY_BYTES} bytes"):
        as_policy(f"s3://{s3_bucket}/big.json")
