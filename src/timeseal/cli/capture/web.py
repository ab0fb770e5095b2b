"""``timeseal capture web URL``: capture a web page as evidence (see
:mod:`timeseal.capture.web`). The steps file is checked before any browser starts; exit 0 when
the capture completed, 1 when it stopped part-way (what was recorded is still written and
sealed), 2 for a usage error (bad steps file, bad options) or when the environment check
stopped the capture (a ``fail`` without ``--force``; nothing is launched or written)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from timeseal.cli.exits import fail, usage_error

if TYPE_CHECKING:
    from cryptography import x509

    from timeseal.capture.web import WebCaptureOptions, WebCaptureResult
    from timeseal.capture.web.steps import PlacedStep

DEFAULT_OUT = Path("web-capture")

UrlArgument = Annotated[str, typer.Argument(help="The page to capture (http or https).")]
StepsOption = Annotated[
    Path | None,
    typer.Option(
        "--steps", help="Scripted mode: YAML list of goto/click/type/scroll/wait/screenshot."
    ),
]
InteractiveOption = Annotated[
    bool,
    typer.Option(
        "--interactive",
        help="A visible browser you drive; close the window or press Ctrl-C to finish.",
    ),
]
ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="TimeSeal server: seal every output file (FILE.tsr)."),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        help="PEM CA the site's certificate must validate against (private/test CAs); "
        "only the validated site key is then accepted by the browser.",
    ),
]
TsaCaOption = Annotated[
    Path | None,
    typer.Option("--tsa-ca", help="Root certificate to verify each new token against."),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Go on even if the environment check fails.")
]
UploadOption = Annotated[
    bool,
    typer.Option(
        "--upload",
        help="Upload every output file to the vault (queued while offline or logged out; "
        "`timeseal sync` finishes).",
    ),
]
CaseOption = Annotated[
    int | None,
    typer.Option(
        "--case",
        min=1,
        help="With --upload: put the items into this case instead of a new one.",
    ),
]
OutOption = Annotated[
    Path, typer.Option("-o", "--out", help="Output directory (must be new or empty).")
]


#: The steps file's whole syntax, under ``--help`` (\b: click keeps the lines as written).
STEPS_HELP = """\b
步骤文件 The steps file (--steps): a YAML list, one step per item:
  - goto: https://shop.example/item/1
  - click: "#accept-privacy"        # quote selectors that start with #
  - type: {selector: "#phone", text: "13812345678"}   # replaces the field's content
  - type: {selector: "#qty", text: "2", safe: true}   # safe: the text is logged too
  - scroll: {to: bottom}            # or {px: 800}
  - wait: {ms: 500}                 # or {selector: ".loaded"}
  - screenshot: 聊天记录            # letters of any script, digits, _ and -
Typed text shows in the video, screenshots and archive."""


def register(capture_app: typer.Typer) -> None:
    capture_app.command("web", epilog=STEPS_HELP)(web)


def web(
    url: UrlArgument,
    steps: StepsOption = None,
    interactive: InteractiveOption = False,
    server: ServerOption = None,
    ca_file: CaFileOption = None,
    tsa_ca: TsaCaOption = None,
    force: ForceOption = False,
    upload: UploadOption = False,
    case: CaseOption = None,
    out: OutOption = DEFAULT_OUT,
) -> None:
    """网页取证 Capture a web page: video, screenshots, PDF, HTML, WACZ, operation log.
    'timeseal verify DIR' verifies the result; with --upload it becomes one case in the
    vault, and its evidence package is downloaded to DIR/package.zip."""
    from timeseal.capture.web import WebCaptureOptions
    from timeseal.cli.capture.output import refuse_used_output

    _check_url(url)
    refuse_used_output(out, "--out")
    placed = _load_steps(steps, interactive)
    _check_case(server, case, upload)
    options = WebCaptureOptions(
        url=url,
        out_dir=out,
        steps=placed,
        interactive=interactive,
        ca_file=ca_file,
        server=server,
        tsa_roots=_tsa_roots(tsa_ca),
        force=force,
    )
    result = _capture(options)
    _print_result(result)
    if upload:
        from timeseal.cli.capture.upload import upload_capture_dir

        upload_capture_dir(out, server, case)
    if result.error is not None:
        raise fail(f"取证未完成 capture stopped part-way: {result.error}")


def _check_url(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise usage_error(f"需要 http(s) 地址 an http(s) URL is needed: {url}")


def _load_steps(steps: Path | None, interactive: bool) -> tuple[PlacedStep, ...] | None:
    """The scripted steps, checked before any browser starts (None: no --steps)."""
    from timeseal.capture.web import StepsError, load_steps

    if steps is not None and interactive:
        raise usage_error("--steps 与 --interactive 只能选一个 choose --steps or --interactive")
    try:
        return load_steps(steps) if steps is not None else None
    except StepsError as exc:
        raise usage_error(f"{steps}: {exc}") from None


def _check_case(server: str | None, case: int | None, upload: bool) -> None:
    """``--case`` needs ``--upload`` and a case the server knows, before anything is captured."""
    if case is not None and not upload:
        raise usage_error("--case 需要 --upload --case needs --upload")
    if case is not None:
        from timeseal.cli.capture.case import unknown_case

        problem = unknown_case(server, case)
        if problem is not None:
            raise usage_error(f"--case {case}: {problem}")


def _tsa_roots(tsa_ca: Path | None) -> tuple[x509.Certificate, ...]:
    from cryptography import x509

    if tsa_ca is None:
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(tsa_ca.read_bytes()))
    except (OSError, ValueError) as exc:
        raise usage_error(f"无法读取 cannot read {tsa_ca}: {exc}") from None


def _capture(options: WebCaptureOptions) -> WebCaptureResult:
    """Run the capture; a refused environment check exits 2, a failed capture 1."""
    from timeseal.capture.web import EnvironmentRefused, WebCaptureError, capture_web
    from timeseal.cli.capture.environment import stopped

    if options.interactive:
        typer.echo("浏览器已打开：操作完成后关闭窗口或按 Ctrl-C。")
        typer.echo("The browser is open: close its window or press Ctrl-C when you are done.")
    try:
        return capture_web(options)
    except EnvironmentRefused as exc:
        raise stopped(exc.report, str(exc)) from None
    except WebCaptureError as exc:
        raise fail(str(exc)) from None


def _print_result(result: WebCaptureResult) -> None:
    """The environment check's summary, then every file written and every token issued."""
    from timeseal.capture.environment.check import EnvironmentReport
    from timeseal.cli.capture.environment import summary_lines

    report = result.metadata.get("environment_check")
    if isinstance(report, dict):
        for line in summary_lines(EnvironmentReport.from_json(report)):
            typer.echo(line)
    for path in result.files:
        typer.echo(f"✓ {path}")
    for token in result.tokens:
        typer.echo(f"⏱ {token}")
