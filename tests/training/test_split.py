"""The holdout split is stable as data grows, close to its fraction, and differs per service."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlseam.training.split import holdout_digest, holdout_mask

ids_strategy = st.lists(st.integers(min_value=1, max_value=2**62), min_size=1, max_size=300, unique=True)


@given(existing=ids_strategy, added=ids_strategy, fraction=st.floats(min_value=0.05, max_value=0.45))
@settings(max_examples=200, deadline=None)
def test_an_example_never_changes_side_as_examples_are_added(
    existing: list[int], added: list[int], fraction: float
) -> None:
    # given
    before = holdout_mask(np.array(existing), "digits", fraction)
    # when
    grown = np.array(existing + [i for i in added if i not in set(existing)])
    after = holdout_mask(grown, "digits", fraction)
    # then
    assert np.array_equal(before, after[: len(existing)])


@given(order=st.permutations(list(range(1, 200))))
@settings(max_examples=50, deadline=None)
def test_membership_does_not_depend_on_order(order: list[int]) -> None:
    ids = np.array(order)
    mask = holdout_mask(ids, "digits", 0.2)
    assert set(ids[mask]) == set(np.arange(1, 200)[holdout_mask(np.arange(1, 200), "digits", 0.2)])


def test_the_fraction_is_respected_on_many_ids() -> None:
    ids = np.arange(1, 200_001)
    share = holdout_mask(ids, "digits", 0.2).mean()
    assert 0.195 < share < 0.205


def test_services_get_different_holdouts() -> None:
    ids = np.arange(1, 10_001)
    assert not np.array_equal(holdout_mask(ids, "digits", 0.2), holdout_mask(ids, "diabetes", 0.2))


def test_the_split_is_pinned_across_versions() -> None:
    # Changing the hash would silently move examples between train and holdout for every
    # service in production; this pins it.
    assert list(np.flatnonzero(holdout_mask(np.arange(1, 41), "digits", 0.2)) + 1) == PINNED


def test_the_digest_ignores_order() -> None:
    assert holdout_digest(np.array([3, 1, 2])) == holdout_digest(np.array([1, 2, 3]))
    assert holdout_digest(np.array([1, 2])) != holdout_digest(np.array([1, 2, 3]))


PINNED = [3, 6, 10, 14, 17, 23, 28, 35]
