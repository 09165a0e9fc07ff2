"""GPU placement of the local workers. These machines have no GPU, so what is checked is the
placement itself: which card each real worker process is given (read from the process's own
environment) and how many workers a GPU host starts; `nvidia-smi` is a stand-in script on PATH
(the one thing that cannot run here). The trainings on a real card are not run here."""
from __future__ import annotations

import os
import stat
import sys

import pytest

from deepaug.execution.gpus import gpu_workers, visible_gpus, worker_gpu_env


@pytest.mark.parametrize("listed, gpus", [("0,2", ["0", "2"]), (" 1 ", ["1"]), ("", []), ("-1", []),
                                          ("GPU-5f2a,GPU-77b1", ["GPU-5f2a", "GPU-77b1"])])
def test_cuda_visible_devices_decides_when_it_is_set(listed, gpus):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": listed}) == gpus


def test_without_the_variable_nvidia_smi_lists_the_cards_and_without_it_there_are_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert visible_gpus({}) == []  # a CPU host: nothing changes
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nprintf '0\\n1\\n2\\n'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    assert visible_gpus({}) == ["0", "1", "2"]
    smi.write_text("#!/bin/sh\nexit 9\n")
    assert visible_gpus({}) == []  # a broken driver: trials run on the CPU, with a warning


def test_workers_take_the_cards_round_robin_with_memory_growth():
    assert [worker_gpu_env(i, ["0", "1"])["CUDA_VISIBLE_DEVICES"] for i in range(5)] == ["0", "1", "0", "1", "0"]
    assert worker_gpu_env(0, ["3"])["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert worker_gpu_env(4, []) == {}
    assert gpu_workers(["0", "1"], 3) == 6 and gpu_workers(["0"], 1) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/environ")
def test_each_local_worker_process_sees_only_its_card(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    from test_executors import context

    from deepaug.search.executor import make_executor

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    executor = make_executor("local", context(tmp_path), None, None, trials_per_gpu=1)  # workers unset: 1 per card
    try:
        assert executor.capacity == 2 and executor.gpus == ["4", "6"]
        executor._start()
        seen = []
        for pid in executor.worker_pids():
            env = dict(item.split("=", 1) for item in open(f"/proc/{pid}/environ").read().split("\0") if "=" in item)
            seen.append((env["CUDA_VISIBLE_DEVICES"], env["TF_FORCE_GPU_ALLOW_GROWTH"]))
        assert seen == [("4", "true"), ("6", "true")]
    finally:
        executor.close()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU: the CPU pool as before
    cpu = make_executor("local", context(tmp_path), None, 2)
    assert cpu.gpus == [] and cpu.capacity == 2
    cpu.close()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
