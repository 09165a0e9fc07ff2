"""The distribution search: screen, halve, race against the free baselines, answer safely.

`DistributionSearch(data, config, name).run(iterations)` (what `search_space:
distribution`, the default, runs):

1. **Controls.** The free recipes of `controls` (deepaug.search.controls: TrivialAugment,
   trial 1, the reference of every paired gain in the screen and rungs; RandAugment(2,
   9/30), trial 2; no augmentation; flip + crop; TrivialAugment + flip + crop;
   TrivialAugment + CutMix 1/2) are screened like candidates, on the same seeds and epochs.
   Tuned RandAugment is not among them: its grid (15 points) would cost more screen
   trainings than all the other controls together, and the space holds that grid (n 1..3,
   any magnitude, spread 0), so the optimizer may find a tuned RandAugment itself;
   `deepaug evaluate --tune-randaugment` compares with it on test.
2. **Screen.** `iterations` candidates, first the starts (published recipes, or the
   user's `starts`; those equal to a control are left out), then the random-forest
   Bayesian optimizer's proposals (told every screen result as it arrives), on `search_seeds`
   common seeds. By default (`screen: shared`) the shared stage (trial 0, `child_epochs -
   tune_epochs` epochs under `shared_policy`, TrivialAugment over the space's ops;
   deepaug.search.screen.shared_stage) trains first and every screened trial continues it for
   the last `tune_epochs` (augmentation-wise weight sharing, Tian et al. 2020); the best
   `finalists` by that screen go to the race. It ranked 16 policies closer to their full
   trainings than short trainings did on both datasets measured (docs/benchmarks.md,
   protocols 1 and 3), though not as closely as issue 37 asked (Spearman 0.70 and 0.48).
3. **Successive halving** (`screen: rungs`, the search's screen before). Each candidate trains
   to the first rung (deepaug.training.rungs); at each later rung the best 1 in `halving_rate`
   candidates (by paired gain over TrivialAugment on the same seeds) continue from their
   checkpoints, beside TrivialAugment and the controls that will race; the last rung trains
   `child_epochs`, the final training's length.
4. **Race.** The best `finalists` race the `raced_controls` controls with the best screen
   rewards at full training on `race_seeds` common seeds other than the search seeds,
   scored on validation images of their own (`race_holdout`: a stratified half that the
   screen and rungs never ranked on), since the seeds and images that chose the
   finalists could flatter them. Before it starts, the race logs the interval it can
   reach, with a warning when it cannot separate a gain of 1 point (deepaug.search.racing).
   With `race_cut_after`, everyone races on that many of the seeds, then only the
   finalist with the highest mean paired gain over the better control, and that
   control, go on to the rest (a race, in the sense of racing algorithms: the trainings
   of the ones behind are saved). The best control by the race is the best free
   baseline. The winner is the finalist with the highest mean paired gain over it,
   *only if* the lower bound of its 95% interval is above zero (and, in a race cut short,
   only the leader that ran every seed can win); otherwise the answer is the best free
   baseline, and the search says plainly that nothing beat it. verdict.json and the
   report say how much of the training time the controls took.

The stages live in modules of their own: the screen (deepaug.search.screen), the rungs
(deepaug.search.halving), the race and its verdict (deepaug.search.racing), over one stage
runner (deepaug.search.stages) and the scores (deepaug.search.scores); the table and
verdict.json are deepaug.search.results.

Later rungs and the race send their trainings out a seed at a time (`StudyRun.stage`), so that the
workers stay busy to a stage's end. Every training lands in the trial records as it
finishes, so a killed search resumes where it stopped: the optimizer is replayed from the
rung-0 results, each stage skips what its records already hold, and an interrupted rung
continues from its checkpoints. The checkpoints of trials that go no further are deleted
as each rung is decided, and the rest when the race is over.
Validation data come from the user's training data (never a test split), or from the
`validation_images` / `validation_labels` they pass (the search then optimizes for that
distribution).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from deepaug.datasets import Dataset
from deepaug.errors import InputError
from deepaug.execution.trials import TrialContext, TrialRecord
from deepaug.policy.core import Policy
from deepaug.search import results
from deepaug.search.config import SearchConfig
from deepaug.search.controls import make_controls
from deepaug.search.distribution_space import DistributionSpace
from deepaug.search.engine import Engine, data_identity, write_samples
from deepaug.search.eta import stage_plan
from deepaug.search.experiment import VERDICT
from deepaug.search.halving import halve
from deepaug.search.race import Verdict
from deepaug.search.racing import race, verdict, warn_of_few_seeds
from deepaug.search.screen import Screen, screen_controller, shared_stage
from deepaug.search.scores import Scores
from deepaug.search.stages import StudyRun
from deepaug.search.validation import holdout_halves, study_split, user_validation
from deepaug.storage.atomic import remove_stale_temps
from deepaug.training.models import check_model_input
from deepaug.training.rungs import crn_seeds, rung_epochs

if TYPE_CHECKING:  # pragma: no cover
    import pandas

log = logging.getLogger(__name__)


class DistributionSearch(Engine):
    """One experiment's distribution search over `data` (see the module docstring): a `SearchEngine`."""

    def __init__(self, data: Dataset, config: SearchConfig, experiment_name: str,
                 max_consecutive_failures: int = 3) -> None:
        super().__init__(data, config, experiment_name, max_consecutive_failures)
        config = self.config  # with the values an experiment stored before some keys existed ran with
        self.space: DistributionSpace = config.make_search_space(data.image_shape[-1])
        self.controls = make_controls(config.controls, self.space)  # the free recipes, trials 1..
        self.starts = self.space.starts(config.starts)  # InputError before any work for one outside the space
        self.training = config.training_config()
        check_model_input(config.model, data.image_shape, data.num_classes)
        self.validation = user_validation(config, data)
        self.schedule = [config.child_epochs] if config.screen == "shared" else \
            rung_epochs(config.child_epochs, config.rungs, config.halving_rate)
        self.identity = data_identity(data)
        if self.validation is not None:
            self.identity["validation"] = data_identity(self.validation)
        self.experiment.check(config.to_record(), self.identity)  # refuse a different search before any work
        study_split(data, config, self.validation, 0, warn=True)  # sizes checked before any work
        warn_of_few_seeds(config.race_seeds)
        self.verdict: Verdict | None = None
        self.scores: Scores | None = None  # how this run scores its records, once run() has split the data
        self.wall_seconds: float | None = None  # of the last run, once it has finished

    # ------------------------------------------------------------ the run

    def run(self, iterations: int, screen_only: bool = False, callbacks: Iterable[Any] = ()) -> list[TrialRecord]:
        """Screen `iterations` candidates, halve, race; return every record (verdict in `self.verdict`).

        `screen_only` stops after the screen (no halving, no race, no verdict): what a
        benchmark of the proposals measures (bench/search.py). `callbacks` hear of each
        training, trial and stage of this run (deepaug.search.callbacks)."""
        return super().run(iterations, callbacks, screen_only=screen_only)

    def _start(self, run_seed: int) -> tuple[TrialContext, Path]:
        """The run's scores and trial context (the data split, the checkpoints' folder)."""
        config, exp = self.config, self.experiment
        train, val = study_split(self.data, config, self.validation, run_seed)
        self.scores = Scores(self.schedule, crn_seeds(run_seed, config.search_seeds + config.race_seeds),
                             config.search_seeds, config.race_seeds, self.training.opt_last_n_epochs, len(val),
                             holdout_halves(val.labels, run_seed) if config.race_holdout else None,
                             config.race_cut_after, {c.number: c.name for c in self.controls},
                             config.raced_controls)
        write_samples(exp, train)
        checkpoints = Path(config.child_models_dir) / "checkpoints" / exp.name
        remove_stale_temps(checkpoints)  # the lock is ours: temp files there are from a killed run
        holdout = self.scores.holdout
        tune = config.shared_tune_epochs
        screen = (f"shared screen ({config.child_epochs - tune} shared epochs, then {tune} per candidate)"
                  if config.screen == "shared" else f"rungs {self.schedule} epochs")
        log.info("distribution search %r: %d training / %d validation images, %s, %d search seed(s), race on %d "
                 "seeds%s", exp.name, len(train), len(val), screen, config.search_seeds, config.race_seeds,
                 "" if holdout is None else f"; the screen scores on {len(holdout[0])} of the validation images, "
                 f"the race on the other {len(holdout[1])}")
        return TrialContext(train, val, self.training, None, str(checkpoints)), checkpoints

    def _run(self, iterations: int, screen_only: bool = False) -> list[TrialRecord]:
        exp = self.experiment
        run_seed = exp.start(self.config.to_record(), self.identity, self.space.to_dict(), self.config.seed)
        self.callbacks.send("on_search_begin", exp)
        records = {r.number: r for r in exp.records()}
        exp.rebuild_notebook(list(records.values()))
        context, checkpoints = self._start(run_seed)
        scores = self.scores
        controller = screen_controller(self.space, self.config.method, self.config.opt_initial_points, run_seed,
                                       scores, records)
        started = time.perf_counter()
        with self._executing(context, records) as executor:
            study = StudyRun(scores, records, executor, self.callbacks, self.training.model_name,
                             plan=self._plan(iterations))
            config = self.config
            shared = shared_stage(self.space, config.shared_policy, config.child_epochs - config.shared_tune_epochs,
                                  scores.search_seeds, run_seed) if config.screen == "shared" else None
            Screen(study, self.controls, self.starts, controller, run_seed, iterations, self._check_failures,
                   shared).run()
            self.callbacks.send("on_rung_end", "screen", self.schedule[0], study.sorted_records())
            if screen_only:
                return study.sorted_records()
            finalists = halve(study, self.config.finalists, self.config.halving_rate)[:self.config.finalists]
            race(study, finalists)
            study.discard(sorted(records), "the search is finished")
            _remove_empty(checkpoints)
        self.verdict = verdict(scores, records, finalists)
        self.wall_seconds = time.perf_counter() - started
        self.write_results(list(records.values()))
        log.info("%s", self.verdict.message)
        log.info("the %d controls took %s", len(self.controls), results.control_share_text(list(records.values())))
        out = sorted(records.values(), key=lambda r: r.number)
        self.callbacks.send("on_search_end", out)
        return out

    def _plan(self, iterations: int) -> list[tuple[str, int]]:
        """The stages' planned epochs of training, for the search's ETA (deepaug.search.eta)."""
        c = self.config
        return stage_plan(iterations, len(self.controls), c.raced_controls, self.schedule, c.search_seeds,
                          c.race_seeds, c.finalists, c.halving_rate, c.race_cut_after)

    def _trained(self, previous: TrialRecord | None, record: TrialRecord,
                 records: Mapping[int, TrialRecord]) -> None:
        """The notebook is written again (a rung replaces a seed's shorter history); on_training_end
        hears of each new training."""
        if previous is None or previous.histories != record.histories:
            self.experiment.rebuild_notebook(list(records.values()))
            if record.histories and (previous is None or len(record.histories) >= len(previous.histories)):
                self.callbacks.send("on_training_end", record)

    # ------------------------------------------------------------ the answer

    @property
    def search_seeds(self) -> list[int]:
        """The seeds every candidate trains on in the screen and rungs (once run() has started)."""
        return self._scores().search_seeds

    @property
    def race_seeds(self) -> list[int]:
        """The race's own seeds (once run() has started)."""
        return self._scores().race_seeds

    def screen_gains(self, records: Sequence[TrialRecord]) -> dict[int, float]:
        """Each screened candidate's paired gain over TrivialAugment at the first rung (points)."""
        return self._scores().screen_gains(records)

    def _scores(self) -> Scores:
        if self.scores is None:
            raise InputError(f"experiment {self.experiment.name!r} has no scores before this search runs "
                             "(they need its data split): run it first (optimize)")
        return self.scores

    def best_policy(self, records: Sequence[TrialRecord] | None = None) -> Policy | None:
        """The race's answer: the winner, or the best control when nothing beat it (None before
        the race); `records` by default the experiment's."""
        if self.verdict is None:
            return None
        records = self.experiment.records() if records is None else records
        record = next((r for r in records if r.number == self.verdict.winner), None)
        return None if record is None else record.policy_object()

    def results_table(self, records: Sequence[TrialRecord]) -> "pandas.DataFrame":
        """Finalists and controls (race gains with intervals), then the other candidates."""
        if self.scores is None and not records:  # a new experiment, before its first run
            import pandas as pd  # pandas loads here, on first use

            return pd.DataFrame()
        return results.results_table(self._scores(), self.verdict, records)

    def write_results(self, records: Sequence[TrialRecord], wall_seconds: float | None = None) -> "pandas.DataFrame":
        """top_policies.csv, best_policy.json (+ policies_dir copy) and verdict.json (with
        `wall_seconds`, by default the last run's)."""
        table = super().write_results(records)
        if self.verdict is not None:
            wall_seconds = self.wall_seconds if wall_seconds is None else wall_seconds
            document = results.verdict_document(self._scores(), self.verdict, self.best_policy(records), records,
                                                 wall_seconds)
            self.experiment.write_text(VERDICT, json.dumps(document, indent=2))
        return table


def _remove_empty(checkpoints: Path) -> None:
    """The checkpoints' folder and its parent, left empty: gone too (a rerun makes them again)."""
    for folder in (checkpoints, checkpoints.parent):
        try:
            folder.rmdir()
        except OSError:  # not empty (another experiment's, a file of the user's) or not there
            break
