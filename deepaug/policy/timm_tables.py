"""timm's op names, RandAugment op sets and AutoAugment policies, in deepaug's ops.

Source: huggingface/pytorch-image-models, timm/data/auto_augment.py (read at commit aa4b585, 2026;
the tables have not changed since timm 0.8, December 2022, except the `w0` weights of timm <= 0.6):
`NAME_TO_OP` / `LEVEL_TO_ARG`, `_RAND_TRANSFORMS`, `_RAND_INCREASING_TRANSFORMS`, `_RAND_3A`,
`_RAND_WEIGHTED_3A`, `_RAND_WEIGHTED_0`, `_RAND_CHOICE_WEIGHTS_0` (timm <= 0.6) and
`auto_augment_policy_{v0,v0r,original,originalr,3a}`. Each timm op maps to the deepaug op whose
magnitude level / 10 gives timm's argument at level (see `deepaug.ops.timm_forms`).
"""
from __future__ import annotations

# timm op -> deepaug op at magnitude level / 10. TranslateX/Y (absolute pixels, `translate_const`) are
# in no string's op set; timm's create_transform sets translate_const to 0.45 of the image side, which
# is translate-x/y's 0.45.
TIMM_NAMES = {
    "AutoContrast": "auto-contrast", "Equalize": "equalize", "Invert": "invert", "Rotate": "rotate",
    "Posterize": "timm-posterize", "PosterizeIncreasing": "timm-posterize-increasing",
    "PosterizeOriginal": "timm-posterize-original", "Solarize": "timm-solarize", "SolarizeIncreasing": "solarize",
    "SolarizeAdd": "solarize-add", "Color": "timm-color", "ColorIncreasing": "color", "Contrast": "timm-contrast",
    "ContrastIncreasing": "contrast", "Brightness": "timm-brightness", "BrightnessIncreasing": "brightness",
    "Sharpness": "timm-sharpness", "SharpnessIncreasing": "sharpness", "ShearX": "shear", "ShearY": "shear-y",
    "TranslateX": "translate-x", "TranslateY": "translate-y", "TranslateXRel": "translate-x",
    "TranslateYRel": "translate-y", "Desaturate": "desaturate", "GaussianBlur": "timm-gaussian-blur",
    "GaussianBlurRand": "timm-gaussian-blur-rand",
}
# The ops with an `...Increasing` form (inc1 swaps them in).
_HAS_INCREASING = ("Posterize", "Solarize", "Color", "Contrast", "Brightness", "Sharpness")
# timm's default RandAugment op set, in timm's order (its Cutout is random erasing, set apart).
RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
            "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
RAND_INCREASING_OPS = tuple(name + "Increasing" if name in _HAS_INCREASING else name for name in RAND_OPS)

# `t<name>` op sets: a tuple is drawn uniformly, a dict by weight (timm: without replacement).
OP_SETS: dict[str, tuple[str, ...] | dict[str, float]] = {
    "3a": ("SolarizeIncreasing", "Desaturate", "GaussianBlur"),
    "3aw": {"SolarizeIncreasing": 6, "Desaturate": 6, "GaussianBlur": 6, "Rotate": 3, "ShearX": 2, "ShearY": 2,
            "PosterizeIncreasing": 1, "AutoContrast": 1, "ColorIncreasing": 1, "SharpnessIncreasing": 1,
            "ContrastIncreasing": 1, "BrightnessIncreasing": 1, "Equalize": 1, "Invert": 1},
    "weights": {"Rotate": 3, "ShearX": 2, "ShearY": 2, "TranslateXRel": 1, "TranslateYRel": 1,
                "ColorIncreasing": 0.25, "SharpnessIncreasing": 0.25, "AutoContrast": 0.25,
                "SolarizeIncreasing": 0.05, "SolarizeAdd": 0.05, "ContrastIncreasing": 0.05,
                "BrightnessIncreasing": 0.05, "Equalize": 0.05, "PosterizeIncreasing": 0.05, "Invert": 0.05},
}
# timm <= 0.6's `w0`: weights by position in RAND_OPS (or RAND_INCREASING_OPS with inc1); Posterize
# and Invert weigh 0 (left out here: deepaug refuses a weight of 0, and never drawing is the same).
W0_WEIGHTS = (0.025, 0.005, 0.0, 0.3, 0.0, 0.005, 0.005, 0.025, 0.005, 0.005, 0.025, 0.2, 0.2, 0.1, 0.1)

# AutoAugment policies: sub-policies split by ";", ops by "/", each "timm-name probability level".
# v0: TPU EfficientNet's ImageNet policy; original: AutoAugment's ImageNet policy (Cubuk et al. 2019,
# table 9); the "r" variants use PosterizeIncreasing for their Posterize; 3a: DeiT III's 3-Augment.
_V0 = ("Equalize .8 1/ShearY .8 4; Color .4 9/Equalize .6 3; Color .4 1/Rotate .6 8; Solarize .8 3/Equalize .4 7;"
       "Solarize .4 2/Solarize .6 2; Color .2 0/Equalize .8 8; Equalize .4 8/SolarizeAdd .8 3;"
       "ShearX .2 9/Rotate .6 8; Color .6 1/Equalize 1 2; Invert .4 9/Rotate .6 0; Equalize 1 9/ShearY .6 3;"
       "Color .4 7/Equalize .6 0; Posterize .4 6/AutoContrast .4 7; Solarize .6 8/Color .6 9;"
       "Solarize .2 4/Rotate .8 9; Rotate 1 7/TranslateYRel .8 9; ShearX 0 0/Solarize .8 4;"
       "ShearY .8 0/Color .6 4; Color 1 0/Rotate .6 2; Equalize .8 4/Equalize 0 8; Equalize 1 4/AutoContrast .6 2;"
       "ShearY .4 7/SolarizeAdd .6 7; Posterize .8 2/Solarize .6 10; Solarize .6 8/Equalize .6 1;"
       "Color .8 6/Rotate .4 5")
_ORIGINAL = ("PosterizeOriginal .4 8/Rotate .6 9; Solarize .6 5/AutoContrast .6 5; Equalize .8 8/Equalize .6 3;"
             "PosterizeOriginal .6 7/PosterizeOriginal .6 6; Equalize .4 7/Solarize .2 4; Equalize .4 4/Rotate .8 8;"
             "Solarize .6 3/Equalize .6 7; PosterizeOriginal .8 5/Equalize 1 2; Rotate .2 3/Solarize .6 8;"
             "Equalize .6 8/PosterizeOriginal .4 6; Rotate .8 8/Color .4 0; Rotate .4 9/Equalize .6 2;"
             "Equalize 0 7/Equalize .8 8; Invert .6 4/Equalize 1 8; Color .6 4/Contrast 1 8; Rotate .8 8/Color 1 2;"
             "Color .8 8/Solarize .8 7; Sharpness .4 7/Invert .6 8; ShearX .6 5/Equalize 1 9;"
             "Color .4 0/Equalize .6 3; Equalize .4 7/Solarize .2 4; Solarize .6 5/AutoContrast .6 5;"
             "Invert .6 4/Equalize 1 8; Color .6 4/Contrast 1 8; Equalize .8 8/Equalize .6 3")
AUTOAUGMENT = {
    "v0": _V0, "v0r": _V0.replace("Posterize ", "PosterizeIncreasing "),
    "original": _ORIGINAL, "originalr": _ORIGINAL.replace("PosterizeOriginal", "PosterizeIncreasing"),
    "3a": "Solarize 1 5; Desaturate 1 10; GaussianBlurRand 1 10",
}


def autoaugment_sub_policies(name: str) -> list[list[tuple[str, float, float]]]:
    """timm's AutoAugment policy `name` as deepaug sub-policies: [(op, probability, level / 10), ...]."""
    return [[(TIMM_NAMES[op], float(p), int(level) / 10)
             for op, p, level in (step.split() for step in sub.split("/"))]
            for sub in AUTOAUGMENT[name].split(";")]
