"""One definition of an augmentation request: CLI flags, config section, augment() and the pods' arguments."""
from __future__ import annotations

import argparse

import pytest
from _augment_data import write_images

from deepaug.api import augment
from deepaug.augmentation.plan import make_plan
from deepaug.augmentation.request import BY_NAME, DATASET, KUBERNETES, OPTIONS, AugmentRequest, AugmentSection
from deepaug.cli import main
from deepaug.cli.augment import add_parser, add_render_parser
from deepaug.errors import InputError
from deepaug.kubernetes.augment_job import augment_arguments


def parser_of(register) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepaug")
    register(parser.add_subparsers(dest="command"))
    return parser


def dests(parser: argparse.ArgumentParser, command: str) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {action.dest for action in sub._actions}


def test_every_option_is_a_flag_of_deepaug_augment_and_the_render_command_takes_the_job_s():
    assert {o.name for o in OPTIONS} <= dests(parser_of(add_parser), "augment")
    render = dests(parser_of(add_render_parser), "augment")
    assert {o.name for o in OPTIONS if o.group in (DATASET, KUBERNETES)} <= render
    assert not {"workers", "queue", "shard"} & render


def test_every_option_is_a_key_of_the_config_section_and_a_keyword_of_augment():
    values = {"variants": 3, "format": "jpeg", "size": 32, "crop": "random", "seed": 7, "shard_size": 5,
              "jpeg_quality": 80, "png_compression": 1, "io_threads": 2, "workers": "auto",
              "lease_seconds": 5.0}
    section = AugmentSection.from_config({"input": "in/", "output": "out/", **values})
    assert section.request == AugmentRequest(**values)
    assert (section.input, section.output, section.format, section.workers) == ("in/", "out/", "jpeg", "auto")
    assert augment.__doc__.count("- `") == len(OPTIONS)
    for option in OPTIONS:
        assert f"`{option.name}`" in augment.__doc__


@pytest.mark.parametrize("name, bad, words", [("jpeg_quality", 101, "jpeg_quality must be an integer in 1..100"),
                                              ("format", "gif", "format must be one of png, jpeg, tfrecord"),
                                              ("workers", 0, "workers must be an integer in 1..1024 or 'auto'"),
                                              ("shard_size", -1, "shard_size must be a positive number of images")])
def test_a_bad_value_gets_the_same_words_from_python_the_config_and_the_command_line(tmp_path, capsys, name, bad,
                                                                                      words):
    write_images(tmp_path / "src", per_class=1)
    with pytest.raises(InputError, match=words):
        augment("reference", tmp_path / "src", tmp_path / "out", **{name: bad})
    with pytest.raises(InputError, match=f"augment.{words}"):
        AugmentSection.from_config({name: bad})
    flag = BY_NAME[name].flag
    assert main(["augment", "--policy", "reference", "--input", str(tmp_path / "src"), "--output",
                 str(tmp_path / "out"), flag, str(bad)]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_an_unknown_option_is_named_with_the_valid_ones():
    with pytest.raises(InputError, match=r"varients: no such augment option; the options are variants, chain"):
        AugmentRequest(varients=2)
    with pytest.raises(InputError, match="varients: no such augment option"):
        augment("reference", "in", "out", varients=2)


def test_options_of_one_executor_are_refused_with_the_other():
    with pytest.raises(InputError, match="workers, queue do not apply to executor 'kubernetes'"):
        AugmentRequest(executor="kubernetes", workers=2, queue="redis://q")
    with pytest.raises(InputError, match="parallelism, job_template apply to executor 'kubernetes' only"):
        AugmentRequest(parallelism=2, job_template="job.yaml")
    with pytest.raises(InputError, match="a worker given a shard runs alone"):
        AugmentRequest(shard="0/2", workers=2)
    AugmentRequest(executor="kubernetes", workers=1, parallelism=2)  # 1 is the default: nothing local asked


def test_a_request_is_immutable_and_replace_makes_another():
    request = AugmentRequest(variants=2)
    with pytest.raises(AttributeError):
        request.variants = 3
    other = request.replace(size=16)
    assert (request.size, other.size, other.variants) == (None, 16, 2)
    assert other.given() == {"variants": 2, "size": 16}


@pytest.mark.parametrize("options", [dict(variants=3, size=16, crop="random", seed=9, format="jpeg",
                                          jpeg_quality=70, shard_size=4),
                                     dict(chain="horizontal-flip,rotate:0.5", format="tfrecord", png_compression=1)])
def test_the_pods_arguments_give_the_same_dataset(tmp_path, options):
    write_images(tmp_path / "src")
    policy = None if "chain" in options else "reference"
    plan = make_plan(policy, tmp_path / "src", tmp_path / "out", **options)
    args = augment_arguments(plan, policy, completions=3)
    parsed = parser_of(add_parser).parse_args(args)
    assert args[-2:] == ["--shard", "/3"] and parsed.shard == "/3"
    again = make_plan(parsed.policy, parsed.input, parsed.output,
                      **AugmentRequest.from_args(parsed, (DATASET,)).dataset_options())
    assert again.dataset_id == plan.dataset_id
