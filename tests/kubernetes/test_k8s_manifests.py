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


HOSTILE_NAMES = ["a;b", "ML", "a b", "-x", "x-", "a..b", "x" * 64, "ns\nkind: Secret", "$(id)", "a/b", "é", ""]


@pytest.mark.parametrize("key, form", [("namespace", "label"), ("service_account", "subdomain"),
                                       ("secret_name", "subdomain"), ("volume_claim", "subdomain")])
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_kubernetes_name_that_the_api_server_would_refuse_is_refused_before_any_work(key, form, name):
    """issue 38: kubernetes.namespace=a;b reached the manifest. Each name that becomes an object's name or a
    reference to one is a DNS-1123 label (namespace) or subdomain, checked when the config is read."""
    if form == "subdomain" and name == "x" * 64:
        name = "x" * 254
    with pytest.raises(InputError, match=rf"kubernetes.{key}: .* is not a DNS-1123 {form}.*; write e\.g\. "):
        SearchConfig.from_user({"kubernetes": {key: name}})


def test_good_kubernetes_names_pass_and_node_selector_and_gpu_resource_are_checked_too():
    good = KubernetesSettings(namespace="ml-team-2", service_account="deepaug.worker", secret_name="s3-creds",
                              volume_claim="shared", gpu_resource="amd.com/gpu",
                              node_selector={"kubernetes.io/arch": "amd64", "pool": ""})
    assert good.namespace == "ml-team-2"
    for bad in ({"gpu_resource": "nvidia.com/g pu"}, {"node_selector": {"a b": "x"}},
                {"node_selector": {"pool": "a;b"}}, {"env": {"A=B": "1"}}):
        with pytest.raises(InputError, match=r"kubernetes\.(gpu_resource|node_selector|env): .*(is not|are not)"):
            SearchConfig.from_user({"kubernetes": bad})


def test_cli_k8s_render_refuses_a_bad_namespace_and_prints_nothing(capsys):
    assert main(["k8s", "render", "--config", "quickstart", "--set", "kubernetes.image=deepaug:1",
                 "--set", "kubernetes.storage=s3://b/p", "--set", "kubernetes.namespace=a;b"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "kubernetes.namespace: 'a;b' is not a DNS-1123 label" in err


@pytest.mark.parametrize("experiment", HOSTILE_NAMES[:-1] + ["My Search!", "..", "x" * 300, "--"])
def test_generated_job_names_are_dns_labels_whatever_the_experiment_name(experiment):
    from deepaug.kubernetes.augment_job import augment_job_name
    from deepaug.kubernetes.settings import name_problem

    for name in (job_name(experiment, 12345, 3, "s3://b"), augment_job_name(experiment, "s3://b/out")):
        assert name_problem(name, "label") is None, name


S = "Zm9vYmFyYmF6cXV4"  # the secret part of each value below: never shown


@pytest.mark.parametrize("value", [
    f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={S}MTIzNDU2Nzg5MA==;EndpointSuffix=x",
    f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey={S}=",
    f"https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig={S}%3D", f"SharedAccessSignature=sv=2022&sig={S}",
    f"wJalrXUtnFEMI/K7MDENG/bPxRfi{S[:12]}", f"AKIA{S.upper()}",
    f"-----BEGIN OPENSSH PRIVATE KEY-----\n{S}\n-----END OPENSSH PRIVATE KEY-----",
    f"-----BEGIN PRIVATE KEY-----\n{S}", f"Bearer {S}", f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{S}",
    f"Server=db;Database=x;User Id=sa;Password={S};", f"postgres://user:{S}@db:5432/x",
    f"https://example.com/cb?client_secret={S}", f"ghp_{S}0123456789abcdef",
])
@pytest.mark.parametrize("name", ["AZURE_STORAGE_CONNECTION_STRING", "MY_SETTING", "X"])
def test_a_value_shaped_like_a_credential_is_refused_whatever_its_name_and_never_echoed(name, value, caplog):
    """issue 38: AZURE_STORAGE_CONNECTION_STRING with an AccountKey= value passed (the name check missed it).
    The value's shape decides as well as the name; neither the error nor the log shows the value."""
    with pytest.raises(InputError) as caught:
        SearchConfig.from_user({"kubernetes": {"env": {name: value}}})
    message = str(caught.value)
    assert "look like credentials" in message and name in message and "secret_name" in message
    assert S[:8] not in message and S[:8].upper() not in message and S[:8] not in caplog.text, message


@pytest.mark.parametrize("value", ["http://minio:9000", "us-east-1", "3f786850e387550fdab836ed7e6dc881de23001b",
                                   "s3://bucket/prefix", "INFO", "/data/shared", "deepaug:0.1.0", "key=value"])
def test_plain_settings_in_env_pass(value):
    assert SearchConfig.from_user({"kubernetes": {"env": {"SETTING": value}}}).kubernetes.env == {"SETTING": value}
