"""How child models are trained and scored (`TrainingConfig`, DeepAugment's defaults), and the
seeds of a trial's trainings (`sample_seeds`).

>>> TrainingConfig(child_epochs=2).child_batch_size
64
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepaug.errors import InputError
from deepaug.policy.apply import check_seed
from deepaug.training.models import check_precision, model_key, parse_model_name
from deepaug.training.pipeline import positive_int

WARM_START_SEED = 0  # run_trial's default seed for the shared warm-start weights


@dataclass(frozen=True)
class TrainingConfig:
    """How child models are trained and scored (DeepAugment's defaults)."""

    model: Any = "basiccnn"  # a model name or a keras Model (cloned fresh for every training)
    child_epochs: int = 50
    child_batch_size: int = 64
    child_first_train_epochs: int = 0
    opt_samples: int = 3
    opt_last_n_epochs: int = 3
    overfit_threshold: float = 0.10
    learning_rate: float = 1e-3
    child_models_dir: str | os.PathLike[str] = "child_models"
    deterministic: bool = True  # TF op determinism (process-wide); False may be faster on GPU
    precision: str = "float32"  # or "bfloat16": a named model computes in mixed bfloat16 (models.PRECISIONS)

    def __post_init__(self) -> None:
        if isinstance(self.model, str):
            parse_model_name(self.model)  # InputError listing the valid names
        else:
            import keras  # a keras Model was passed, so keras is loaded already

            if not isinstance(self.model, keras.Model):
                raise InputError(f"training config: model must be a model name or a keras Model, "
                                 f"got {type(self.model).__name__}")
        for key in ("child_epochs", "child_batch_size", "opt_samples", "opt_last_n_epochs"):
            positive_int(getattr(self, key), key)
        positive_int(self.child_first_train_epochs, "child_first_train_epochs", 0)
        for key in ("overfit_threshold", "learning_rate"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not math.isfinite(float(value)) or float(value) <= 0:
                raise InputError(f"training config: {key} must be a positive number, got {value!r}")
        check_precision(self.precision, self.model)
        if not isinstance(self.deterministic, bool):
            raise InputError(f"training config: deterministic must be true or false, got {self.deterministic!r}")
        if not isinstance(self.child_models_dir, (str, os.PathLike)) or not str(self.child_models_dir):
            raise InputError(f"training config: child_models_dir must be a folder path, "
                             f"got {self.child_models_dir!r}")

    @property
    def model_name(self) -> str:
        return model_key(self.model) if isinstance(self.model, str) else f"keras:{self.model.name}"


def sample_seeds(seed: int, n: int) -> list[int]:
    """The seeds of a trial's n trainings: SeedSequence(seed).spawn(n), one 32-bit word each."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(check_seed(seed)).spawn(n)]
