"""``timeseal capture web URL``: capture a web page as evidence (see
:mod:`timeseal.capture.web`). The steps file is checked before any browser starts; exit 0 when
the capture completed, 1 when it stopped part-way (what was recorded is still written and
sealed), 2 for a usage error (bad steps file, bad options) or when the environment check
stopped the capture (a ``fail`` without ``--force``; nothing is launched or written)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_OUT = Path("web-capture")


def register(capture_app: typer.Typer) -> None:
    capture_app.command("web")(web)


def web(
    url: Annotated[str, typer.Argument(help="The page to capture (http or https).")],
    steps: Annotated[
        Path | None,
        typer.Option(
            "--steps", help="Scripted mode: YAML list of goto/click/type/scroll/wait/screenshot."
        ),
    ] = None,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            help="A visible browser you drive; close the window or press Ctrl-C to finish.",
        ),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option("--server", help="TimeSeal server: seal every output file (FILE.tsr)."),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file",
            help="PEM CA the site's certificate must validate against (private/test CAs); "
            "only the validated site key is then accepted by the browser.",
        ),
    ] = None,
    tsa_ca: Annotated[
        Path | None,
        typer.Option("--tsa-ca", help="Root certificate to verify each new token against."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Go on even if the environment check fails.")
    ] = False,
    upload: Annotated[
        bool,
        typer.Option(
            "--upload",
            help="Upload every output file to the vault (queued while offline or logged out; "
            "`timeseal sync` finishes).",
        ),
    ] = False,
    case: Annotated[
        int | None,
        typer.Option(
            "--case",
            min=1,
            help="With --upload: put the items into this case instead of a new one.",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output directory (must be new or empty).")
    ] = DEFAULT_OUT,
) -> None:
    """网页取证 Capture a web page: video, screenshots, PDF, HTML, WACZ, operation log.
    ``timeseal verify DIR`` verifies the result; with --upload it becomes one case in the
    vault, and its evidence package is downloaded to DIR/package.zip."""
    from urllib.parse import urlsplit

    from cryptography import x509

    from timeseal.capture.environment.check import EnvironmentReport
    from timeseal.capture.web import (
        EnvironmentRefused,
        StepsError,
        WebCaptureError,
        WebCaptureOptions,
        capture_web,
        load_steps,
    )
    from timeseal.cli.capture.environment import stopped, summary_lines

    def usage(message: str) -> typer.Exit:
        typer.echo(f"错误 error: {message}", err=True)
        return typer.Exit(2)

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise usage(f"需要 http(s) 地址 an http(s) URL is needed: {url}")
    if steps is not None and interactive:
        raise usage("--steps 与 --interactive 只能选一个 choose --steps or --interactive")
    try:
        placed = load_steps(steps) if steps is not None else None
    except StepsError as exc:
        raise usage(f"{steps}: {exc}") from None
    if case is not None and not upload:
        raise usage("--case 需要 --upload --case needs --upload")
    if case is not None:
        from timeseal.cli.capture.case import unknown_case

        problem = unknown_case(server, case)
        if problem is not None:
            raise usage(f"--case {case}: {problem}")
    roots: tuple[x509.Certificate, ...] = ()
    if tsa_ca is not None:
        try:
            roots = tuple(x509.load_pem_x509_certificates(tsa_ca.read_bytes()))
        except (OSError, ValueError) as exc:
            raise usage(f"cannot read {tsa_ca}: {exc}") from None
    options = WebCaptureOptions(
        url=url,
        out_dir=out,
        steps=placed,
        interactive=interactive,
        ca_file=ca_file,
        server=server,
        tsa_roots=roots,
        force=force,
    )
    if interactive:
        typer.echo("浏览器已打开：操作完成后关闭窗口或按 Ctrl-C。")
        typer.echo("The browser is open: close its window or press Ctrl-C when you are done.")
    try:
        result = capture_web(options)
    except EnvironmentRefused as exc:
        raise stopped(exc.report, str(exc)) from None
    except WebCaptureError as exc:
        typer.echo(f"✗ {exc}", err=True)
        raise typer.Exit(1) from None
    report = result.metadata.get("environment_check")
    if isinstance(report, dict):
        for line in summary_lines(EnvironmentReport.from_json(report)):
            typer.echo(line)
    for path in result.files:
        typer.echo(f"✓ {path}")
    for token in result.tokens:
        typer.echo(f"⏱ {token}")
    if upload:
        from timeseal.cli.capture.upload import upload_capture_dir

        upload_capture_dir(out, server, case)
    if result.error is not None:
        typer.echo(f"✗ 取证未完成 capture stopped part-way: {result.error}", err=True)
        raise typer.Exit(1)
