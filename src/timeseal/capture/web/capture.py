"""One web capture from start to sealed files: the order of the work, nothing else.

1. Check the output directory and the environment (before any browser starts).
2. With ``--ca-file``: validate the site's certificate against that CA and pin its key
   (:mod:`.trust`).
3. Start Chromium with a fresh temporary profile, recording video and every network exchange.
4. Run the steps (scripted) or let the person drive (interactive); screenshots, operation log.
5. Keep the final page: HTML and PDF.
6. Close the browser (this finishes the video and the network record), write the WARC and the
   WACZ, then ``capture.json``.
7. With ``--server``: a token ``FILE.tsr`` for every output file.

Output layout (``-o DIR``)::

    video.webm                the whole session (more tabs: video-2.webm, ...)
    screenshots/NN-name.png   full-page, one per step / per page loaded
    page.pdf  page.html       the final page
    capture.wacz              every network exchange (WACZ 1.2)
    operations.jsonl          the operation log
    capture.json              metadata: versions, times, URLs, TLS pin, environment, summary
    *.tsr                     with --server: a token per file above
"""

from __future__ import annotations

import contextlib
import datetime as dt
import platform
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

from cryptography import x509
from playwright.sync_api import BrowserContext, Page, Playwright
from playwright.sync_api import Error as PlaywrightError

import timeseal
from timeseal.capture.web import render
from timeseal.capture.web.clock import format_rfc3339, utc_now
from timeseal.capture.web.environment_hook import run_environment_check
from timeseal.capture.web.errors import WebCaptureError
from timeseal.capture.web.har_warc import read_har_zip, write_warc
from timeseal.capture.web.interactive import Driver, Snapshot, run_interactive
from timeseal.capture.web.launch import (
    CHROMIUM_ARGS,
    VIEWPORT,
    chromium_executable,
    playwright_session,
)
from timeseal.capture.web.navigation import NavigationTracker
from timeseal.capture.web.oplog import OperationLog
from timeseal.capture.web.recorder import install_recorder
from timeseal.capture.web.scripted import run_script
from timeseal.capture.web.seal import SealReport, seal_files
from timeseal.capture.web.shots import SCREENSHOT_DIR, Screenshots
from timeseal.capture.web.steps import PlacedStep
from timeseal.capture.web.trust import PinnedLeaf, pin_target_leaf
from timeseal.capture.web.wacz_build import build_wacz, html_title, write_pages_jsonl
from timeseal.core.digest import digest_file
from timeseal.core.package.canonical import JSONValue, format_canonical_json

FORMAT = "timeseal-web-capture/1"
VIDEO = "video.webm"
PDF = "page.pdf"
HTML = "page.html"
WACZ = "capture.wacz"
OPERATIONS = "operations.jsonl"
METADATA = "capture.json"
PROFILE = "profile"


@dataclass(frozen=True)
class WebCaptureOptions:
    url: str
    out_dir: Path
    steps: tuple[PlacedStep, ...] | None = None
    interactive: bool = False
    ca_file: Path | None = None
    server: str | None = None
    #: Trust anchors to verify each new token against at once (optional).
    tsa_roots: tuple[x509.Certificate, ...] = ()
    force: bool = False
    #: ``None``: headless when scripted, visible when interactive.
    headless: bool | None = None
    #: Interactive mode's automation hook (tests): see :mod:`.interactive`.
    driver: Driver | None = None


@dataclass
class WebCaptureResult:
    out_dir: Path
    files: list[Path]
    metadata: dict[str, JSONValue]
    error: str | None = None
    seal: SealReport | None = None
    tokens: list[Path] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return self.error is None


def _versions() -> dict[str, JSONValue]:
    def version(name: str) -> str | None:
        try:
            return importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            return None

    return {
        "timeseal": timeseal.__version__,
        "playwright": version("playwright"),
        "wacz": version("wacz"),
        "warcio": version("warcio"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        raise WebCaptureError(
            f"输出目录不为空 the output directory is not empty: {out_dir} "
            "(a capture never overwrites another)"
        )


def capture_web(options: WebCaptureOptions) -> WebCaptureResult:
    """Run one capture. Raises :class:`WebCaptureError` when nothing could be captured (bad
    output directory, TLS, browser); a failure *during* the session is returned in
    ``result.error`` with every output that was made, sealed like a complete one."""
    if options.interactive and options.steps is not None:
        raise WebCaptureError("--steps 与 --interactive 不能同时使用 --steps and --interactive")
    _check_out_dir(options.out_dir)
    headless = (not options.interactive) if options.headless is None else options.headless
    out = options.out_dir
    with tempfile.TemporaryDirectory(prefix="timeseal-web-") as tmp_name:
        tmp = Path(tmp_name)
        environment = run_environment_check(
            options.url,
            server=options.server,
            ca_file=options.ca_file,
            browser_profile_dir=tmp / PROFILE,
            force=options.force,
        )
        # Only now: a capture the check stopped leaves nothing behind.
        (out / SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        pin = pin_target_leaf(options.url, options.ca_file) if options.ca_file else None
        session = _Session(options, out, tmp, headless, pin)
        session.run()
        return session.finish(environment)


class _Session:
    def __init__(
        self,
        options: WebCaptureOptions,
        out: Path,
        tmp: Path,
        headless: bool,
        pin: PinnedLeaf | None,
    ) -> None:
        self.options = options
        self.out = out
        self.tmp = tmp
        self.headless = headless
        self.pin = pin
        self.har = tmp / "network.har.zip"
        self.oplog = OperationLog(out / OPERATIONS)
        self.shots = Screenshots(out / SCREENSHOT_DIR, self.oplog)
        self.mode = "interactive" if options.interactive else "scripted"
        self.tracker = NavigationTracker(self.oplog, "person" if options.interactive else "script")
        self.started_at: dt.datetime = utc_now()
        self.ended_at: dt.datetime = self.started_at
        self.ended_by = "script-finished"
        self.error: str | None = None
        self.browser_info: dict[str, JSONValue] = {}
        self.pdf_method: str | None = None
        self.videos: list[Path] = []
        self.final_url = options.url
        self.final_title = ""

    def _launch(self, p: Playwright) -> BrowserContext:
        args = [*CHROMIUM_ARGS, *(self.pin.chromium_args() if self.pin else [])]
        try:
            return p.chromium.launch_persistent_context(
                str(self.tmp / PROFILE),  # fresh, empty, deleted afterwards
                executable_path=chromium_executable(),
                args=args,
                headless=self.headless,
                viewport=VIEWPORT,
                record_video_dir=self.tmp / "video",
                record_video_size=VIEWPORT,
                record_har_path=self.har,
                record_har_content="attach",
                handle_sigint=False,  # Ctrl-C ends the capture cleanly (see interactive.py)
            )
        except PlaywrightError as exc:
            raise WebCaptureError(f"无法启动 Chromium cannot start Chromium: {exc}") from exc

    def run(self) -> None:
        self.oplog.record("session", {"event": "start", "mode": self.mode, "url": self.options.url})
        with playwright_session(self.tmp / "playwright") as p:
            context = self._launch(p)
            snapshot: Snapshot | None = None
            try:
                page = context.pages[0] if context.pages else context.new_page()
                self.browser_info = self._browser_info(context, page)
                self.tracker.attach(context)
                if self.options.interactive:
                    install_recorder(context, self.oplog)
                    self.ended_by, snapshot = run_interactive(
                        context,
                        page,
                        self.options.url,
                        self.tracker,
                        self.shots,
                        None if self.options.driver is None else self.options.driver,
                    )
                else:
                    self._scripted(page)
            finally:
                pages = list(context.pages)
                # Closing writes the HAR and finishes the videos; the browser may already be
                # gone (the person quit it), and then it has done both itself.
                with contextlib.suppress(PlaywrightError):
                    context.close()
                self.ended_at = utc_now()
                self._collect_videos(pages)
            if snapshot is not None:
                self._keep_snapshot(p, snapshot)
        self.oplog.record(
            "session",
            {"event": "end", "ended_by": self.ended_by, "final_url": self.final_url},
        )
        self.oplog.close()

    def _scripted(self, page: Page) -> None:
        try:
            run_script(page, self.options.url, self.options.steps or (), self.oplog, self.shots)
        except WebCaptureError as exc:
            self.error = str(exc)
            self.ended_by = "step-failed"
            self.oplog.record("session", {"event": "error", "error": self.error})
        try:
            self.final_url = page.url
            self.final_title = page.title()
            (self.out / HTML).write_text(page.content(), encoding="utf-8")
            render.print_live(page, self.out / PDF)
            self.pdf_method = render.LIVE
        except PlaywrightError as exc:
            self.error = self.error or f"final page: {exc}"

    def _keep_snapshot(self, p: Playwright, snapshot: Snapshot) -> None:
        if not snapshot.html:
            self.error = self.error or "no page was ever loaded"
            return
        self.final_url = snapshot.url
        (self.out / HTML).write_text(snapshot.html, encoding="utf-8")
        try:
            render.print_rerender(p, self.har, snapshot.url, snapshot.html, self.out / PDF)
            self.pdf_method = render.RERENDER
        except PlaywrightError as exc:
            self.error = self.error or f"PDF re-render: {exc}"

    def _browser_info(self, context: BrowserContext, page: Page) -> dict[str, JSONValue]:
        cdp = context.new_cdp_session(page)
        try:
            version = cdp.send("Browser.getVersion")
        finally:
            cdp.detach()
        return {
            "chromium": str(version.get("product", "")),
            "chromium_revision": str(version.get("revision", "")),
            "user_agent": str(version.get("userAgent", "")),
            "executable": chromium_executable(),
            "headless": self.headless,
            "profile": "fresh temporary profile, deleted after the capture",
            "args": [*CHROMIUM_ARGS, *(self.pin.chromium_args() if self.pin else [])],
            "viewport": {"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
        }

    def _collect_videos(self, pages: Sequence[Page]) -> None:
        for page in pages:
            video = page.video
            if video is None:
                continue
            try:
                source = Path(video.path())
            except PlaywrightError:
                continue
            if not source.is_file():
                continue
            name = VIDEO if not self.videos else f"video-{len(self.videos) + 1}.webm"
            shutil.move(source, self.out / name)
            self.videos.append(self.out / name)
        for source in sorted((self.tmp / "video").glob("*.webm")):  # pages closed earlier
            name = VIDEO if not self.videos else f"video-{len(self.videos) + 1}.webm"
            shutil.move(source, self.out / name)
            self.videos.append(self.out / name)

    def _network(self) -> dict[str, JSONValue]:
        exchanges = read_har_zip(self.har)
        warc = self.tmp / "capture.warc.gz"
        responses = write_warc(
            exchanges,
            warc,
            software=f"TimeSeal {timeseal.__version__} web capture (Playwright HAR -> warcio)",
            info={
                "isPartOf": self.options.url,
                "description": "Content-Encoding and Transfer-Encoding of stored (decoded) "
                "bodies are kept as X-Archive-Orig-* headers",
            },
        )
        pages_jsonl = self.tmp / "pages.jsonl"
        titles = {ex.url: html_title(ex.response_body) for ex in exchanges if ex.status == 200}
        pages = [(url, titles.get(url, "")) for url, _ in self.tracker.pages]
        if self.final_url and all(self.final_url != url for url, _ in pages):
            pages.append((self.final_url, self.final_title))
        write_pages_jsonl(pages_jsonl, pages)
        build_wacz(
            warc,
            pages_jsonl,
            self.out / WACZ,
            main_url=self.options.url,
            title=f"TimeSeal web capture {format_rfc3339(self.started_at)}",
            description=f"时印网页取证 TimeSeal web capture of {self.options.url}",
        )
        # What the last page answered (404 and the like make the capture incomplete).
        final = [ex.status for ex in exchanges if ex.url == self.final_url and ex.status > 0]
        return {
            "exchanges": len(exchanges),
            "responses": responses,
            "file": WACZ,
            "final_status": final[-1] if final else None,
        }

    def finish(self, environment: dict[str, JSONValue] | None) -> WebCaptureResult:
        network = self._network() if self.har.is_file() else None
        if network is None:
            self.error = self.error or "the browser left no network record"
        files = self._output_files()
        meta: dict[str, JSONValue] = {
            "format": FORMAT,
            "mode": self.mode,
            "target_url": self.options.url,
            "final_url": self.final_url,
            "final_title": self.final_title,
            "started_at": format_rfc3339(self.started_at),
            "ended_at": format_rfc3339(self.ended_at),
            "ended_by": self.ended_by,
            "completed": self.error is None,
            "error": self.error,
            "software": {**_versions(), **self.browser_info},
            "tls": self.pin.to_json() if self.pin else None,
            # The vault's name for it (one name everywhere, see capture/offline/upload_meta.py).
            "environment_check": environment,
            "operations": self.oplog.summary(),
            "network": network,
            "pdf": self.pdf_method,
            "files": [_describe(path, self.out) for path in files],
        }
        (self.out / METADATA).write_bytes(format_canonical_json(meta))
        files.append(self.out / METADATA)
        result = WebCaptureResult(self.out, files, meta, error=self.error)
        if self.options.server:
            result.seal = seal_files(self.options.server, files, roots=self.options.tsa_roots)
            result.tokens = list(result.seal.tokens)
        return result

    def _output_files(self) -> list[Path]:
        fixed = [*self.videos, *self.shots.taken]
        fixed += [self.out / name for name in (PDF, HTML, WACZ, OPERATIONS)]
        return [path for path in fixed if path.is_file()]


def _describe(path: Path, root: Path) -> dict[str, JSONValue]:
    return {
        "path": path.relative_to(root).as_posix(),
        "size": path.stat().st_size,
        "sha256": digest_file(path).hex(),
    }
