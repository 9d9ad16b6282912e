"""A map from 64-bit hashes to 64-bit hashes in two flat arrays: 16 bytes an entry, no Python objects."""

from __future__ import annotations

from array import array


class HashIndex:
    """Remember a value hash per key hash, for millions of keys without a dict's per-entry objects.

    A dict of ints costs about 100 bytes an entry; this open-addressing table (linear probing, at most
    half full) costs 16 to 32. Keys and values are ints from ``hash()``: signed 64-bit, and never -1,
    which stands in for the key 0 because 0 marks an empty slot.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._new_tables(capacity)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def get(self, key: int) -> int | None:
        """Return the value stored for ``key``, or ``None``."""
        key = key or -1
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self._values[slot]
            if not found:
                return None
            slot = (slot + 1) & mask

    def add(self, key: int, value: int) -> None:
        """Store ``value`` for a ``key`` that is not in the index yet."""
        if (self._size + 1) * 2 > len(self._keys):
            self._grow()
        self._place(key or -1, value)
        self._size += 1

    def _place(self, key: int, value: int) -> None:
        keys, mask = self._keys, self._mask
        slot = key & mask
        while keys[slot]:
            slot = (slot + 1) & mask
        keys[slot] = key
        self._values[slot] = value

    def _new_tables(self, capacity: int) -> None:
        self._keys = array("q", bytes(8 * capacity))
        self._values = array("q", bytes(8 * capacity))
        self._mask = capacity - 1

    def _grow(self) -> None:
        old_keys, old_values = self._keys, self._values
        self._new_tables(len(old_keys) * 2)
        for key, value in zip(old_keys, old_values):
            if key:
                self._place(key, value)
