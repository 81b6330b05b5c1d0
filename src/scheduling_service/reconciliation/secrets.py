"""Cal.com API keys encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag).

Production takes the key from SECRETS_ENCRYPTION_KEY (config.py refuses to start without
one). Development generates one the first time and keeps it in SECRETS_KEY_FILE, beside the
embedded database, so a fresh checkout needs no setting and a restart still decrypts.
"""

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from scheduling_service.config import Settings


class UndecryptableKey(Exception):
    """The stored API key was encrypted with another SECRETS_ENCRYPTION_KEY."""


class KeyBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, api_key: str) -> bytes:
        return self._fernet.encrypt(api_key.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise UndecryptableKey(
                "the stored Cal.com API key cannot be decrypted with SECRETS_ENCRYPTION_KEY "
                "(was the key changed?); set the connection again"
            ) from None


def key_box(settings: Settings) -> KeyBox:
    if settings.secrets_encryption_key is not None:
        return KeyBox(settings.secrets_encryption_key.get_secret_value().encode())
    return KeyBox(_development_key(settings.secrets_key_file))


def _development_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as draft:
            draft.write(Fernet.generate_key())
        os.chmod(draft.name, 0o600)
        # A link never replaces a file: of two processes starting at once, one key wins.
        with contextlib.suppress(FileExistsError):
            os.link(draft.name, path)
        os.unlink(draft.name)
    return path.read_bytes().strip()
