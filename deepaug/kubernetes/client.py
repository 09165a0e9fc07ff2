"""The Kubernetes API calls of a search: Jobs in one namespace, retried, with clear errors.

`JobsApi` wraps the official client's BatchV1Api: every call is retried with exponential
backoff (doubling from `backoff_seconds`, at most `max_backoff_seconds`, Retry-After
honoured) on connection errors, 429 and 5xx, `api_retries` times; then it raises
`KubernetesUnavailable` naming the server. 401/403, a missing namespace and a rejected
manifest are `InputError`s saying what to fix. urllib3's own retries are off, so a
call's attempts are exactly the ones logged.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from deepaug.errors import InputError, ServiceUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.kubernetes.settings import KubernetesSettings

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
TIMEOUT = (10, 60)  # seconds to connect, to read an answer
MISSING_POLLS = 3  # polls a Job may be absent before it counts as gone (a listing can lag a create)
USER_ERROR_REASON = "PodFailurePolicy"  # a Failed condition's reason when our exit code 2 (or 3) stopped it


class KubernetesUnavailable(ServiceUnavailable):
    """The API server did not answer after retries; finished trials (or shards) are kept, the command resumes."""


def connect(settings: "KubernetesSettings") -> Any:
    """A BatchV1Api from kubernetes.kubeconfig, $KUBECONFIG or ~/.kube/config, else the in-cluster config."""
    from kubernetes import client, config  # kubernetes is optional (the k8s extra)

    configuration = client.Configuration()
    try:
        if settings.kubeconfig or os.environ.get("KUBECONFIG") or Path("~/.kube/config").expanduser().is_file():
            config.load_kube_config(config_file=settings.kubeconfig, context=settings.context,
                                    client_configuration=configuration)
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
        else:
            raise InputError("no Kubernetes configuration found: set KUBECONFIG or kubernetes.kubeconfig, or run "
                             "the search in a pod with the deepaug-controller service account")
    except (config.ConfigException, OSError) as exc:
        raise InputError(f"cannot load the Kubernetes configuration ({exc}); check KUBECONFIG, kubernetes.kubeconfig "
                         "and kubernetes.context") from None
    configuration.retries = 0  # urllib3 must not retry on its own: JobsApi.call retries, with backoff
    return client.BatchV1Api(client.ApiClient(configuration))


def api_message(exc: Any) -> str:
    """The message of an ApiException's Status body (or its reason)."""
    try:
        return str(json.loads(exc.body).get("message", "")) or str(exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(getattr(exc, "reason", exc))


def job_state(job: Any) -> tuple[str, str]:
    """('running' | 'succeeded' | 'failed', 'Reason: message') of a V1Job."""
    status = job.status
    if status is None:
        return "running", ""
    conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"}
    for kind in ("Failed", "FailureTarget"):
        if kind in conditions:
            return "failed", f"{conditions[kind].reason}: {conditions[kind].message}"
    completions = getattr(getattr(job, "spec", None), "completions", None) or 1
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions or (status.succeeded or 0) >= completions:
        return "succeeded", "Complete"
    return "running", ""


class JobsApi:
    """Create, list and delete Jobs in `settings.namespace` (see the module docstring)."""

    def __init__(self, settings: "KubernetesSettings", api: Any = None, backoff_seconds: float = 0.5,
                 max_backoff_seconds: float = 30.0, kept: str = "finished trials are saved") -> None:
        self.settings, self.namespace, self.kept = settings, settings.namespace, kept
        self.backoff_seconds, self.max_backoff_seconds = backoff_seconds, max_backoff_seconds
        self.calls = 0  # HTTP requests made, retries included
        self.sleep: Callable[[float], None] = time.sleep
        self._api = api

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = connect(self.settings)
        return self._api

    def call(self, what: str, fn: Callable[..., Any], *args: Any, attempts: int | None = None, **kwargs: Any) -> Any:
        """fn(*args, **kwargs), retried with exponential backoff on connection errors, 429 and 5xx."""
        import urllib3  # kubernetes (and its urllib3) is optional (the k8s extra)
        from kubernetes.client.exceptions import ApiException  # kubernetes is optional (the k8s extra)

        attempts = self.settings.api_retries + 1 if attempts is None else attempts
        delay, problem = self.backoff_seconds, ""
        for attempt in range(1, attempts + 1):
            self.calls += 1
            try:
                return fn(*args, _request_timeout=TIMEOUT, **kwargs)
            except ApiException as exc:
                if exc.status in (401, 403):
                    raise InputError(f"the Kubernetes API refused to {what} in namespace {self.namespace!r} "
                                     f"({exc.status} {exc.reason}: {api_message(exc)}); the identity in use needs the "
                                     "Role in k8s/rbac.yaml (`deepaug k8s render` prints it)") from None
                if exc.status not in RETRY_STATUSES:
                    raise
                problem = f"{exc.status} {exc.reason}"
                after = (exc.headers or {}).get("Retry-After", "")
                wait = max(delay, float(after)) if after.isdigit() else delay
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                problem, wait = f"{type(exc).__name__}: {str(exc)[:240]}", delay
            if attempt < attempts:
                log.warning("Kubernetes API: cannot %s (%s); retry %d of %d in %.1f s", what, problem, attempt,
                            attempts - 1, wait)
                self.sleep(wait)
                delay = min(delay * 2, self.max_backoff_seconds)
        host = getattr(getattr(getattr(self._api, "api_client", None), "configuration", None), "host", "?")
        raise KubernetesUnavailable(f"cannot {what}: the Kubernetes API server {host} failed {attempts} time(s), last "
                                    f"with {problem}. Check the network, KUBECONFIG and the cluster; {self.kept}, "
                                    "run the same command again to resume")

    def create(self, job: dict[str, Any]) -> None:
        """Create `job`; one that already exists under its name is followed (an earlier run, a timed-out create)."""
        from kubernetes.client.exceptions import ApiException  # kubernetes is optional (the k8s extra)

        name = job["metadata"]["name"]
        try:
            self.call(f"create Job {name}", self.api.create_namespaced_job, self.namespace, job)
        except ApiException as exc:
            if exc.status == 409:
                log.info("Job %s already exists; following it", name)
            elif exc.status == 404:
                raise InputError(f"namespace {self.namespace!r} does not exist ({api_message(exc)}); create it or set "
                                 "kubernetes.namespace") from None
            elif exc.status in (400, 422):
                raise InputError(f"the Kubernetes API rejected Job {name} ({api_message(exc)}); check the kubernetes "
                                 "settings and the Job template (`deepaug k8s render` prints the Job)") from None
            else:
                raise

    def read(self, name: str) -> Any:
        """The Job called `name` (a V1Job), or None when there is none."""
        from kubernetes.client.exceptions import ApiException  # kubernetes is optional (the k8s extra)

        try:
            return self.call(f"read Job {name}", self.api.read_namespaced_job, name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, selector: str) -> dict[str, Any]:
        """The Jobs matching a label selector, by name."""
        listing = self.call("list Jobs", self.api.list_namespaced_job, self.namespace, label_selector=selector)
        return {job.metadata.name: job for job in listing.items}

    def delete(self, names: list[str], selector: str) -> None:
        """Delete Jobs (their pods go in the background); warnings only, and stop at an unreachable server."""
        from kubernetes.client.exceptions import ApiException  # kubernetes is optional (the k8s extra)

        for i, name in enumerate(names):
            try:
                self.call(f"delete Job {name}", self.api.delete_namespaced_job, name, self.namespace,
                          propagation_policy="Background", attempts=2)
            except ApiException as exc:
                if exc.status != 404:  # 404: gone already
                    log.warning("could not delete Job %s (%s)", name, api_message(exc))
            except (KubernetesUnavailable, InputError) as exc:
                log.warning("could not delete Jobs %s (%s); delete them with `kubectl delete job -n %s -l %s`",
                            names[i:], exc, self.namespace, selector)
                return
