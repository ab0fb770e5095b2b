"""Exceptions raised by the trust core.

::

    TimeSealError
     ├─ MalformedError      input does not parse (DER, JSON, note)
     ├─ UnsupportedError    known but unsupported algorithm or version
 │   ├─ UnsupportedAlgorithm   a digest or signature algorithm we refuse (SHA-1, MD5, ...)
 │   └─ UnsupportedVersion     a structure version we do not implement
     ├─ (beside its code, verification.py) VerificationFailed: .result, raised only by
     │     VerificationResult.raise_for_failure()
     └─ beside the code that raises them: Pkcs11Error (signers/pkcs11.py), Rejection
        (tsp/authority.py), ContentMismatch and InvalidPhoneNumber (also ValueError;
        package/build.py, phone.py), DirectoryTooLarge (a MalformedError, package/_zipdir.py),
        EvidenceNumberError (a MalformedError naming its problem, evidence/number.py)

Wrong types raise ``TypeError`` and wrong values ``ValueError``, as builders in
pyca/cryptography do. Third-party errors are wrapped at the boundary with their cause kept.
"""

from __future__ import annotations


class TimeSealError(Exception):
    """Base of every error the trust core raises on purpose."""


class MalformedError(TimeSealError):
    """The input does not parse: bad DER, JSON or note text."""


class UnsupportedError(TimeSealError):
    """The input is well formed but uses an algorithm or version we do not support."""


class UnsupportedAlgorithm(UnsupportedError):
    """A digest or signature algorithm that is known but refused."""


class UnsupportedVersion(UnsupportedError):
    """A structure version this implementation does not know."""
