"""Running trials: the trial spec and record, executors (inline, a local pool of worker
processes) and the subprocess layer the pools share.
"""
