"""Fixtures of the evaluation tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def trainings(monkeypatch):
    """The seeds of every real training `deepaug evaluate` runs from here on, in order (the training
    itself runs as it is; only counted)."""
    pytest.importorskip("tensorflow")
    from deepaug.training import train as training  # (after the skip: training needs TensorFlow)

    seeds: list[int] = []
    real = training.train_and_score

    def counting(train, test, policy, config, seed):
        seeds.append(seed)
        return real(train, test, policy, config, seed)

    monkeypatch.setattr(training, "train_and_score", counting)
    return seeds
