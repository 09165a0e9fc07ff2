"""One real trial on a real Kubernetes cluster; skipped unless one is configured.

Needs KUBECONFIG (a cluster and namespace where the identity holds the Role of
k8s/rbac.yaml), DEEPAUG_K8S_IMAGE (the worker image, built from k8s/Dockerfile and pullable
by the cluster) and DEEPAUG_K8S_STORAGE (an s3:// URI both this machine and the pods can
write; pods get access from DEEPAUG_K8S_SECRET, a Secret name, or their service account).
Optional: DEEPAUG_K8S_NAMESPACE (default: default), DEEPAUG_K8S_SERVICE_ACCOUNT,
DEEPAUG_K8S_CONTEXT (default: the kubeconfig's current one), DEEPAUG_K8S_POD_S3_ENDPOINT (the
S3 endpoint the pods use when not AWS, e.g. a MinIO Service's; this machine's is
AWS_ENDPOINT_URL). scripts/k8s-e2e.sh sets them all and runs this test.
"""
from __future__ import annotations

import os

import pytest

from _search import toy_data
from deepaug.kubernetes.settings import KubernetesSettings
from deepaug.datasets import from_arrays, split_train_val
from deepaug.kubernetes.executor import KubernetesExecutor
from deepaug.training.train import TrainingConfig
from deepaug.execution.trials import TrialContext, TrialSpec, TrialState

NEEDED = ("KUBECONFIG", "DEEPAUG_K8S_IMAGE", "DEEPAUG_K8S_STORAGE")
pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not all(os.environ.get(v) for v in NEEDED),
                                 reason=f"needs a real cluster: set {', '.join(NEEDED)}")]


def test_one_trial_runs_as_a_job_on_a_real_cluster(tmp_path):
    x, y = toy_data()
    train, val = split_train_val(from_arrays(x, y), 120, 60, seed=0)
    context = TrialContext(train, val, TrainingConfig(child_epochs=1, child_batch_size=32, opt_samples=1,
                                                      opt_last_n_epochs=1, child_models_dir=str(tmp_path)))
    endpoint = os.environ.get("DEEPAUG_K8S_POD_S3_ENDPOINT")
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    settings = KubernetesSettings(image=os.environ["DEEPAUG_K8S_IMAGE"], storage=os.environ["DEEPAUG_K8S_STORAGE"],
                                  namespace=os.environ.get("DEEPAUG_K8S_NAMESPACE", "default"),
                                  context=os.environ.get("DEEPAUG_K8S_CONTEXT") or None, env=env if endpoint else {},
                                  service_account=os.environ.get("DEEPAUG_K8S_SERVICE_ACCOUNT") or None,
                                  secret_name=os.environ.get("DEEPAUG_K8S_SECRET") or None, cpu="1", memory="2Gi",
                                  poll_seconds=2, active_deadline_seconds=900)
    executor = KubernetesExecutor(context, None, settings, f"cluster-test-{os.getpid()}")
    try:
        executor.submit(TrialSpec(1, None, 5, "baseline"))
        record = executor.wait()[0]
    finally:
        executor.close()
    assert record.state is TrialState.COMPLETE, record.error
    assert 0 <= record.reward <= 1 and len(record.histories) == 1
