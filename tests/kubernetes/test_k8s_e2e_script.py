"""scripts/k8s-e2e.sh, the end-to-end run on a real cluster, as far as it goes without one:
its --dry-run (the steps and the manifests, nothing applied), its refusal to start when
kubectl, kind, docker or a cluster context is missing, and the checks of scripts/k8s_e2e_check.py
on a real (local) augmentation run. The run on a cluster itself is not made here.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deepaug import __version__
from deepaug.api import augment
from deepaug.policy.core import as_policy

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "k8s-e2e.sh"
kubernetes_validate = pytest.importorskip("kubernetes_validate")


def run_script(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    missing = str(tmp_path / "missing")
    values = {**os.environ, "KUBECTL": f"{missing}/kubectl", "KIND": f"{missing}/kind", "DOCKER": f"{missing}/docker",
              "DEEPAUG_PYTHON": sys.executable, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path),
              "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    for name in ("DEEPAUG_REGISTRY", "DEEPAUG_K8S_STORAGE", "KIND_CLUSTER", "DEEPAUG_K8S_CONTEXT"):
        if name not in env:
            values.pop(name, None)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=values, timeout=300)


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def test_the_script_parses_and_shellcheck_finds_nothing():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_without_kubectl_kind_or_docker_it_says_what_is_missing_and_starts_nothing(tmp_path):
    result = run_script(tmp_path)
    assert result.returncode == 1
    assert "missing, so nothing was started" in result.stderr
    for tool in ("kubectl", "kind", "docker"):
        assert f"{tool} ({tmp_path}/missing/{tool})" in result.stderr
    assert "==>" not in result.stdout and not list(tmp_path.glob("deepaug-k8s-e2e.*"))


def test_without_a_cluster_context_it_says_so(tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, body in (("kubectl", 'case "$*" in "config current-context") echo "error: current-context is not set" >&2; '
                                   'exit 1 ;; esac; exit 0'),
                       ("docker", "exit 0"), ("kind", "exit 0")):
        (tools / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (tools / name).chmod(0o755)
    result = run_script(tmp_path, KUBECTL=str(tools / "kubectl"), KIND=str(tools / "kind"), DOCKER=str(tools / "docker"))
    assert result.returncode == 1
    assert "a cluster context: kubectl has no current context" in result.stderr and "kind create cluster" in result.stderr
    assert "kubectl (" not in result.stderr and "docker (" not in result.stderr


def test_the_dry_run_prints_the_steps_and_valid_manifests_and_no_credential(tmp_path):
    result = run_script(tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "kubectl (" in result.stderr and "--dry-run goes on" in result.stderr  # what a real run would stop at
    assert f"load docker-image --name kind deepaug:{__version__} deepaug-augment:{__version__}" in out
    minio = list(yaml.safe_load_all(between(out, "<<the MinIO manifest>>\n", "+ kubectl port-forward")))
    assert [doc["kind"] for doc in minio] == ["Deployment", "Service"]
    for doc in minio:
        kubernetes_validate.validate(doc, "1.31", strict=True)
    env = {item["name"]: item for item in minio[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    for name in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):  # from the generated Secret only
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"] == "deepaug-e2e-s3"
    config = yaml.safe_load(between(out, "/run.yaml)\n", "==>"))
    k8s = config["kubernetes"]
    assert (k8s["image"], k8s["augment_image"]) == (f"deepaug:{__version__}", f"deepaug-augment:{__version__}")
    assert k8s["secret_name"] == "deepaug-e2e-s3" and k8s["env"]["AWS_ENDPOINT_URL"].startswith("http://deepaug-minio.")
    assert config["executor"] == config["augment"]["executor"] == "kubernetes"
    assert config["augment"]["input"].startswith(k8s["storage"].removesuffix("/search"))
    jobs = list(yaml.safe_load_all(between(out, "(deepaug k8s render)\n", "# (the augment Job")))
    assert [job["spec"]["template"]["spec"]["containers"][0]["image"] for job in jobs] == [f"deepaug:{__version__}"]
    assert f"# augment Jobs run kubernetes.augment_image: deepaug-augment:{__version__}" in out
    assert "tests/kubernetes/test_k8s_cluster.py" in out and "deepaug run --config run.yaml" in out
    assert "AWS_SECRET_ACCESS_KEY=" not in out and "MINIO_ROOT_PASSWORD=" not in out
    assert not list(tmp_path.glob("deepaug-k8s-e2e.*"))  # its temporary folder is gone


def test_the_dry_run_with_a_registry_pushes_there_instead_of_kind(tmp_path):
    result = run_script(tmp_path, "--dry-run", DEEPAUG_REGISTRY="registry.example.com:5000/ml/",
                        DEEPAUG_K8S_STORAGE="s3://my-bucket/e2e")
    assert result.returncode == 0, result.stderr
    assert "kind (" not in result.stderr and "load docker-image" not in result.stdout
    for image in ("deepaug", "deepaug-augment"):
        assert f"push registry.example.com:5000/ml/{image}:{__version__}" in result.stdout
    assert "MinIO" not in result.stdout
    config = yaml.safe_load(between(result.stdout, "/run.yaml)\n", "==>"))
    assert config["kubernetes"]["image"] == f"registry.example.com:5000/ml/deepaug:{__version__}"
    assert config["kubernetes"]["storage"].startswith("s3://my-bucket/e2e/run-")
    assert config["kubernetes"]["secret_name"] is None and "AWS_ENDPOINT_URL" not in config["kubernetes"]["env"]


def load_checker():
    spec = importlib.util.spec_from_file_location("k8s_e2e_check", REPO / "scripts" / "k8s_e2e_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_check_passes_on_a_complete_run_and_names_what_is_missing(tmp_path):
    checker = load_checker()
    source = checker.prepare(str(tmp_path / "store"), 30)
    assert source == str(tmp_path / "store" / "input" / "digits-train.npz")
    experiment = tmp_path / "experiment"
    experiment.mkdir()
    with pytest.raises(checker.CheckFailed, match="best_policy.json is missing"):
        checker.check(experiment, 30)
    (experiment / "best_policy.json").write_text(json.dumps(as_policy("reference").to_dict()))
    result = augment("reference", source, tmp_path / "out", variants=2, shard_size=20)
    (experiment / "augment.json").write_text(json.dumps({"complete": True, "output": str(result.output),
                                                         "options": {"variants": 2}}))
    assert "30 images, 90 outputs" in checker.check(experiment, 30)
    next((tmp_path / "out" / "images").rglob("*_v1.png")).unlink()
    with pytest.raises(checker.CheckFailed, match="should give 90 outputs.* 89 image files are stored"):
        checker.check(experiment, 30)
