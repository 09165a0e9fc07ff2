"""Reports: the markdown/PNG report of an experiment and the demo grid of augmented images.
"""
