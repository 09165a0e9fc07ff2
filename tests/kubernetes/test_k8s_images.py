"""Which image each Job runs: trial Jobs `kubernetes.image` (TensorFlow), augment Jobs
`kubernetes.augment_image` (the light image) when it is set, else `kubernetes.image`.

On the emulated cluster (tests/_k8s.py) the harness records the image of every pod it starts;
`deepaug k8s render` runs through the CLI.
"""
from __future__ import annotations

import pytest
import yaml

from _augment_data import write_images
from _k8s import Cluster, complete_without_training
from _search import toy_data
from deepaug.api import augment
from deepaug.cli.app import main
from deepaug.datasets import from_arrays, split_train_val
from deepaug.errors import InputError
from deepaug.execution.trials import TrialContext, TrialSpec, TrialState
from deepaug.kubernetes.augment import plan_augment_job
from deepaug.kubernetes.executor import KubernetesExecutor
from deepaug.kubernetes.manifests import KUBERNETES_VERSION, require
from deepaug.kubernetes.settings import KubernetesSettings
from deepaug.search.config import SearchConfig
from deepaug.training.train import TrainingConfig

pytest.importorskip("kubernetes")
pytest.importorskip("kmock")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

TRIAL, LIGHT = "registry.example.com/deepaug:0.1.0", "registry.example.com/deepaug-augment:0.1.0"
OPTIONS = {"variants": 2, "shard_size": 6, "io_threads": 1}  # 12 images: 2 shards


def image_of(job: dict) -> str:
    return job["spec"]["template"]["spec"]["containers"][0]["image"]


@pytest.fixture
def cluster(tmp_path):
    """An emulated cluster whose harness records each started pod's image; trial pods finish without training,
    augment pods run `deepaug augment` for real."""
    started: list[tuple[str, str]] = []

    def pod(job: dict, index: int) -> int | None:
        started.append((job["metadata"]["labels"].get("app.kubernetes.io/component", "trial"), image_of(job)))
        return None if job["spec"].get("completionMode") == "Indexed" else complete_without_training(job, index)

    running = Cluster(tmp_path / "cluster", pod=pod)
    running.started = started
    yield running
    running.stop()


def test_on_the_cluster_trial_pods_run_image_and_augment_pods_run_augment_image(tmp_path, cluster):
    settings = cluster.settings(image=TRIAL, augment_image=LIGHT)
    x, y = toy_data(n=60)
    train, val = split_train_val(from_arrays(x, y), 30, 30, seed=0)
    context = TrialContext(train, val, TrainingConfig(child_epochs=1, child_batch_size=32, opt_samples=1,
                                                      opt_last_n_epochs=1, child_models_dir=str(tmp_path / "m")))
    executor = KubernetesExecutor(context, None, settings, "images")
    try:
        executor.submit(TrialSpec(1, None, 5, "baseline"))
        assert executor.wait()[0].state is TrialState.COMPLETE
    finally:
        executor.close()
    write_images(cluster.storage / "src")
    result = augment("reference", cluster.storage / "src", cluster.storage / "out", executor="kubernetes",
                     kubernetes=settings, parallelism=2, **OPTIONS)
    assert result.complete and result.manifest["totals"]["outputs"] == 12 * 3
    assert cluster.started == [("trial", TRIAL), ("augment", LIGHT), ("augment", LIGHT)]


def test_without_augment_image_the_augment_pods_run_image_as_before(tmp_path):
    write_images(tmp_path / "shared" / "src")
    settings = dict(image=TRIAL, storage=str(tmp_path / "shared"), volume_claim="data")
    job, _ = plan_augment_job("reference", tmp_path / "shared" / "src", tmp_path / "shared" / "out",
                              settings=settings, **OPTIONS).render(upload=False)
    assert image_of(job) == TRIAL
    job, _ = plan_augment_job("reference", tmp_path / "shared" / "src", tmp_path / "shared" / "out",
                              settings={**settings, "augment_image": LIGHT}, **OPTIONS).render(upload=False)
    assert image_of(job) == LIGHT
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def test_k8s_render_shows_the_trial_job_and_the_augment_job_of_a_run_each_with_its_image(tmp_path, capsys):
    write_images(tmp_path / "shared" / "src")
    shared = str(tmp_path / "shared")
    config = tmp_path / "run.yaml"
    run = {"dataset": "fashion_mnist", "executor": "kubernetes",
           "kubernetes": {"image": TRIAL, "augment_image": LIGHT, "storage": shared, "volume_claim": "data"},
           "augment": {"executor": "kubernetes", "input": f"{shared}/src", "output": f"{shared}/out/{{id}}"}}
    config.write_text(yaml.safe_dump(run))
    assert main(["k8s", "render", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# trial Jobs run kubernetes.image: {TRIAL}\n"
                          f"# augment Jobs run kubernetes.augment_image: {LIGHT}\n")
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["Job", "Job", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    trial, job = docs[0], docs[1]
    assert image_of(trial) == TRIAL and trial["spec"]["template"]["spec"]["containers"][0]["args"][:2] == [
        "trial", "run"]
    assert image_of(job) == LIGHT and job["spec"]["completionMode"] == "Indexed"
    assert "standing in for the winner" in out and not (tmp_path / "shared" / "out").exists()  # writes nothing

    del run["kubernetes"]["augment_image"], run["augment"]  # a search only, as before: its Job, then the RBAC
    config.write_text(yaml.safe_dump(run))
    assert main(["k8s", "render", "--config", str(config), "--job-only"]) == 0
    out = capsys.readouterr().out
    assert f"# augment Jobs run kubernetes.image: {TRIAL} (no kubernetes.augment_image is set)" in out
    assert [image_of(d) for d in yaml.safe_load_all(out)] == [TRIAL]


def test_render_augment_image_option_wins_over_both_settings(tmp_path, capsys):
    write_images(tmp_path / "shared" / "src")
    config = tmp_path / "k8s.yaml"
    config.write_text(yaml.safe_dump({"kubernetes": {"image": TRIAL, "augment_image": LIGHT,
                                                     "storage": str(tmp_path / "shared"), "volume_claim": "data"}}))
    request = ["--policy", "reference", "--input", str(tmp_path / "shared" / "src"), "--output",
               str(tmp_path / "shared" / "out"), "--config", str(config)]
    assert main(["k8s", "render", "--job-only", "augment", *request]) == 0
    assert [image_of(d) for d in yaml.safe_load_all(capsys.readouterr().out)] == [LIGHT]
    assert main(["k8s", "render", "--job-only", "augment", *request, "--image", "mine/augment:2"]) == 0
    assert [image_of(d) for d in yaml.safe_load_all(capsys.readouterr().out)] == ["mine/augment:2"]


def test_augment_needs_either_image_and_a_search_needs_image_with_clear_errors(tmp_path, capsys):
    write_images(tmp_path / "shared" / "src")
    config = tmp_path / "k8s.yaml"
    config.write_text(yaml.safe_dump({"kubernetes": {"storage": str(tmp_path / "shared"), "volume_claim": "data"}}))
    request = ["--policy", "reference", "--input", str(tmp_path / "shared" / "src"), "--output",
               str(tmp_path / "shared" / "out"), "--config", str(config)]
    assert main(["augment", "--executor", "kubernetes", *request]) == 2
    err = capsys.readouterr().err
    assert "needs an image for the augment pods" in err and "kubernetes.augment_image" in err and "--image" in err
    assert main(["k8s", "render", "--job-only", "augment", *request, "--set", f"kubernetes.augment_image={LIGHT}"]) == 0
    assert [image_of(d) for d in yaml.safe_load_all(capsys.readouterr().out)] == [LIGHT]
    with pytest.raises(InputError, match=r"needs kubernetes.image in the config.*augment_image is for augment Jobs"):
        require(KubernetesSettings(augment_image=LIGHT, storage="s3://b/p"))


@pytest.mark.parametrize("key", ["image", "augment_image"])
@pytest.mark.parametrize("value", ["", "deepaug: 0.1", " deepaug:0.1", "deepaug:0.1\n", "a\tb"])
def test_an_image_with_spaces_or_empty_is_refused_naming_the_key(key, value):
    with pytest.raises(InputError, match=rf"kubernetes\.{key}: .*is not an image reference.*write e\.g\."):
        SearchConfig.from_user({"kubernetes": {key: value}})
    with pytest.raises(InputError, match=rf"kubernetes\.{key}: .*is not an image reference"):
        plan_augment_job("reference", "s3://b/in", "s3://b/out", settings={"image": "i", key: value})
    assert KubernetesSettings(**{key: "localhost:5000/deepaug-augment@sha256:" + "0" * 64})
