"""The manifests deepaug generates: every one validates offline (kubernetes-validate --strict,
Kubernetes 1.31) and carries the security and retry settings the cluster relies on.

No cluster is involved: manifests are rendered from the packaged template (k8s/trial-job.yaml)
and checked against the official JSON schema; `deepaug k8s render` runs through the CLI.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from deepaug.cli.app import main
from deepaug.kubernetes.settings import KubernetesSettings
from deepaug.search.config import SearchConfig
from deepaug.errors import InputError
from deepaug.kubernetes.manifests import (KUBERNETES_VERSION, job_name, label_value, load_template, render_job, render_rbac,
                                   require)

kubernetes_validate = pytest.importorskip("kubernetes_validate")

REPO = Path(__file__).resolve().parents[2]
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
FULL = dict(image="registry.example.com/deepaug:0.1.0", storage="s3://bucket/deepaug", namespace="ml",
            cpu="1500m", memory="16Gi", gpus=1, node_selector={"accelerator": "nvidia-l4"},
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            secret_name="deepaug-s3", env={"AWS_ENDPOINT_URL": "http://minio:9000"}, backoff_limit=4,
            active_deadline_seconds=7200, ttl_seconds_after_finished=600)


def validate(doc: dict) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def container(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("overrides", [FULL, dict(image="deepaug:0.1.0", storage="/shared/deepaug",
                                                   volume_claim="deepaug-data", active_deadline_seconds=None,
                                                   ttl_seconds_after_finished=None, service_account=None)])
def test_rendered_job_and_rbac_validate_strictly(overrides):
    settings = KubernetesSettings(**overrides)
    job = render_job(settings, "fashion mnist #1", 12, f"{settings.storage}/trials/0012/spec.json", attempt=1)
    for doc in [job, *render_rbac(settings)]:
        validate(doc)
        assert doc["metadata"]["namespace"] == settings.namespace


def test_the_job_runs_the_worker_non_root_with_a_read_only_root_and_the_settings_applied():
    settings = KubernetesSettings(**FULL)
    job = render_job(settings, "exp", 3, "s3://bucket/deepaug/spec.json")
    pod, box = job["spec"]["template"]["spec"], container(job)
    assert box["command"] == ["deepaug"] and box["args"] == ["trial", "run", "--spec", "s3://bucket/deepaug/spec.json"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert box["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                      "capabilities": {"drop": ["ALL"]}}
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp and {"name": "tmp", "mountPath": "/tmp"} in box["volumeMounts"]
    assert box["resources"]["limits"] == {"memory": "16Gi", "nvidia.com/gpu": 1}
    assert box["resources"]["requests"] == {"cpu": "1500m", "memory": "16Gi", "nvidia.com/gpu": 1}
    assert pod["nodeSelector"] == {"accelerator": "nvidia-l4"} and pod["tolerations"] == FULL["tolerations"]
    assert pod["serviceAccountName"] == "deepaug-worker" and pod["restartPolicy"] == "Never"
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (4, 7200, 600)
    rule = spec["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [2, 3]  # user errors: no retry
    assert rule["onExitCodes"]["containerName"] == box["name"]
    env = {e["name"]: e["value"] for e in box["env"]}
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000" and env["OMP_NUM_THREADS"] == "2"
    assert box["envFrom"] == [{"secretRef": {"name": "deepaug-s3"}}]  # credentials only by reference
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "deepaug" and labels["deepaug/trial"] == "3"
    assert job["spec"]["template"]["metadata"]["labels"]["deepaug/experiment"] == "exp"


def test_a_shared_volume_is_mounted_at_the_storage_path():
    job = render_job(KubernetesSettings(image="i", storage="/shared/deepaug", volume_claim="data"), "e", 1, "x")
    pod = job["spec"]["template"]["spec"]
    assert {"name": "shared", "persistentVolumeClaim": {"claimName": "data"}} in pod["volumes"]
    assert {"name": "shared", "mountPath": "/shared/deepaug"} in container(job)["volumeMounts"]


def test_job_names_are_dns_labels_unique_per_attempt_and_experiment():
    names = {job_name(experiment, number, attempt) for experiment in ("a", "A_b.c", "x" * 200, "--ünï cødé--")
             for number in (0, 7, 123456) for attempt in (0, 1)}
    assert len(names) == 24
    assert all(DNS_LABEL.match(name) and len(name) <= 63 for name in names)
    assert job_name("x" * 200, 1).startswith("deepaug-xxx") and job_name("x" * 200, 1)[-10:-6] == "-t1-"
    assert job_name("e", 1, 0, "salt") != job_name("e", 1, 0, "other salt")
    assert label_value("--My Search/2--") == "My-Search-2" and len(label_value("y" * 100)) == 63


def test_credentials_are_refused_in_env_and_never_echoed():
    with pytest.raises(InputError) as err:
        SearchConfig.from_user({"kubernetes": {"env": {"AWS_SECRET_ACCESS_KEY": "hunter2"}}})
    assert "secret_name" in str(err.value) and "hunter2" not in str(err.value)


def test_missing_image_or_storage_and_a_bad_template_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="kubernetes.image and kubernetes.storage"):
        require(KubernetesSettings())
    bad = tmp_path / "job.yaml"
    bad.write_text("apiVersion: batch/v1\nkind: Job\nspec: {template: {spec: {containers: [{name: main}]}}}\n")
    with pytest.raises(InputError, match="container named 'trial'"):
        load_template(str(bad))
    with pytest.raises(InputError, match="cannot read Job template"):
        load_template(str(tmp_path / "missing.yaml"))


def test_the_k8s_folder_holds_the_packaged_template_rbac_and_a_non_root_dockerfile():
    assert yaml.safe_load((REPO / "k8s" / "trial-job.yaml").read_text()) == load_template()
    for doc in yaml.safe_load_all((REPO / "k8s" / "rbac.yaml").read_text()):
        validate({**doc, "metadata": {**doc["metadata"], "namespace": "default"}})
    role = next(d for d in yaml.safe_load_all((REPO / "k8s" / "rbac.yaml").read_text()) if d["kind"] == "Role")
    assert role["rules"] == [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list",
                                                                                      "delete"]}]
    dockerfile = (REPO / "k8s" / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M) and 'ENTRYPOINT ["deepaug"]' in dockerfile


def test_cli_k8s_render_prints_the_manifests_a_run_submits(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"dataset": "fashion_mnist", "executor": "kubernetes",
                                      "kubernetes": {"image": "deepaug:0.1.0", "storage": "s3://b/p", "gpus": 1}}))
    assert main(["k8s", "render", "--config", str(config), "--trial", "5"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["Job", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding"]
    for doc in docs:
        validate(doc)
    assert container(docs[0])["args"][-1] == "s3://b/p/experiments/run/trials/0005/spec.json"
    assert docs[0]["metadata"]["name"].startswith("deepaug-run-t5-")

    config.write_text(yaml.safe_dump({"dataset": "fashion_mnist", "executor": "kubernetes"}))
    assert main(["k8s", "render", "--config", str(config)]) == 2
    assert "kubernetes.image" in capsys.readouterr().err
