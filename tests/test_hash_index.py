"""HashIndex: the flat map ItemGate keeps its per-item hashes in."""

from __future__ import annotations

import random

from airflow_provider_feishu_workplace._hash_index import HashIndex


def test_it_returns_what_was_added_and_none_for_the_rest_across_growth():
    rng = random.Random(7)
    pairs = {hash((f"2026-01-{i % 28 + 1:02d}", f"blk_{i}")): rng.getrandbits(63) - (1 << 62) for i in range(50_000)}
    index = HashIndex(capacity=8)

    for key, value in pairs.items():
        index.add(key, value)

    assert len(index) == len(pairs)
    assert all(index.get(key) == value for key, value in pairs.items())
    assert all(index.get(hash(("2027-01-01", f"blk_{i}"))) is None for i in range(1000))


def test_zero_and_extreme_keys_are_ordinary_keys():
    keys = (0, 1, -2, (1 << 63) - 1, -(1 << 63) + 1)  # hash() never gives -1
    index = HashIndex(capacity=2)
    for value, key in enumerate(keys):
        index.add(key, -value)

    assert [index.get(key) for key in keys] == [0, -1, -2, -3, -4]
