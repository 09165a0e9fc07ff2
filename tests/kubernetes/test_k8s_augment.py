"""`deepaug augment --executor kubernetes` against an emulated cluster: one Indexed Job, real pods.

The API is kmock's emulator and a harness plays the Job controller (tests/_k8s.py): each
pod is a local `deepaug augment ... --shard /N` process with JOB_COMPLETION_INDEX set, so
what is checked is what a cluster would produce: the same bytes and manifest as a local
run, retries of killed pods, a user error failing the Job at once, resumption, and clean-up.
Every rendered manifest is validated with kubernetes-validate (strict, Kubernetes 1.31).
"""
from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import pytest
import yaml

from _augment_data import run_killed, stored, tree, upload, write_images
from _k8s import clusters  # noqa: F401  (fixture)
from _k8s import Cluster, NAMESPACE, free_port, index_text, settings as make_settings, write_kubeconfig
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401  (fixtures)
from deepaug.augmentation.plan import make_plan
from deepaug.api import augment
from deepaug.augmentation.workers import RunError
from deepaug.cli.app import main
from deepaug.kubernetes.settings import KubernetesSettings
from deepaug.errors import InputError
from deepaug.kubernetes.client import KubernetesUnavailable
from deepaug.kubernetes.augment import AugmentJob, parse_indexes, plan_augment_job
from deepaug.kubernetes.augment_job import (POLICY_KEY, check_reachable, job_shape, load_augment_template,
                                            render_augment_job)
from deepaug.cli.augment import add_render_parser
from deepaug.kubernetes.manifests import KUBERNETES_VERSION
from deepaug.policy.core import Policy
from deepaug.storage.backends import S3Storage

pytest.importorskip("kubernetes")
pytest.importorskip("kmock")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

REPO = Path(__file__).resolve().parents[2]
OPTIONS = {"variants": 2, "shard_size": 3, "io_threads": 2, "png_compression": 1}  # 12 images: 4 shards; pods must get the level
POLICY = Policy.from_list([[("rotate", 0.8, 0.3), ("invert", 0.5, 0.5)], [("cutout", 0.6, 0.4)]])




def source(cluster: Cluster) -> Path:
    """Tiny images on the cluster's shared volume (where the pods find them)."""
    root = cluster.storage / "src"
    if not root.exists():
        write_images(root)
    return root


def pod_args(job: dict) -> list[str]:
    return job["spec"]["template"]["spec"]["containers"][0]["args"]


def without_policy(files: dict[str, bytes]) -> dict[str, bytes]:
    return {key: data for key, data in files.items() if key != POLICY_KEY}


def test_the_job_gives_the_bytes_and_manifest_of_a_local_run(tmp_path, clusters):
    cluster = clusters()
    src, policy_file = source(cluster), tmp_path / "best.json"  # the policy is on the controller only
    POLICY.to_json(policy_file)
    local = augment(policy_file, src, cluster.storage / "local", **OPTIONS)
    result = augment(policy_file, src, cluster.storage / "k8s", executor="kubernetes", kubernetes=cluster.settings(),
                     parallelism=2, completions=3, **OPTIONS)
    assert result.complete and not result.cached and result.shards_done_here == 4
    assert result.dataset_id == local.dataset_id and result.manifest == local.manifest
    out = tree(cluster.storage / "k8s")
    assert without_policy(out) == tree(cluster.storage / "local")
    assert Policy.from_dict(json.loads(out[POLICY_KEY])) == POLICY  # what the pods read
    runs = cluster.controller.indexed
    assert sorted(index for _, index, _ in runs) == [0, 1, 2] and {code for *_, code in runs} == {0}
    assert cluster.jobs() == []  # a complete Job is deleted


def test_s3_input_and_output_with_credentials_from_a_secret(tmp_path, clusters, s3_bucket, s3_env):
    cluster = clusters(secrets={"deepaug-s3": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}})
    write_images(tmp_path / "src")
    upload(tmp_path / "src", S3Storage(s3_bucket, "src"))
    settings = cluster.settings(secret_name="deepaug-s3", env={
        "AWS_ENDPOINT_URL": s3_env, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    src, chain = f"s3://{s3_bucket}/src", "horizontal-flip,rotate:0.3"
    local = augment(None, src, f"s3://{s3_bucket}/local", chain=chain, shard_size=5, io_threads=2)
    result = augment(None, src, f"s3://{s3_bucket}/cache/{{id}}", chain=chain, shard_size=5, io_threads=2,
                     executor="kubernetes", kubernetes=settings.model_dump(), parallelism=2)
    assert result.output == f"s3://{s3_bucket}/cache/{local.dataset_id[:16]}"
    assert result.manifest == local.manifest and result.manifest["totals"]["outputs"] == 12 * 4
    assert stored(S3Storage(s3_bucket, f"cache/{local.dataset_id[:16]}")) == stored(S3Storage(s3_bucket, "local"))
    assert sorted(index for _, index, _ in cluster.controller.indexed) == [0, 1, 2]  # min(3 shards, 4 x 2)


def test_a_pod_killed_mid_shard_is_retried_and_the_bytes_are_the_same(tmp_path, clusters):
    killed: list[int] = []

    def pod(job, index):  # index 1's first pod SIGKILLs itself after the first image of its first shard
        if index != 1 or killed:
            return None
        killed.append(index)
        done = run_killed(pod_args(job)[1:], kill_shard=2, env={"JOB_COMPLETION_INDEX": "1", "PATH": ""})
        assert done.returncode == -9, done.stderr
        return 137

    cluster = clusters(pod=pod)
    src = source(cluster)
    local = augment("reference", src, cluster.storage / "local", **OPTIONS)
    result = augment("reference", src, cluster.storage / "k8s", executor="kubernetes",
                     kubernetes=cluster.settings(), parallelism=1, completions=2, **OPTIONS)
    assert [(index, code) for _, index, code in cluster.controller.indexed] == [(0, 0), (1, 137), (1, 0)]
    assert result.manifest == local.manifest
    assert tree(cluster.storage / "k8s") == tree(cluster.storage / "local")  # a built-in policy is not uploaded


def test_a_user_error_fails_the_job_at_once_then_the_same_command_resumes_and_then_is_cached(clusters):
    cluster = clusters(pod=lambda job, index: 2 if index == 1 else None)
    src, out = source(cluster), cluster.storage / "out"
    request = dict(executor="kubernetes", kubernetes=cluster.settings(backoff_limit=3), parallelism=1,
                   completions=4, **OPTIONS)
    with pytest.raises(RunError) as err:
        augment("reference", src, out, **request)
    message = str(err.value)
    assert "PodFailurePolicy" in message and "exit code 2" in message and "user error" in message
    assert "index(es) not completed: 1 (shards 1), 2 (shards 2), 3 (shards 3)" in message
    assert "1 of 4 shards are complete and kept" in message and "logs job/deepaug-augment-" in message
    assert [(index, code) for _, index, code in cluster.controller.indexed] == [(0, 0), (1, 2)]  # no retry
    assert not (out / "manifest.json").exists() and len(cluster.jobs()) == 1  # kept for `kubectl logs`
    first_marker = (out / "_shards" / "shard-000000.json").stat().st_mtime_ns

    resumed: list[tuple[int, list[str]]] = []
    cluster.controller.pod = lambda job, index: resumed.append((index, pod_args(job)))  # then the real pod runs
    result = augment("reference", src, out, **request)  # the cause is fixed: the same command resumes
    assert result.complete and result.shards_done_here == 3 and cluster.jobs() == []
    # the new Job shares only the 3 missing shards, one per pod, instead of re-splitting all 4
    assert sorted(index for index, _ in resumed) == [0, 1, 2]
    assert all(args[args.index("--shards") + 1] == "1-3" and args[args.index("--shard") + 1] == "/3"
               for _, args in resumed)
    assert (out / "_shards" / "shard-000000.json").stat().st_mtime_ns == first_marker
    assert tree(out) == tree(Path(augment("reference", src, cluster.storage / "local", **OPTIONS).output))

    pods = len(cluster.controller.indexed)
    again = augment("reference", src, out, **request)
    assert again.cached and again.manifest == result.manifest
    assert len(cluster.controller.indexed) == pods and cluster.jobs() == []  # no Job for a complete dataset


def test_ctrl_c_deletes_the_job(clusters, monkeypatch):
    release = threading.Event()

    def pod(job, index):  # index 0 succeeds at once; index 1 runs until the test ends
        if index:
            release.wait(20)
        return 0

    cluster = clusters(pod=pod)
    src, out = source(cluster), cluster.storage / "out"
    seen: list[str] = []

    def interrupt_when_index_1_runs(self, job, done):
        seen.extend(cluster.jobs())
        if job is not None and job.status is not None and job.status.succeeded:
            raise KeyboardInterrupt

    monkeypatch.setattr(AugmentJob, "_log_progress", interrupt_when_index_1_runs)
    try:
        with pytest.raises(KeyboardInterrupt):
            augment("reference", src, out, executor="kubernetes", kubernetes=cluster.settings(), parallelism=1,
                    completions=2, **OPTIONS)
        assert seen and cluster.jobs() == []  # deleted (propagation Background)
    finally:
        release.set()


def test_bad_settings_and_requests_are_clear_errors_before_any_work(tmp_path, clusters, capsys):
    cluster = clusters()
    src, out = source(cluster), cluster.storage / "out"
    cases = [
        (dict(kubernetes={"namespace": "ml"}), "needs an image"),
        (dict(kubernetes={"image": "i", "cpu": "lots"}), r"kubernetes.cpu: .*CPU quantity"),
        (dict(kubernetes={"image": "i", "nodes": 3}), r"kubernetes.nodes: .*Valid keys are: image"),
        (dict(kubernetes=cluster.settings(), workers=2), "workers do not apply to executor 'kubernetes'"),
        (dict(kubernetes=cluster.settings(), queue="redis://x"), "queue do not apply"),
        (dict(kubernetes=cluster.settings(), parallelism=0), "parallelism must be a whole number"),
        (dict(kubernetes=cluster.settings(volume_claim=None)), "input .* is a local path, which the pods cannot"),
        (dict(kubernetes=make_settings(cluster.storage, tmp_path / "nope")), "Kubernetes configuration"),
    ]
    for options, words in cases:
        with pytest.raises(InputError, match=words):
            augment("reference", src, out, executor="kubernetes", **options, **OPTIONS)
    with pytest.raises(InputError) as err:
        augment("reference", src, out, executor="kubernetes", kubernetes={"image": "i", "env": {"API_TOKEN": "s3cr3t"}})
    assert "secret_name" in str(err.value) and "s3cr3t" not in str(err.value)
    with pytest.raises(InputError, match="parallelism apply to executor 'kubernetes' only"):
        augment("reference", src, out, parallelism=2)
    with pytest.raises(InputError, match="executor must be"):
        augment("reference", src, out, executor="spark")
    assert main(["augment", "--policy", "reference", "--input", str(src), "--output", str(out), "--image", "i"]) == 2
    assert "--image apply to --executor kubernetes only" in capsys.readouterr().err
    assert not out.exists() and cluster.jobs() == []


def test_api_errors_are_the_search_executors_clear_errors(tmp_path, clusters):
    import kmock

    cluster = clusters()
    src = source(cluster)

    def forbid(request):
        raise kmock.KubernetesError(status=403, reason="Forbidden", message="jobs.batch is forbidden")

    cluster.emulator.run(lambda: cluster.emulator.handler["post"] << forbid)
    with pytest.raises(InputError, match=r"refused to create Job deepaug-augment-.*403.*k8s/rbac.yaml"):
        augment("reference", src, cluster.storage / "a", executor="kubernetes", kubernetes=cluster.settings(),
                **OPTIONS)
    down = write_kubeconfig(tmp_path / "down", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(KubernetesUnavailable, match=r"failed 1 time\(s\).*complete shards are kept.*resume"):
        augment("reference", src, cluster.storage / "b", executor="kubernetes", **OPTIONS,
                kubernetes=make_settings(cluster.storage, down, api_retries=0))


FULL = dict(image="registry.example.com/deepaug:0.1.0", namespace="ml", cpu="1", memory="2Gi",
            node_selector={"pool": "cpu"}, secret_name="deepaug-s3", env={"AWS_ENDPOINT_URL": "http://minio:9000"},
            tolerations=[{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}], backoff_limit=4,
            active_deadline_seconds=7200, ttl_seconds_after_finished=600)


def test_rendered_jobs_validate_strictly_and_carry_the_request(tmp_path):
    write_images(tmp_path / "shared" / "src")
    plan = make_plan("reference", tmp_path / "shared" / "src", tmp_path / "shared" / "out", **OPTIONS)
    for settings in (KubernetesSettings(**FULL), KubernetesSettings(image="i", storage=str(tmp_path / "shared"),
                                                                     volume_claim="data", service_account=None,
                                                                     active_deadline_seconds=None)):
        parallelism, completions = job_shape(plan.n_shards, 1, None)
        job = render_augment_job(settings, plan, "reference", parallelism, completions)
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 1)
    assert spec["backoffLimitPerIndex"] == 2 and "backoffLimit" not in spec and "activeDeadlineSeconds" not in spec
    rule = spec["podFailurePolicy"]["rules"][0]
    assert rule == {"action": "FailJob", "onExitCodes": {"containerName": "augment", "operator": "In", "values": [2]}}
    box = pod["containers"][0]
    assert box["name"] == "augment" and box["command"] == ["deepaug"] and pod_args(job)[-2:] == ["--shard", "/4"]
    assert box["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                      "capabilities": {"drop": ["ALL"]}}
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "shared", "mountPath": str(tmp_path / "shared")} in box["volumeMounts"]
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "augment" and labels["deepaug/dataset"] == plan.dataset_id[:16]
    assert job["metadata"]["name"].startswith(f"deepaug-augment-{plan.dataset_id[:16]}-")
    assert yaml.safe_load((REPO / "k8s" / "augment-job.yaml").read_text()) == load_augment_template()
    src, out = tmp_path / "shared" / "src", tmp_path / "shared" / "out"
    shared = {"image": "i", "storage": str(tmp_path), "volume_claim": "data"}
    assert plan_augment_job("reference", src, out, settings=shared, **OPTIONS).settings.image == "i"
    with pytest.raises(InputError, match="input .* is a local path"):
        plan_augment_job("reference", src, out, settings={"image": "i"}, **OPTIONS)
    assert job_shape(100, 4, None) == (4, 16) and job_shape(3, 4, None) == (3, 3) and job_shape(10, 2, 50) == (2, 10)


def test_k8s_render_augment_prints_the_job_and_the_rbac(tmp_path, capsys):
    write_images(tmp_path / "shared" / "src")
    config = tmp_path / "k8s.yaml"  # only a kubernetes: section
    config.write_text(yaml.safe_dump({"kubernetes": {"image": "deepaug:0.1.0", "storage": str(tmp_path / "shared"),
                                                     "volume_claim": "data", "namespace": "ml"}}))
    parser = argparse.ArgumentParser(prog="deepaug k8s render")
    add_render_parser(parser.add_subparsers(dest="what", required=True))
    base = ["augment", "--policy", str(tmp_path / "best.json"), "--input", str(tmp_path / "shared" / "src"),
            "--output", str(tmp_path / "shared" / "out" / "{id}"), "--config", str(config), "--shard-size", "2"]
    POLICY.to_json(tmp_path / "best.json")
    args = parser.parse_args([*base, "--parallelism", "2", "--namespace", "batch"])
    assert args.func(args) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["Job", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["metadata"]["namespace"] == "batch"
    args_of_pod = pod_args(docs[0])
    assert args_of_pod[args_of_pod.index("--shard") + 1] == "/6"  # 6 shards, min(6, 4 x 2)
    assert args_of_pod[args_of_pod.index("--policy") + 1].endswith(f"/{POLICY_KEY}")
    assert not (tmp_path / "shared" / "out").exists()  # rendering writes nothing
    args = parser.parse_args([*base, "--job-only", "--completions", "3"])
    assert args.func(args) == 0
    assert [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)] == ["Job"]


def test_render_and_run_make_the_same_job_from_the_same_request(tmp_path, capsys, monkeypatch):
    """`deepaug k8s render augment` prints the Job that `deepaug augment --executor kubernetes` creates."""
    write_images(tmp_path / "shared" / "src")
    config = tmp_path / "k8s.yaml"
    config.write_text(yaml.safe_dump({"kubernetes": {
        "image": "deepaug:0.1.0", "storage": str(tmp_path / "shared"), "volume_claim": "data", "namespace": "ml",
        "kubeconfig": str(write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{free_port()}"))}}))
    POLICY.to_json(tmp_path / "best.json")
    request = ["--policy", str(tmp_path / "best.json"), "--input", str(tmp_path / "shared" / "src"), "--output",
               str(tmp_path / "shared" / "out" / "{id}"), "--config", str(config), "--shard-size", "2",
               "--variants", "2", "--size", "24", "--parallelism", "2", "--completions", "5"]
    assert main(["k8s", "render", "--job-only", "augment", *request]) == 0
    rendered = list(yaml.safe_load_all(capsys.readouterr().out))

    class Created(Exception):
        pass

    def create(job: AugmentJob) -> None:  # the run's Job as it would be created; nothing reaches a cluster
        submitted.append(job.manifest)
        raise Created

    submitted: list[dict] = []
    monkeypatch.setattr(AugmentJob, "start", create)
    with pytest.raises(Created):
        main(["augment", "--executor", "kubernetes", *request])
    assert rendered == [yaml.safe_load(yaml.safe_dump(submitted[0]))]
    assert pod_args(rendered[0])[-2:] == ["--shard", "/5"] and rendered[0]["spec"]["parallelism"] == 2


def test_index_ranges_read_as_the_job_status_writes_them():
    for indexes in (set(), {0}, {1, 2}, {0, 1, 2, 5, 7, 8, 9, 10}):
        assert parse_indexes(index_text(indexes)) == indexes
    assert index_text({1, 3, 4, 5, 7}) == "1,3-5,7" and parse_indexes("1,3-5,7") == {1, 3, 4, 5, 7}


def test_a_job_left_running_by_an_earlier_controller_is_followed_not_started_again(clusters):
    import time

    from deepaug.augmentation.workers import prepare_output

    cluster = clusters(pod=lambda job, index: time.sleep(0.3))  # then the real pod runs
    src, out = source(cluster), cluster.storage / "out"
    plan = make_plan("reference", src, out, **OPTIONS)
    prepare_output(plan)  # ...an earlier controller claimed the output, created the Job and died
    # the earlier Job has 3 pods; this request would make 2: 3 pod runs prove it was followed, not replaced
    cluster.api.create_namespaced_job(NAMESPACE, render_augment_job(cluster.settings(), plan, "reference", 1, 3))
    result = augment("reference", src, out, executor="kubernetes", kubernetes=cluster.settings(), parallelism=1,
                     completions=2, **OPTIONS)
    assert result.complete and sorted(index for _, index, _ in cluster.controller.indexed) == [0, 1, 2]
    assert cluster.jobs() == []


def test_a_controller_error_other_than_ctrl_c_leaves_the_job_running_for_the_next_command(clusters, monkeypatch):
    import time

    from deepaug.kubernetes import augment as k8s_augment

    cluster = clusters(pod=lambda job, index: time.sleep(0.5))
    src, out = source(cluster), cluster.storage / "out"

    def expired(self, job, done):  # the controller fails while the Job runs (a bug, expired credentials...)
        raise k8s_augment.RunError("the controller lost its way")

    monkeypatch.setattr(k8s_augment.AugmentJob, "_log_progress", expired)
    with pytest.raises(k8s_augment.RunError, match="lost its way"):
        augment("reference", src, out, executor="kubernetes", kubernetes=cluster.settings(), parallelism=2,
                **OPTIONS)
    assert len(cluster.jobs()) == 1  # kept: its pods need no controller
    monkeypatch.undo()
    result = augment("reference", src, out, executor="kubernetes", kubernetes=cluster.settings(), parallelism=2,
                     **OPTIONS)
    assert result.complete and cluster.jobs() == []


def test_augment_pods_ask_for_one_cpu_and_no_gpu_whatever_the_trials_ask_for(tmp_path, capsys):
    write_images(tmp_path / "shared" / "src")
    config = tmp_path / "search.yaml"  # a search's GPU settings
    config.write_text(yaml.safe_dump({"dataset": "cifar10", "kubernetes": {
        "image": "deepaug:0.1.0-gpu", "storage": str(tmp_path / "shared"), "volume_claim": "data", "gpus": 1,
        "cpu": 4, "memory": "16Gi"}}))
    # through the real CLI, with the render options before `augment` as its usage line shows them
    assert main(["k8s", "render", "--config", str(config), "--job-only", "augment", "--policy", "reference",
                 "--input", str(tmp_path / "shared" / "src"), "--output", str(tmp_path / "shared" / "out")]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["Job"]
    resources = docs[0]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "1", "memory": "16Gi"} and "nvidia.com/gpu" not in resources["limits"]


def test_a_planned_job_run_without_a_cluster_writes_nothing(tmp_path):
    """plan_augment_job without connect_api, then run_augment_job: the kubeconfig loads before the output
    is claimed, so a bad one leaves the output as it was."""
    from deepaug.kubernetes.augment import run_augment_job

    write_images(tmp_path / "shared" / "src")
    src, out = tmp_path / "shared" / "src", tmp_path / "shared" / "out"
    settings = {"image": "i", "storage": str(tmp_path), "volume_claim": "data",
                "kubeconfig": str(tmp_path / "no-such-kubeconfig")}
    job = plan_augment_job("reference", src, out, settings=settings, **OPTIONS)
    with pytest.raises(InputError, match="cannot load the Kubernetes configuration"):
        run_augment_job(job)
    assert not out.exists() or not any(out.iterdir())


def test_a_gs_or_az_output_is_refused_as_a_store_the_pods_get_no_credentials_for():
    settings = KubernetesSettings(image="i", storage="s3://b/p")
    check_reachable("s3://b/out", "output", settings)
    for uri in ("gs://b/out", "az://container/out"):
        with pytest.raises(InputError, match=f"output {uri} is on a store the pods are not given credentials for"):
            check_reachable(uri, "output", settings)
