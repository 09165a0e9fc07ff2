"""deepaug.policy.as_policy: the one reader of a policy argument (its order, its one error), and the
boundary between the policy model and its framework adapters."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from deepaug import Policy, PolicyError
from deepaug.errors import InputError
from deepaug.policy import as_policy, builtin
from deepaug.policy.core import policy_source
from deepaug.training.pipeline import as_augmentation

POLICY_PACKAGE = Path(__file__).resolve().parents[2] / "deepaug" / "policy"


def test_every_form_a_user_passes_reads_as_the_same_policy(tmp_path):
    policy = builtin.get("reference")
    policy.to_json(tmp_path / "p.json")
    policy.to_yaml(tmp_path / "p.yml")
    forms = {"policy": policy, "dict": policy.to_dict(), "file": tmp_path / "p.json",
             "text": policy.to_json(), "builtin": "reference"}
    for kind, form in forms.items():
        assert policy_source(form) == kind
        assert as_policy(form) == policy
    assert as_policy(str(tmp_path / "p.yml")) == as_policy(policy.to_yaml()) == policy  # YAML file and text
    assert policy_source("rand-m9-n2") == "timm" and as_policy("rand-m9-n2") == Policy.from_timm("rand-m9-n2")
    assert policy_source("s3://bucket/p.json") == "s3"
    assert Policy.load("reference") == as_policy("reference") == policy  # both name the one reader


def test_an_existing_file_wins_over_a_built_in_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Policy.noop().to_json(tmp_path / "reference")
    assert policy_source("reference") == "file"
    assert as_policy("reference") == Policy.load("reference") == Policy.noop()


def test_one_error_lists_what_is_accepted():
    accepted = (r"a policy must be a Policy, a policy dict, a policy file path .*JSON or YAML text, a built-in "
                r"policy name \(noop, randaugment, reference, trivialaugment\) or a timm string such as "
                r"rand-m9-mstd0.5-inc1 or original")
    with pytest.raises(PolicyError,
                       match=r"^PolicyTransform: policy 'nope' is neither an existing file .*; " + accepted):
        as_policy("nope", "PolicyTransform")
    with pytest.raises(PolicyError, match=r"^policy 'missing\.json' is neither an existing file .*; " + accepted):
        Policy.load("missing.json")
    with pytest.raises(PolicyError, match=accepted + r", got int$"):
        as_policy(3)
    training = r".*, an augmenter \(an object with augment_nhwc\(x, rng\)\) or None \(no augmentation\)"
    with pytest.raises(InputError, match=accepted.replace(" or a timm", ", a timm") + training):
        as_augmentation(object())


def test_the_policy_package_does_not_import_its_adapters():
    found = []
    for path in sorted(POLICY_PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            found += [f"{path.name}: {n}" for n in names
                      if n == "deepaug.adapters" or n.startswith("deepaug.adapters.")]
    assert found == []
