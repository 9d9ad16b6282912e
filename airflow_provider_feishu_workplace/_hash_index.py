"""A map from 64-bit keys to 128-bit values in flat arrays: 24 bytes a slot, no Python objects per entry."""

from __future__ import annotations

from array import array

_WORD = (1 << 64) - 1


class HashIndex:
    """Remember a 128-bit value digest per 64-bit key digest, for millions of keys without a dict's objects.

    A dict of ints costs about 100 bytes an entry; this open-addressing table (linear probing, at most
    half full) costs 48 to 96 bytes an entry at worst and no Python object. Keys are unsigned 64-bit
    and never 0, which marks an empty slot; values are unsigned 128-bit.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._new_tables(capacity)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def get(self, key: int) -> int | None:
        """Return the value stored for ``key``, or ``None``."""
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self._high[slot] << 64 | self._low[slot]
            if not found:
                return None
            slot = (slot + 1) & mask

    def add(self, key: int, value: int) -> None:
        """Store ``value`` for a ``key`` (non-zero) that is not in the index yet."""
        if not 0 < key <= _WORD:
            raise ValueError(f"key {key} is not an unsigned 64-bit number other than 0")
        if (self._size + 1) * 2 > len(self._keys):
            self._grow()
        self._place(key, value >> 64, value & _WORD)
        self._size += 1

    def _place(self, key: int, high: int, low: int) -> None:
        keys, mask = self._keys, self._mask
        slot = key & mask
        while keys[slot]:
            slot = (slot + 1) & mask
        keys[slot] = key
        self._high[slot] = high
        self._low[slot] = low

    def _new_tables(self, capacity: int) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._high = array("Q", bytes(8 * capacity))
        self._low = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1

    def _grow(self) -> None:
        old = self._keys, self._high, self._low
        self._new_tables(len(old[0]) * 2)
        for key, high, low in zip(*old):
            if key:
                self._place(key, high, low)
