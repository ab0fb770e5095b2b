"""Web capture (网页取证): a fresh Chromium records a page as evidence — video, full-page
screenshots, the final page's HTML and PDF, every network exchange as a WACZ, and an
operation log — then each file is sealed with an RFC 3161 token.

Modules, one job each: :mod:`.steps` (the steps file), :mod:`.launch` (Chromium, profile,
ffmpeg), :mod:`.trust` (``--ca-file``), :mod:`.scripted` / :mod:`.interactive` (the two
modes), :mod:`.recorder` (the page script of interactive mode), :mod:`.navigation`,
:mod:`.shots`, :mod:`.oplog`, :mod:`.render` (PDF), :mod:`.har_warc` and :mod:`.wacz_build`
(the archive), :mod:`.seal` (tokens), :mod:`.capture` (the order of it all).
"""

from timeseal.capture.web.capture import WebCaptureOptions, WebCaptureResult, capture_web
from timeseal.capture.web.errors import EnvironmentRefused, StepsError, WebCaptureError
from timeseal.capture.web.steps import load_steps, parse_steps

__all__ = [
    "EnvironmentRefused",
    "StepsError",
    "WebCaptureError",
    "WebCaptureOptions",
    "WebCaptureResult",
    "capture_web",
    "load_steps",
    "parse_steps",
]
