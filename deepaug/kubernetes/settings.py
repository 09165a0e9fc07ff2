"""The `kubernetes:` settings: where and how trial Jobs and augment Jobs run (see k8s/README.md)."""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from deepaug.config_values import ConfigModel
from deepaug.storage.base import redact

_CPU = re.compile(r"^[0-9]+(\.[0-9]+)?m?$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$")
# Environment variable names that hold credentials: those go in a Secret (secret_name), never in a manifest.
_CREDENTIAL_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE|API_KEY", re.I)


class KubernetesSettings(ConfigModel):
    """Where and how trial Jobs run (`executor: kubernetes`); see k8s/README.md.

    `storage` is the URI the controller and the pods share (s3://bucket/prefix, or a path
    on a shared volume mounted at the same path in both: `volume_claim` names its PVC).
    Credentials reach pods only through the cluster (service account / IAM role) or the
    Secret named by `secret_name`; `env` refuses names that look like credentials.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)  # env may hold secrets

    image: str | None = None  # the worker image (k8s/Dockerfile); required to run
    storage: str | None = None  # shared storage URI for specs, data and records; required to run
    namespace: str = "default"
    service_account: str | None = "deepaug-worker"
    secret_name: str | None = None  # a Secret whose keys become the pod's environment (envFrom)
    env: dict[str, str] = Field(default_factory=dict)  # plain settings such as AWS_ENDPOINT_URL
    cpu: str | int | float = "1"
    memory: str = "4Gi"
    gpus: int = Field(0, ge=0)
    gpu_resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    volume_claim: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    backoff_limit: int = Field(2, ge=0)  # pod retries inside one Job (crashes, evictions)
    active_deadline_seconds: int | None = Field(86400, ge=1)
    ttl_seconds_after_finished: int | None = Field(3600, ge=0)
    max_retries: int = Field(1, ge=0)  # Jobs recreated after a Job failed, each resuming the trial
    poll_seconds: float = Field(2.0, gt=0)  # one Job list call per poll; a result waits poll/2 on average
    api_retries: int = Field(5, ge=0)  # retries of an API call (connection errors, 429, 5xx)
    kubeconfig: str | None = None  # default: $KUBECONFIG, ~/.kube/config, else in-cluster
    context: str | None = None
    job_template: str | None = None  # default: the packaged k8s/trial-job.yaml

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> Any:
        if isinstance(value, bool) or not _CPU.match(str(value)) or float(str(value).rstrip("m")) <= 0:
            raise ValueError("must be a CPU quantity such as 2, 1.5 or 500m")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError("must be a memory quantity such as 4Gi, 512Mi or 8G")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        secret = sorted(name for name in value if _CREDENTIAL_NAME.search(name))
        secret += sorted(f"{name} (its value holds a user:password@ or a password parameter in a URL)"
                         for name, text in value.items() if redact(str(text)) != str(text))
        if secret:
            raise ValueError(f"{secret} look like credentials; put them in a Secret and name it in "
                             "kubernetes.secret_name (or use the pod's service account / IAM role)")
        return value
