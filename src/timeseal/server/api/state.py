"""The services behind the JSON API, kept on ``app.state``, and one typed dependency per
service to read each back in a route.

``create_app`` builds the services once and keeps them (:func:`keep_services`; the accounts
service by ``include_auth``, which also mounts alone in the accounts tests). Routes are
module-level functions that take what they need as parameters::

    @router.get("/evidence")
    async def list_evidence(principal: CurrentAccount, vault: Vault) -> ...

so a test can import a handler and call it with its own services. Each service lives under
``app.state.timeseal_<name>``, the names tools and tests use beside the API
(``app.state.timeseal_vault``). This module imports no service at run time: every API module
imports it, and a service module (``evidence.shares``) imports an API module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, FastAPI
from starlette.requests import Request

if TYPE_CHECKING:
    from timeseal.server.accounts.service import AuthService
    from timeseal.server.api.public_records import PublicRecords
    from timeseal.server.certificate.issue import CertificateIssuer
    from timeseal.server.evidence.packages import PackageService
    from timeseal.server.evidence.recordings import RecordingService
    from timeseal.server.evidence.shares import ShareService
    from timeseal.server.evidence.vault import VaultService
    from timeseal.server.runtime.configuration import VaultConfig

PREFIX = "timeseal_"


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the API's routes use besides the accounts service; each field is kept as
    ``app.state.timeseal_<field>``."""

    vault: VaultService
    vault_config: VaultConfig
    recordings: RecordingService
    packages: PackageService
    certificates: CertificateIssuer
    shares: ShareService
    public: PublicRecords


def keep_services(app: FastAPI, services: ApiServices) -> None:
    for field in dataclasses.fields(services):
        setattr(app.state, PREFIX + field.name, getattr(services, field.name))


def keep_auth(app: FastAPI, service: AuthService) -> None:
    setattr(app.state, PREFIX + "auth", service)


def _kept(request: Request, name: str) -> object:
    try:
        return getattr(request.app.state, PREFIX + name)
    except AttributeError:
        raise RuntimeError(
            f"app.state.{PREFIX}{name} is not set: create_app keeps the API's services "
            "(the accounts service: include_auth)"
        ) from None


def auth_service(request: Request) -> AuthService:
    return cast("AuthService", _kept(request, "auth"))


def vault_service(request: Request) -> VaultService:
    return cast("VaultService", _kept(request, "vault"))


def vault_config(request: Request) -> VaultConfig:
    return cast("VaultConfig", _kept(request, "vault_config"))


def recording_service(request: Request) -> RecordingService:
    return cast("RecordingService", _kept(request, "recordings"))


def package_service(request: Request) -> PackageService:
    return cast("PackageService", _kept(request, "packages"))


def certificate_issuer(request: Request) -> CertificateIssuer:
    return cast("CertificateIssuer", _kept(request, "certificates"))


def share_service(request: Request) -> ShareService:
    return cast("ShareService", _kept(request, "shares"))


def public_records(request: Request) -> PublicRecords:
    return cast("PublicRecords", _kept(request, "public"))


Auth = Annotated["AuthService", Depends(auth_service)]
Vault = Annotated["VaultService", Depends(vault_service)]
VaultSettings = Annotated["VaultConfig", Depends(vault_config)]
Recordings = Annotated["RecordingService", Depends(recording_service)]
Packages = Annotated["PackageService", Depends(package_service)]
Certificates = Annotated["CertificateIssuer", Depends(certificate_issuer)]
Shares = Annotated["ShareService", Depends(share_service)]
Public = Annotated["PublicRecords", Depends(public_records)]
