"""Kubernetes: settings, the API client, Job manifests, trials as Jobs (and the trial pod's
worker), and augmentation runs as Indexed Jobs.
"""
