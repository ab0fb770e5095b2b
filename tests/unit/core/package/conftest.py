from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.pki import PKIFixture
from tests.unit.core.package.helpers import Sealer, three_specs
from timeseal.core.package import PackageItem
from timeseal.core.tlog import format_verifier_key


@pytest.fixture(scope="session")
def sealer(test_pki: PKIFixture) -> Sealer:
    return Sealer(test_pki)


@pytest.fixture(scope="session")
def case_items(sealer: Sealer) -> list[PackageItem]:
    return sealer.items(three_specs())


@pytest.fixture(scope="session")
def case_package(sealer: Sealer, case_items: list[PackageItem]) -> bytes:
    """A case package: a photo, a video (5 MiB) and a web capture, with certificates."""
    return sealer.build(case_items)


@pytest.fixture
def root_pem(tmp_path: Path, test_pki: PKIFixture) -> Path:
    path = tmp_path / "root.pem"
    path.write_bytes(test_pki.root.certificate.public_bytes(Encoding.PEM))
    return path


@pytest.fixture
def log_vkey(sealer: Sealer) -> str:
    return format_verifier_key(sealer.key.verifier_key)
