"""Kubernetes: settings, the API client, Job manifests, trials as Jobs (and the trial pod's
worker), and augmentation runs as Indexed Jobs.
"""
from __future__ import annotations

from deepaug.kubernetes.augment import PlannedJob, augment_on_kubernetes, plan_augment_job, run_augment_job
from deepaug.kubernetes.executor import KubernetesExecutor
from deepaug.kubernetes.settings import KubernetesSettings

__all__ = ["KubernetesExecutor", "KubernetesSettings", "PlannedJob", "augment_on_kubernetes", "plan_augment_job",
           "run_augment_job"]
