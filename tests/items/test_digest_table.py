"""DigestTable: the flat map ItemLedger keeps its per-item digests in."""

from __future__ import annotations

import hashlib
import random

import pytest

from airflow_provider_feishu_workplace.items.digest_table import DigestTable


def digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") | 1


def test_it_returns_what_was_added_and_none_for_the_rest_across_growth():
    rng = random.Random(7)
    pairs = {digest(f"2026-01-{i % 28 + 1:02d}\x00blk_{i}"): rng.getrandbits(64) for i in range(50_000)}
    index = DigestTable(capacity=8)

    for key, value in pairs.items():
        index.add(key, value)

    assert len(index) == len(pairs)
    assert all(index.get(key) == value for key, value in pairs.items())
    assert all(index.get(digest(f"2027-01-01\x00blk_{i}")) is None for i in range(1000))


def test_extreme_keys_and_values_are_ordinary():
    keys = (1, 2, (1 << 64) - 1, 1 << 63, 12345)
    values = (0, (1 << 64) - 1, 1 << 63, (1 << 32) - 1, 7)
    index = DigestTable(capacity=2)
    for key, value in zip(keys, values, strict=True):
        index.add(key, value)

    assert [index.get(key) for key in keys] == list(values)


@pytest.mark.parametrize("key", [0, -1, 1 << 64])
def test_a_key_outside_the_range_is_refused(key):
    with pytest.raises(ValueError):
        DigestTable().add(key, 1)


@pytest.mark.parametrize("value", [-1, 1 << 64])
def test_a_value_outside_the_range_is_refused(value):
    with pytest.raises(ValueError):
        DigestTable().add(1, value)
