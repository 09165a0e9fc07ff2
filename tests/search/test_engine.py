"""The one protocol both search engines follow, and the public names of deepaug.search."""
from __future__ import annotations

import inspect

import pytest

import deepaug.search as search
from deepaug.search.engine import Engine, SearchEngine


def test_every_public_name_of_the_search_package_is_importable_from_it():
    assert sorted(search.__all__) == search.__all__
    for name in search.__all__:
        assert getattr(search, name) is not None


@pytest.mark.parametrize("engine", [search.Search, search.DistributionSearch])
def test_both_engines_follow_the_protocol(engine):
    assert issubclass(engine, Engine)
    for name in ("run", "results_table", "write_results", "best_policy"):
        ours, theirs = inspect.signature(getattr(engine, name)), inspect.signature(getattr(SearchEngine, name))
        assert list(theirs.parameters)[:2] == list(ours.parameters)[:2]  # self and the first argument
    assert "callbacks" in inspect.signature(engine.run).parameters


def test_the_api_calls_the_engines_only_through_the_protocol():
    source = inspect.getsource(__import__("deepaug.api", fromlist=["DeepAugment"]))
    assert "isinstance(self._search" not in source


def test_names_that_left_the_loop_module_still_import_with_a_warning():
    from deepaug.search import engine, loop, notebook

    with pytest.warns(DeprecationWarning, match="deepaug.search.notebook"):
        assert loop.best_policy is notebook.best_policy
    with pytest.warns(DeprecationWarning, match="deepaug.search.engine"):
        assert loop.check_iterations is engine.check_iterations
    with pytest.raises(AttributeError):
        loop.no_such_name  # noqa: B018
