"""`miroconnect.crypto`: AES-256-GCM with key ids and associated data."""

from __future__ import annotations

import base64

import pytest

from miroconnect.crypto import KeyRing, TokenCipher, generate_key, key_id_of
from miroconnect.errors import (
    ConfigurationError,
    DecryptionError,
    EncryptionKeyNotFoundError,
)

K1 = "k1:" + base64.urlsafe_b64encode(b"\x01" * 32).decode().rstrip("=")
K2 = "k2:" + base64.urlsafe_b64encode(b"\x02" * 32).decode().rstrip("=")
AD = b"miroconnect:connections:abc:access_token"


def test_round_trip_names_the_primary_key_and_hides_the_plaintext() -> None:
    cipher = TokenCipher(KeyRing.parse(f"{K2},{K1}"))
    blob = cipher.encrypt("secret-token-value", associated_data=AD)
    assert key_id_of(blob) == "k2"
    assert "secret-token-value" not in blob
    assert cipher.decrypt(blob, associated_data=AD) == "secret-token-value"
    # A fresh nonce every time: equal plaintexts give different ciphertexts.
    assert cipher.encrypt("secret-token-value", associated_data=AD) != blob


def test_other_associated_data_fails() -> None:
    cipher = TokenCipher(KeyRing.parse(K1))
    blob = cipher.encrypt("secret", associated_data=AD)
    with pytest.raises(DecryptionError, match="k1"):
        cipher.decrypt(blob, associated_data=b"miroconnect:connections:other:access")


def test_tampered_ciphertext_fails() -> None:
    cipher = TokenCipher(KeyRing.parse(K1))
    blob = cipher.encrypt("secret", associated_data=AD)
    flipped = blob[:-2] + ("A" if blob[-2] != "A" else "B") + blob[-1]
    with pytest.raises(DecryptionError):
        cipher.decrypt(flipped, associated_data=AD)
    with pytest.raises(DecryptionError):
        cipher.decrypt("not a ciphertext", associated_data=AD)


def test_missing_key_is_named() -> None:
    old = TokenCipher(KeyRing.parse(K1))
    blob = old.encrypt("secret", associated_data=AD)
    new = TokenCipher(KeyRing.parse(K2))
    with pytest.raises(EncryptionKeyNotFoundError, match="'k1'") as caught:
        new.decrypt(blob, associated_data=AD)
    assert caught.value.key_id == "k1"


def test_wrong_key_under_the_same_id_is_a_decryption_error() -> None:
    blob = TokenCipher(KeyRing.parse(K1)).encrypt("secret", associated_data=AD)
    impostor = TokenCipher(KeyRing.parse("k1:" + K2.split(":")[1]))
    with pytest.raises(DecryptionError, match="'k1'"):
        impostor.decrypt(blob, associated_data=AD)


def test_old_keys_still_decrypt_and_rotation_is_detected() -> None:
    blob = TokenCipher(KeyRing.parse(K1)).encrypt("secret", associated_data=AD)
    both = TokenCipher(KeyRing.parse(f"{K2},{K1}"))
    assert both.decrypt(blob, associated_data=AD) == "secret"
    assert both.needs_rotation([blob])
    assert not both.needs_rotation([both.encrypt("x", associated_data=AD)])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("nokey", "key_id:base64url"),
        ("bad id:" + K1.split(":")[1], "key_id:base64url"),
        ("k1:c2hvcnQ", "'k1' is not 32 bytes"),
        ("k1:!!!notbase64!!!", "'k1' is not 32 bytes"),
        (f"{K1},{K1}", "'k1' appears twice"),
    ],
)
def test_bad_key_settings_are_clear_and_secret_free(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        KeyRing.parse(value)
    assert K1.split(":")[1] not in str(caught.value)


def test_generated_keys_parse_and_are_random() -> None:
    first, second = generate_key("k9"), generate_key("k9")
    assert first != second
    ring = KeyRing.parse(first)
    assert ring.primary == "k9" and len(ring.keys["k9"]) == 32
    assert "k9" in repr(ring) and first.split(":")[1] not in repr(ring)
    with pytest.raises(ConfigurationError):
        generate_key("no spaces")
