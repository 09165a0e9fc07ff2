"""The `kubernetes:` settings: where and how trial Jobs and augment Jobs run (see k8s/README.md).

Checked before any work: every name that becomes a Kubernetes object's name or a reference to
one (namespace, service_account, secret_name, volume_claim, node_selector, gpu_resource) has
the form the API server demands, and `env` holds no credential, by its name or by its value's
shape (`credential_kind`), with the value never shown.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from deepaug.config_values import ConfigModel
from deepaug.storage.base import redact

_CPU = re.compile(r"^[0-9]+(\.[0-9]+)?m?$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$")
# Environment variable names that hold credentials: those go in a Secret (secret_name), never in a manifest.
_CREDENTIAL_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE|API_KEY|CONNECTION_STRING|"
                              r"ACCOUNT_KEY|SAS", re.I)
# Values shaped like credentials, whatever the variable's name: (what it looks like, pattern).
_CREDENTIAL_VALUES = (
    ("an Azure account or shared access key (AccountKey=, SharedAccessKey=)",
     re.compile(r"(Account|SharedAccess)Key\s*=", re.I)),
    ("an Azure shared access signature (SharedAccessSignature=, sig=)",
     re.compile(r"SharedAccessSignature\s*=|[?&;]sig=|^sig=", re.I)),
    ("a password or secret parameter (password=, pwd=, secret=, token=)",
     re.compile(r"(^|[?&;\s])(password|passwd|pwd|secret|client_secret|token|access_token)\s*=\s*[^&;\s]", re.I)),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("an AWS secret access key (40 characters of mixed case, digits, / and +)",
     re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])[A-Za-z0-9/+]{40}$")),
    ("a private key (PEM)", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY")),
    ("a bearer or basic authorization header", re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.")),
    ("a GitHub, Slack or Google API token",
     re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[\w-]{35})")),
)
# DNS-1123: a label (namespaces) and a subdomain (most object names); a qualified name (label keys,
# extended resource names) and a label value. https://kubernetes.io/docs/concepts/overview/working-with-objects/names/
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_SPACE = re.compile(r"\s")  # an image reference has none (the API server refuses an image with spaces around it)
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_NAME_EXAMPLES = {"namespace": "ml", "service_account": "deepaug-worker", "secret_name": "deepaug-s3",
                  "volume_claim": "deepaug-shared", "gpu_resource": "nvidia.com/gpu"}


def credential_kind(value: str) -> str | None:
    """What `value` looks like when it looks like a credential (never the value itself), else None."""
    kind = next((kind for kind, pattern in _CREDENTIAL_VALUES if pattern.search(value)), None)
    return kind or ("a user:password@ or a password parameter in a URL" if redact(value) != value else None)


def name_problem(value: str, form: str) -> str | None:
    """Why `value` is not a Kubernetes name of `form` (label, subdomain, qualified, label value), or None."""
    if form == "label":
        good = len(value) <= 63 and _LABEL.match(value)
        wants = "a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending alphanumeric"
    elif form == "subdomain":
        good = len(value) <= 253 and _SUBDOMAIN.match(value)
        wants = ("a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', each part starting and "
                 "ending alphanumeric")
    elif form == "qualified":
        prefix, _, name = value.rpartition("/")
        good = len(name) <= 63 and _NAME_PART.match(name) and (not prefix or name_problem(prefix, "subdomain") is None)
        wants = "a qualified name: an optional DNS subdomain and '/', then at most 63 of [A-Za-z0-9-_.]"
    else:
        good = not value or (len(value) <= 63 and _NAME_PART.match(value))
        wants = "a label value: empty or at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric"
    return None if good else f"{value[:80]!r} is not {wants}, as Kubernetes requires"


class KubernetesSettings(ConfigModel):
    """Where and how trial Jobs and augment Jobs run (`executor: kubernetes`); see k8s/README.md.

    Trial Jobs run `image`; augment Jobs run `augment_image` when it is set (the light image,
    without TensorFlow), else `image`.

    `storage` is the URI the controller and the pods share (s3://bucket/prefix, or a path
    on a shared volume mounted at the same path in both: `volume_claim` names its PVC).
    Credentials reach pods only through the cluster (service account / IAM role) or the
    Secret named by `secret_name`; `env` refuses names that look like credentials.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)  # env may hold secrets

    image: str | None = None  # the worker image (k8s/Dockerfile, EXTRAS=cpu,s3,queue); trial Jobs need it
    augment_image: str | None = None  # augment Jobs' image (the light one, EXTRAS=s3,queue); default: image
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

    @field_validator("namespace", "service_account", "secret_name", "volume_claim", "gpu_resource")
    @classmethod
    def _names(cls, value: str | None, info: ValidationInfo) -> str | None:
        form = {"namespace": "label", "gpu_resource": "qualified"}.get(info.field_name, "subdomain")
        problem = None if value is None else name_problem(value, form)
        if problem:
            raise ValueError(f"{problem}; write e.g. {_NAME_EXAMPLES[info.field_name]!r}")
        return value

    @field_validator("image", "augment_image")
    @classmethod
    def _image(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (not value or _SPACE.search(value)):
            raise ValueError(f"{value[:80]!r} is not an image reference (a name and tag without spaces, as "
                             "`docker push` takes it); write e.g. 'registry.example.com/deepaug:0.1.0', or leave "
                             f"{info.field_name} out")
        return value

    @field_validator("node_selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            problem = name_problem(key, "qualified") or (f"{key[:80]!r}: {name_problem(text, 'value')}"
                                                         if name_problem(text, "value") else None)
            if problem:
                raise ValueError(problem)
        return value

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
        bad = sorted(name for name in value if not _ENV_NAME.match(name))
        if bad:
            raise ValueError(f"{[name[:80] for name in bad]} are not environment variable names (letters, digits, "
                             "'_', '-' and '.', not starting with a digit): rename them")
        secret = sorted(name for name in value if _CREDENTIAL_NAME.search(name))
        secret += sorted(f"{name} (its value looks like {kind})" for name, text in value.items()
                         if name not in secret and (kind := credential_kind(str(text))))
        if secret:
            raise ValueError(f"{secret} look like credentials; put them in a Secret and name it in "
                             "kubernetes.secret_name (or use the pod's service account / IAM role)")
        return value
