"""Issue 12 pilot: more CutMix late in training, the same amount on average.

The finish pilot (bench/experiments/issue12_finish_pilot.py) found that turning CutMix *off* for the last
6-20 epochs costs the answer (TrivialAugment + CutMix 1/2) 0.2-0.4 points on validation: the
mixing matters most at the end. This asks the converse: does *more* CutMix late, less early,
beat a constant 1/2? Trained exactly as the finish pilot trains (4,000 images, the search's
20,000 validation images, 60 epochs, bfloat16, the search's 3 common seeds, continued from the
checkpoint at each switch; never the test split). Candidates:

- ``ta``, ``cm50``: TrivialAugment and the answer (copy their files from a finish-pilot OUT
  to skip training them again: the same trainings, bit for bit);
- ``cm25_75``: TrivialAugment + CutMix 1/4 for 30 epochs, then 3/4 (1/2 on average);
- ``cm50_100``: the answer for 40 epochs, then CutMix on every image for the last 20.

Run:  PYTHONPATH=. python bench/experiments/issue12_schedule_pilot.py OUT [--only NAME ...] [--report]
"""
from __future__ import annotations

import dataclasses
import sys

from bench.experiments import issue12_finish_pilot as finish
from deepaug.policy.core import Policy


def candidates() -> dict[str, list[tuple[object, int]]]:
    table = finish.candidates()
    ta = table["ta"][0][0].distribution

    def cutmix(p: float) -> Policy:
        return Policy.from_distribution(dataclasses.replace(ta, cutmix=p))

    return {"ta": table["ta"], "cm50": table["cm50"],
            "cm25_75": [(cutmix(0.25), 30), (cutmix(0.75), finish.EPOCHS)],
            "cm50_100": [(cutmix(0.5), 40), (cutmix(1.0), finish.EPOCHS)]}


def main(argv: list[str] | None = None) -> int:
    return finish.pilot_main(__doc__, candidates, argv)


if __name__ == "__main__":
    sys.exit(main())
