"""Running trials: the trial spec and record, executors (inline, a local pool of worker
processes on `deepaug.processes`).
"""
