"""A distribution search's report (gains per stage, the policy it found) and report.html, rendered
by a real browser, on a hand-made finished experiment (no training)."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from deepaug import Policy
from deepaug.execution.trials import CONTROL, SEARCH, TrialRecord, TrialState
from deepaug.policy.distribution import Distribution
from deepaug.reports.html import markdown_html
from deepaug.reports.report import make_report
from deepaug.reports.stage_figures import distribution_png
from deepaug.search.experiment import Experiment

WINNER = Policy.from_distribution(Distribution.uniform(("rotate", "equalize", "solarize"), n=2, magnitude=0.6,
                                                       spread=0.5, flip=0.5, crop=0.125, cutmix=0.3))
TRIVIAL = Policy.from_distribution(Distribution.uniform(("rotate", "equalize"), n=1, magnitude=1.0, spread=1.0))
MESSAGE = "trial 5 beat TrivialAugment: +1.10 points (95% interval +0.20 .. +2.00, 3 seeds)"
CONFIG = {"experiment_name": "unused", "model": "basiccnn", "child_epochs": 4}
DATA = {"fingerprint": "abc123", "shape": [16, 16, 3], "classes": 2}


def record(number: int, kind: str, policy: Policy) -> TrialRecord:
    return TrialRecord(number, kind, TrialState.COMPLETE, policy.to_dict(), seed=number, model="basiccnn",
                       reward=0.8, seconds=30.0)


def row(trial: int, kind: str, stage: str, screen: float | None, rung: tuple[int, float] | None = None,
        race: tuple[float, float, float] | None = None, name: str = "", winner: bool = False) -> dict:
    mean, low, high = race or (None, None, None)
    return {"trial": trial, "kind": kind, "name": name, "winner": winner, "stage": stage, "epochs": 4,
            "seeds": 3, "reward": 0.8, "reward_std": 0.01, "gain_vs_trivialaugment": mean,
            "gain_vs_trivialaugment_ci95_low": low, "gain_vs_trivialaugment_ci95_high": high,
            "gain_vs_best_control": mean, "gain_vs_best_control_ci95_low": low,
            "gain_vs_best_control_ci95_high": high, "screen_gain_vs_trivialaugment": screen,
            "rung_epochs": None if rung is None else rung[0], "rung_gain_vs_trivialaugment":
                None if rung is None else rung[1], "seconds": 30.0,
            "policy_text": str(WINNER if winner else TRIVIAL), "policy": "{}"}


@pytest.fixture
def finished(tmp_path) -> Experiment:
    """Two controls, three candidates: a 2-epoch screen, a 3-epoch rung, a race at 4 epochs won by trial 5."""
    experiment = Experiment(tmp_path / "reports" / "experiments" / "dist_search")
    experiment.start(CONFIG, DATA, {"ops": ["rotate", "equalize", "solarize"]}, seed=7)
    for number, kind in ((1, CONTROL), (2, CONTROL), (3, SEARCH), (4, SEARCH), (5, SEARCH)):
        experiment.save(record(number, kind, WINNER if number == 5 else TRIVIAL))
    table = pd.DataFrame([row(5, SEARCH, "race", 1.5, (3, 0.9), (1.1, 0.2, 2.0), winner=True),
                          row(1, CONTROL, "race", 0.0, (3, 0.0), name="TrivialAugment"),
                          row(2, CONTROL, "race", -0.4, (3, -0.2), (-0.3, -1.1, 0.5), name="RandAugment"),
                          row(4, SEARCH, "3 epochs", 0.8, (3, -0.6)), row(3, SEARCH, "screen", -2.5)])
    experiment.write_text("top_policies.csv", table.to_csv(index=False))
    verdict = {"winner": 5, "beat_controls": True, "best_control": 1, "best_free_baseline": "TrivialAugment",
               "message": MESSAGE, "gains": {}, "policy": WINNER.to_dict(), "rungs": [2, 3, 4],
               "race_seeds": [11, 12, 13], "search_seeds": [1], "training_seconds": 150.0}
    experiment.write_text("verdict.json", json.dumps(verdict))
    return experiment


def test_a_distribution_search_shows_gains_per_stage_and_the_policy_it_found(finished):
    text = make_report(finished.folder).read_text(encoding="utf-8")
    assert "![Gains per stage, each on its own scale" in text and "](rewards.png)" in text
    assert "![The policy (trial 5, the race winner): op weights, n, magnitude range" in text
    assert "](ops.png)" in text and "Ops in the top" not in text  # not the op counts of a deepaugment search
    assert (finished.report_dir / "ops.png").read_bytes() == distribution_png(
        WINNER.distribution, "dist_search", "trial 5, the race winner")
    stages = matplotlib.image.imread(finished.report_dir / "rewards.png")
    assert stages.shape[1] >= 3 * 400  # screen, the 3-epoch rung and the race side by side


def test_the_policy_figure_changes_with_the_mixing():
    plain = distribution_png(WINNER.distribution, "x")
    mixed = distribution_png(Distribution.uniform(("rotate", "equalize", "solarize"), n=2, magnitude=0.6,
                                                  spread=0.5, flip=0.5, crop=0.125, cutmix=0.3, mixup=0.4), "x")
    assert plain != mixed


def test_report_html_stands_alone(finished):
    make_report(finished.folder)
    page = (finished.report_dir / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    for source, name in zip(sources, ("rewards.png", "ops.png")):
        assert base64.b64decode(source.split(",", 1)[1]) == (finished.report_dir / name).read_bytes()
    assert "http" not in page and "<link" not in page and "<script" not in page
    assert MESSAGE in page and "<td>TrivialAugment</td>" in page


def test_markdown_html_escapes_and_keeps_tables():
    body = markdown_html("# A <b>\n\n| a | b |\n|---|---:|\n| x<y | **1** |\n\n- one\n- two\n", {})
    assert "<h1>A &lt;b&gt;</h1>" in body and '<td class="num"><strong>1</strong></td>' in body
    assert "<td>x&lt;y</td>" in body and "<ul><li>one</li><li>two</li></ul>" in body


# Counts, after load, the images the browser decoded; added to a copy, as report.html runs no script.
PROBE = ("<script>window.addEventListener('load', () => { const p = document.createElement('p'); p.id = 'probe';"
         " p.textContent = 'decoded ' + [...document.images].filter(i => i.complete && i.naturalWidth > 0).length;"
         " document.body.appendChild(p); });</script>")


def test_a_browser_renders_the_report(finished, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed: install the Debian package `chromium` (scripts/setup.sh does, "
                    "as root) to render report.html in a real browser")
    make_report(finished.folder)
    page = (finished.report_dir / "report.html").read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert '<p id="probe">decoded 2</p>' in dom  # both figures decoded
    assert MESSAGE in dom and "Race against the free baselines" in dom
    assert re.search(r"<td[^>]*>5</td><td><strong>winner</strong></td>", dom)
