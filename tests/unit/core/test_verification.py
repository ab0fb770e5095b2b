"""Verification results (timeseal.core.verification): an empty result fails, a failure is raised
with the names of the failed checks, and a check that did not run is not found."""

from __future__ import annotations

import pytest

from timeseal.core.verification import (
    Check,
    CheckResult,
    Status,
    VerificationFailed,
    VerificationResult,
)

PASSED = CheckResult(Check.PKI_STATUS_GRANTED, Status.PASS)
FAILED = CheckResult(Check.NONCE_MATCHES, Status.FAIL, "nonce 1, expected 2")


def test_a_passing_result_raises_nothing() -> None:
    result = VerificationResult((PASSED,))
    result.raise_for_failure()
    assert result.get(Check.PKI_STATUS_GRANTED) is PASSED
    assert result.get(Check.NONCE_MATCHES) is None


def test_a_failure_is_raised_with_the_names_of_the_failed_checks() -> None:
    result = VerificationResult((PASSED, FAILED))
    with pytest.raises(VerificationFailed, match="verification failed: nonce_matches") as caught:
        result.raise_for_failure()
    assert caught.value.result is result


def test_an_empty_result_fails() -> None:
    with pytest.raises(VerificationFailed, match="no checks ran"):
        VerificationResult(()).raise_for_failure()
