"""The process around each child training: keras' session cleared, garbage collected (spaced
out), python / numpy / TF seeded, TF's op determinism asked for once.
"""
from __future__ import annotations

import gc
import logging
import math
import time

logger = logging.getLogger(__name__)

_determinism = {"enabled": False}


class _RetracingFilter(logging.Filter):
    """Every child model is a fresh keras model, so TF's "triggered tf.function retracing"
    warning fires on every training: expected here, and noise in the search's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


_RETRACING_FILTER = _RetracingFilter()


GC_SHARE = 0.1  # the most of a process's time that seed_everything's garbage collections may take
GC_MAX_SKIPPED = 3  # but never more trainings than this in a row without one (their dead models wait for it)
_collected = {"at": -math.inf, "took": 0.0, "skipped": 0}  # the last full collection: when it ended, how
# long it took, and how many calls skipped one since


def collect_garbage() -> None:
    """A full `gc.collect()` before a training (it frees the last children's models, whose layers
    hold each other in cycles), unless the last one was too recent: once TensorFlow is loaded
    one takes about 0.4 s, so they are spaced to take at most GC_SHARE of the time, and at
    most GC_MAX_SKIPPED trainings go without one, so that dead models (large ones too) do not
    pile up. A search of 60-epoch trainings collects before every training; a loop of
    one-second trainings before every fourth."""
    if _collected["skipped"] < GC_MAX_SKIPPED and \
            time.monotonic() - _collected["at"] < _collected["took"] / GC_SHARE:
        _collected["skipped"] += 1
        return
    start = time.monotonic()
    gc.collect()
    end = time.monotonic()
    _collected.update(at=end, took=end - start, skipped=0)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Clear keras' session (frees the last child's graphs; `collect_garbage`), seed python,
    numpy and TF, and ask TF for deterministic ops (a process-wide setting, made once)."""
    import keras  # heavy: loaded with the first training
    import tensorflow as tf  # heavy, as keras

    keras.backend.clear_session(free_memory=False)
    collect_garbage()
    tf_logger = logging.getLogger("tensorflow")
    if _RETRACING_FILTER not in tf_logger.filters:
        tf_logger.addFilter(_RETRACING_FILTER)
    if deterministic and not _determinism["enabled"]:
        try:
            tf.config.experimental.enable_op_determinism()
            logger.debug("TensorFlow op determinism enabled")
        except (AttributeError, RuntimeError) as exc:  # older TF, or already-initialised runtime
            logger.warning("could not enable TensorFlow op determinism (%s); same-seed trainings may "
                           "differ slightly", exc)
        _determinism["enabled"] = True
    keras.utils.set_random_seed(seed)
