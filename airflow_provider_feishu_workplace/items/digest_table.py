"""A map from 64-bit keys to 64-bit values in flat arrays: 16 bytes a slot, no Python objects per entry."""

from __future__ import annotations

from array import array

_WORD = (1 << 64) - 1


class DigestTable:
    """Remember a 64-bit value digest per 64-bit key digest, for millions of keys without a dict's objects.

    A dict of ints costs about 100 bytes an entry; this open-addressing table (linear probing, at most
    half full) costs 32 to 64 bytes an entry at worst and no Python object. Keys are unsigned 64-bit
    and never 0, which marks an empty slot; values are unsigned 64-bit.
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
                return self._values[slot]
            if not found:
                return None
            slot = (slot + 1) & mask

    def add(self, key: int, value: int) -> None:
        """Store ``value`` (unsigned 64-bit) for a ``key`` (non-zero) that is not in the index yet."""
        if not 0 < key <= _WORD:
            raise ValueError(f"key {key} is not an unsigned 64-bit number other than 0")
        if not 0 <= value <= _WORD:
            raise ValueError(f"value {value} is not an unsigned 64-bit number")
        if (self._size + 1) * 2 > len(self._keys):
            self._grow()
        self._place(key, value)
        self._size += 1

    def _place(self, key: int, value: int) -> None:
        keys, mask = self._keys, self._mask
        slot = key & mask
        while keys[slot]:
            slot = (slot + 1) & mask
        keys[slot] = key
        self._values[slot] = value

    def _new_tables(self, capacity: int) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._values = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1

    def _grow(self) -> None:
        old_keys, old_values = self._keys, self._values
        self._new_tables(len(old_keys) * 2)
        for key, value in zip(old_keys, old_values, strict=True):
            if key:
                self._place(key, value)
