"""`deepaug evaluate`: a policy against the free baselines on a held-out test split, paired seeds
and intervals, tuned RandAugment, resumable.
"""
