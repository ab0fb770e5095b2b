"""The platform's own endpoints beside the JSON API: ``GET /healthz`` for load balancers and
operators, and ``GET /tsa/certs``, the TSA's certificate chain (PEM).

Module-level Starlette routes (neither is in ``/openapi.json``) that read what they need from
``app.state`` through one typed accessor each: :class:`Health` (``timeseal_health``) and the
chain's PEM (``timeseal_tsa_chain_pem``), which ``create_app`` keeps with :func:`keep_platform`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import anyio.to_thread
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from timeseal import __version__
from timeseal.server.runtime.disk import FreeSpace
from timeseal.server.tsa.clock import ClockGuard

HEALTH_KEY = "timeseal_health"
CHAIN_PEM_KEY = "timeseal_tsa_chain_pem"


class SequencerRole(Protocol):
    """The log sequencer as ``/healthz`` sees it: the in-process
    :class:`~timeseal.server.log.sequencer.Sequencer`, or a sequencer process's
    :class:`~timeseal.server.log.sequencer_process.RoleFile`."""

    @property
    def is_sequencer(self) -> bool: ...

    @property
    def failure(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Health:
    """What ``/healthz`` looks at on every request."""

    guard: ClockGuard
    log_role: SequencerRole
    log_origin: str
    tsa_policy: str
    data_dir: Path
    free_space: FreeSpace
    #: Below this many free bytes in the data directory, ``/healthz`` says ``disk_low``.
    disk_low_bytes: int
    #: Each configured witness's last cosigned size and error (database I/O, off the loop).
    witnesses: Callable[[], list[dict[str, object]]] = list


def keep_platform(state: State, health: Health, tsa_chain_pem: bytes) -> None:
    """Put what the two endpoints read on ``state`` (an app's ``app.state``)."""
    setattr(state, HEALTH_KEY, health)
    setattr(state, CHAIN_PEM_KEY, tsa_chain_pem)


def _kept(request: Request, key: str) -> object:
    try:
        return getattr(request.app.state, key)
    except AttributeError:
        raise RuntimeError(f"app.state.{key} is not set: create_app keeps it") from None


def health_of(request: Request) -> Health:
    return cast(Health, _kept(request, HEALTH_KEY))


def tsa_chain_pem(request: Request) -> bytes:
    return cast(bytes, _kept(request, CHAIN_PEM_KEY))


async def tsa_certs(request: Request) -> Response:
    """The TSA signing certificate, then its chain up to the root."""
    return Response(tsa_chain_pem(request), media_type="application/pem-certificate-chain")


async def healthz(request: Request) -> Response:
    """200 when the TSA issues, the log signs and the disk has room; 503 with the reason
    (``log_failed``, ``clock_untrusted``, ``disk_low``, in that order) otherwise. Each
    configured witness's last cosigned size is shown under ``log.witnesses`` (a witness that
    is down is not a failure of the platform)."""
    health = health_of(request)
    guard = health.guard
    status = guard.status
    trusted = guard.trusted()
    free = health.free_space(health.data_dir)
    disk_low = free < health.disk_low_bytes
    failure = health.log_role.failure
    log_body: dict[str, object] = {
        "origin": health.log_origin,
        "sequencer": health.log_role.is_sequencer,
    }
    if failure is not None:  # the log stopped signing; the TSA goes on journalling
        log_body.update(failed=True, reason=failure)
    witnesses = await anyio.to_thread.run_sync(health.witnesses)
    if witnesses:
        log_body["witnesses"] = witnesses
    if failure:
        status_name = "log_failed"
    elif not trusted:
        status_name = "clock_untrusted"
    elif disk_low:
        status_name = "disk_low"
    else:
        status_name = "ok"
    body = {
        "status": status_name,
        "version": __version__,
        "clock": status.as_json(guard.max_offset),
        "tsa": {"policy": health.tsa_policy, "issuing": trusted},
        "log": log_body,
        "disk": {"free_bytes": free, "low_bytes": health.disk_low_bytes, "low": disk_low},
    }
    healthy = trusted and not disk_low and not failure
    return JSONResponse(body, status_code=200 if healthy else 503)


def platform_routes() -> list[Route]:
    return [
        Route("/tsa/certs", tsa_certs, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
