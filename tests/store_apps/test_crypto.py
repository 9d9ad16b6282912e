"""The event crypto against the platform's documented worked example, and round trips through it."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_feishu_workplace.store_apps import crypto

EXAMPLE_KEY = "test key"
EXAMPLE_ENCRYPT = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="


def test_decrypt_gives_the_documented_worked_example():
    assert crypto.decrypt(EXAMPLE_ENCRYPT, EXAMPLE_KEY) == "hello world"


def test_encrypt_with_the_examples_iv_gives_the_documented_ciphertext():
    iv = bytes.fromhex("3f7ef0f9564898d80f10ed5106127a46")
    assert base64.b64decode(EXAMPLE_ENCRYPT)[:16] == iv
    assert crypto.encrypt("hello world", EXAMPLE_KEY, iv=iv) == EXAMPLE_ENCRYPT


def test_encrypt_uses_a_fresh_iv_and_round_trips():
    first, second = crypto.encrypt('{"a": "é"}', "k"), crypto.encrypt('{"a": "é"}', "k")
    assert first != second
    assert crypto.decrypt(first, "k") == crypto.decrypt(second, "k") == '{"a": "é"}'


@pytest.mark.parametrize(
    "encrypted",
    [
        pytest.param(EXAMPLE_ENCRYPT, id="wrong-key"),
        pytest.param("not base64!", id="not-base64"),
        pytest.param(base64.b64encode(b"x" * 20).decode(), id="not-whole-blocks"),
        pytest.param(base64.b64encode(b"x" * 16).decode(), id="iv-only"),
    ],
)
def test_decrypt_refuses_what_the_key_does_not_open(encrypted):
    with pytest.raises(crypto.CryptoError) as raised:
        crypto.decrypt(encrypted, "another key")
    assert "another key" not in str(raised.value)


def test_signature_is_sha256_of_timestamp_nonce_key_and_raw_body():
    import hashlib

    body = b'{"encrypt": "abc"}'
    expected = hashlib.sha256(b"1700000000" + b"nonce" + b"test key" + body).hexdigest()
    assert crypto.sign("1700000000", "nonce", "test key", body) == expected
    assert crypto.signature_matches(expected, "1700000000", "nonce", "test key", body)
    assert not crypto.signature_matches(expected, "1700000000", "nonce", "test key", body + b" ")
    assert not crypto.signature_matches(expected, "1700000001", "nonce", "test key", body)
