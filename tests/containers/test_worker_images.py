"""The worker images of k8s/Dockerfile, run as the Jobs' pods run them (marker `container`).

The cluster is the stand-in of tests/_k8s.py (kmock's API emulator, a harness playing the
Job controller); its pods are real containers of the images scripts/build-image.sh builds,
run by tests/_containers.py with the pods' security settings as the manifest states them
(uid 10001, read-only root, a tmpfs /tmp, no capabilities, no privilege escalation) and
--network host, talking to a moto S3 server and a redis-server (tests/_redis.py) on loopback.
The S3 credentials and the queue's password reach the containers only as the environment of
the Secret the Job names (moto accepts any S3 credentials; the redis-server wants its password).
Skipped, with the reason, without Docker or the images:

    bash scripts/build-image.sh && python -m pytest -m container tests/containers
"""
from __future__ import annotations

import copy
import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from _augment_data import stored, upload, write_images
from _containers import AUGMENT_IMAGE, DockerPods, augment_image, docker, kill, security_options  # noqa: F401
from _containers import trial_image  # noqa: F401  (fixture)
from _k8s import clusters  # noqa: F401  (fixture)
from _k8s import settings
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401  (fixtures)
from _redis import PASSWORD, guarded_redis  # noqa: F401  (fixture)
from _search import toy_data
from deepaug import Policy
from deepaug.api import augment
from deepaug.augmentation.plan import make_plan
from deepaug.augmentation.work_queue import PASSWORD_VARIABLE, WorkQueue
from deepaug.augmentation.workers import RunError
from deepaug.cli.app import main
from deepaug.datasets import from_arrays, split_train_val
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, TrialState
from deepaug.kubernetes.augment_job import POLICY_KEY, render_augment_job
from deepaug.kubernetes.executor import KubernetesExecutor, trial_record_key
from deepaug.storage.backends import S3Storage, open_storage, read_json
from deepaug.training.train import TrainingConfig

pytest.importorskip("kubernetes")
pytest.importorskip("kmock")
boto3 = pytest.importorskip("boto3")
pytestmark = pytest.mark.container

SECRET = {"AWS_ACCESS_KEY_ID": "deepaug-container-test-key", "AWS_SECRET_ACCESS_KEY": "deepaug-container-test-0f3a9c"}
POLICY = Policy.from_list([[("rotate", 0.8, 0.3), ("invert", 0.5, 0.5)], [("cutout", 0.6, 0.4)]])


def pod_settings(cluster, s3_env: str, image: str, **overrides):
    """Settings whose pods reach the moto server with the Secret's credentials."""
    env = {"AWS_ENDPOINT_URL": s3_env, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    return settings(overrides.pop("storage", cluster.storage), cluster.kubeconfig, image=image, volume_claim=None,
                    secret_name="deepaug-s3", env=env, **overrides)


def no_secret_anywhere(pods: DockerPods, *storages, secrets: tuple[str, ...] = tuple(SECRET.values())) -> None:
    """The Secret's values are in no pod's log and no stored object."""
    texts = [log for *_, log in pods.runs] + [data.decode("latin-1") for s in storages for data in stored(s).values()]
    assert not [text for text in texts for value in secrets if value in text]


def test_the_pods_security_settings_hold_inside_the_container(tmp_path, augment_image):
    write_images(tmp_path / "src")
    plan = make_plan("reference", tmp_path / "src", tmp_path / "out")
    job = render_augment_job(settings(tmp_path, tmp_path / "kubeconfig", image=augment_image, volume_claim=None),
                             plan, "reference", 1, 1)
    probe = ("import os, pathlib\n"
             "status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
             "try:\n    open('/opt/deepaug/x', 'w'); root = 'writable'\n"
             "except OSError as exc:\n    root = exc.strerror\n"
             "pathlib.Path('/tmp/ok').write_text('ok')\n"
             "print(os.getuid(), os.getgid(), root, status['CapEff'].strip(), status['NoNewPrivs'].strip())")
    done = subprocess.run(["docker", "run", "--rm", *security_options(job), "--network", "host", "--entrypoint",
                           "python3", augment_image, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10001", "10001", "Read-only", "file", "system", "0000000000000000", "1"]


def test_the_augment_image_runs_two_indexes_of_a_job_and_the_run_equals_a_local_one(tmp_path, clusters, s3_bucket,
                                                                                  s3_env, augment_image):
    pods = DockerPods({"deepaug-s3": SECRET})
    cluster = clusters(pod=pods, secrets={"deepaug-s3": SECRET})
    write_images(tmp_path / "src")
    upload(tmp_path / "src", S3Storage(s3_bucket, "src"))
    src, policy_file = f"s3://{s3_bucket}/src", tmp_path / "best.json"  # the policy is on the controller only
    POLICY.to_json(policy_file)
    options = ["--variants", "2", "--shard-size", "3", "--png-compression", "1"]  # 12 images: 4 shards
    assert main(["augment", "--policy", str(policy_file), "--input", src, "--output", f"s3://{s3_bucket}/local",
                 *options]) == 0
    result = augment(policy_file, src, f"s3://{s3_bucket}/k8s", executor="kubernetes", parallelism=2,
                     completions=2, kubernetes=pod_settings(cluster, s3_env, augment_image).model_dump(),
                     variants=2, shard_size=3, png_compression=1)
    assert sorted((index, code) for _, index, code, _ in pods.ended(2)) == [(0, 0), (1, 0)], pods.runs
    assert result.complete and result.shards_done_here == 4
    k8s, local = stored(S3Storage(s3_bucket, "k8s")), stored(S3Storage(s3_bucket, "local"))
    assert Policy.from_dict(json.loads(k8s.pop(POLICY_KEY))) == POLICY  # what the pods read
    assert k8s == local and json.loads(k8s["manifest.json"]) == result.manifest
    assert cluster.jobs() == []
    no_secret_anywhere(pods, S3Storage(s3_bucket))


def test_two_augment_containers_share_one_run_through_a_redis_queue(tmp_path, s3_bucket, s3_env, guarded_redis,
                                                                   monkeypatch, augment_image):
    """`deepaug augment --queue` in two pods of one (non-indexed) Job: a work-queue Job, the queue's password in
    the Secret's environment (DEEPAUG_REDIS_PASSWORD), not in the URL."""
    import redis

    with redis.Redis.from_url(f"redis://{guarded_redis}/0", password=PASSWORD) as client:
        client.flushdb()  # the server is the session's
    secret = {**SECRET, PASSWORD_VARIABLE: PASSWORD}
    pods, url = DockerPods({"deepaug-s3": secret}), f"redis://{guarded_redis}/0"
    write_images(tmp_path / "src")  # 12 images: 6 shards of 2
    upload(tmp_path / "src", S3Storage(s3_bucket, "src"))
    request = ["--policy", "reference", "--input", f"s3://{s3_bucket}/src", "--variants", "2", "--shard-size", "2",
               "--png-compression", "1"]
    assert main(["augment", *request, "--output", f"s3://{s3_bucket}/local"]) == 0
    plan = make_plan("reference", f"s3://{s3_bucket}/src", f"s3://{s3_bucket}/queue", variants=2, shard_size=2,
                     png_compression=1)
    nowhere = SimpleNamespace(storage=tmp_path, kubeconfig=tmp_path / "kubeconfig")  # no API server: docker runs it
    job = render_augment_job(pod_settings(nowhere, s3_env, augment_image), plan, "reference", 2, 2)
    for key in ("completionMode", "completions", "backoffLimitPerIndex"):  # Kubernetes' work-queue Job pattern
        job["spec"].pop(key)
    job["spec"]["template"]["spec"]["containers"][0]["args"] = ["augment", *request, "--output",
                                                                f"s3://{s3_bucket}/queue", "--queue", url]
    with ThreadPoolExecutor(2) as pool:  # the two pods at once, each its own copy of the Job
        codes = list(pool.map(pods, [copy.deepcopy(job), copy.deepcopy(job)], [0, 1]))
    assert codes == [0, 0], pods.runs
    done = [int(n) for *_, log in pods.runs for n in re.findall(r"did (\d+) shard\(s\)", log)]
    assert len(done) == 2 and sum(done) == plan.n_shards == 6, pods.runs  # every shard once between them
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    queue = WorkQueue.connect(url, f"deepaug:augment:{plan.dataset_id[:16]}")
    assert queue.finished() and queue.counts()["done"] == plan.n_shards
    ran, local = stored(S3Storage(s3_bucket, "queue")), stored(S3Storage(s3_bucket, "local"))
    assert "manifest.json" in ran and ran == local  # finalized by the pod that did the last shard
    no_secret_anywhere(pods, S3Storage(s3_bucket), secrets=(*SECRET.values(), "Hunter", "Secret2"))


def test_a_container_killed_mid_shard_loses_nothing_and_the_same_command_redoes_its_shard(tmp_path, clusters,
                                                                                         s3_bucket, s3_env,
                                                                                         augment_image):
    client, seen = boto3.client("s3", endpoint_url=s3_env), {}

    def keys(prefix: str) -> list[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", ())]

    def kill_mid_shard(job, index, name) -> bool:  # index 1, once: after the first output of its first shard
        if index != 1 or seen:
            return False
        outputs, markers = keys("k8s/images/"), [k for k in keys("k8s/_shards/") if k.endswith(".json")]
        if len(outputs) <= len(markers) * per_shard:
            return False
        kill(name)
        seen.update(outputs=len(keys("k8s/images/")), markers=sorted(keys("k8s/_shards/")))
        return True

    pods = DockerPods({"deepaug-s3": SECRET}, watch=kill_mid_shard)
    cluster = clusters(pod=pods, secrets={"deepaug-s3": SECRET})
    write_images(tmp_path / "src", per_class=12, shape=(384, 512))  # 24 larger images: a shard takes a while
    upload(tmp_path / "src", S3Storage(s3_bucket, "src"))
    request = dict(variants=3, shard_size=6, io_threads=1)  # 4 shards of 6 images, 4 outputs each
    per_shard = 6 * 4
    local = augment("reference", f"s3://{s3_bucket}/src", f"s3://{s3_bucket}/local", **request)
    settings = pod_settings(cluster, s3_env, augment_image, backoff_limit=0).model_dump()

    def run():
        return augment("reference", f"s3://{s3_bucket}/src", f"s3://{s3_bucket}/k8s", executor="kubernetes",
                       parallelism=1, completions=2, kubernetes=settings, **request)

    with pytest.raises(RunError, match="missing: 2-3"):
        run()
    assert [(index, code) for _, index, code, _ in pods.runs] == [(0, 0), (1, 137)]
    # killed with shard 2 begun: whole outputs of it there, its marker not; shards 0 and 1 complete
    assert 2 * per_shard < seen["outputs"] < 4 * per_shard
    assert [k for k in seen["markers"] if k.endswith(".json")] == [f"k8s/_shards/shard-{i:06d}.json" for i in (0, 1)]
    kept = {k: v for k, v in stored(S3Storage(s3_bucket, "k8s")).items() if k.startswith("_shards/")}

    result = run()  # the same command: a new Job does the missing shards only
    assert result.complete and result.shards_done_here == 2 and result.manifest == local.manifest
    assert [(index, code) for _, index, code, _ in pods.runs[2:]] == [(0, 0), (1, 0)]
    k8s = stored(S3Storage(s3_bucket, "k8s"))
    assert k8s == stored(S3Storage(s3_bucket, "local"))  # nothing lost, nothing partial, nothing left over
    assert {k: k8s[k] for k in kept} == kept
    no_secret_anywhere(pods)


def test_the_trial_image_runs_a_trial_spec_from_s3_and_the_executor_reads_its_record(tmp_path, clusters, s3_bucket,
                                                                                   s3_env, trial_image):
    pods = DockerPods({"deepaug-s3": SECRET})
    cluster = clusters(pod=pods, secrets={"deepaug-s3": SECRET})
    x, y = toy_data(n=120)
    train, val = split_train_val(from_arrays(x, y), 60, 30, seed=0)
    config = TrainingConfig(child_epochs=1, child_batch_size=32, opt_samples=2, opt_last_n_epochs=1,
                            child_models_dir=str(tmp_path / "child_models"))
    settings = pod_settings(cluster, s3_env, trial_image, storage=f"s3://{s3_bucket}/shared", max_retries=0,
                            backoff_limit=0)
    updates: list[TrialRecord] = []
    executor = KubernetesExecutor(TrialContext(train, val, config), updates.append, settings, "containers", workers=1)
    try:
        executor.submit(TrialSpec(1, POLICY, 5))
        records: list[TrialRecord] = []
        while not records:
            records = executor.wait()
    finally:
        executor.close()
    [record] = records
    assert [(index, code) for _, index, code, _ in pods.ended(1)] == [(0, 0)], pods.runs
    assert record.state is TrialState.COMPLETE, record.error
    assert len(record.histories) == 2 and 0.0 <= record.reward <= 1.0
    assert record.spec == TrialSpec(1, POLICY, 5)
    shared = open_storage(f"s3://{s3_bucket}/shared")
    assert TrialRecord.from_dict(read_json(shared, trial_record_key("containers", 1))) == record  # what the pod wrote
    assert updates[-1] == record and cluster.jobs() == []
    no_secret_anywhere(pods, S3Storage(s3_bucket))
