"""Augmenting a dataset with a policy: input listing, the run plan, shards, worker processes,
outputs (images, labels, TFRecords), the manifest and the Redis work queue.
"""
