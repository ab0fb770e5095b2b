"""Synthetic ``capture.json`` documents shaped like the real captures' (for tests that need
one without running a browser or ffmpeg)."""

from __future__ import annotations

import hashlib

from timeseal.core.package.canonical import JSONValue, format_canonical_json

PEM = "-----BEGIN CERTIFICATE-----\n" + "MIIB" * 400 + "\n-----END CERTIFICATE-----\n"


def environment(forced: bool = False, chain_certs: int = 3) -> dict[str, JSONValue]:
    return {
        "format": "timeseal-environment-report/1",
        "created_at": "2026-11-29T07:00:00.000Z",
        "overall": "fail" if forced else "warn",
        "forced": forced,
        "target": "https://shop.example/chat",
        "server": "http://127.0.0.1:8000",
        "findings": [
            {
                "name": "clock_offset",
                "status": "pass",
                "summary_zh": "本机时钟比时间戳机构快 3 毫秒",
                "summary_en": "the local clock is 3 ms ahead of the TSA's",
                "evidence": {"offset_ms": 3, "round_trip_ms": 9},
            },
            {
                "name": "tls_chain",
                "status": "fail" if forced else "warn",
                "summary_zh": "证书链",
                "summary_en": "chain",
                "evidence": {"chain": [PEM] * chain_certs, "host": "shop.example"},
            },
        ],
        "skipped": ["browser_profile"],
    }


def web_capture_json(*, steps: int = 10, forced: bool = False, certs: int = 3) -> bytes:
    """Shaped like :meth:`timeseal.capture.web.capture._Session.finish`'s document."""
    files: list[JSONValue] = [
        {"path": p, "size": 1000 + i, "sha256": hashlib.sha256(p.encode()).hexdigest()}
        for i, p in enumerate(
            [
                "video.webm",
                *(f"screenshots/{n:02d}-step.png" for n in range(steps)),
                "page.pdf",
                "page.html",
                "capture.wacz",
                "operations.jsonl",
            ]
        )
    ]
    meta: dict[str, JSONValue] = {
        "format": "timeseal-web-capture/1",
        "mode": "scripted",
        "target_url": "https://shop.example/chat",
        "final_url": "https://shop.example/chat#promise",
        "final_title": "客服对话 客户信息仅用于售后",
        "started_at": "2026-11-29T07:00:01.000Z",
        "ended_at": "2026-11-29T07:00:09.500Z",
        "ended_by": "script-finished",
        "completed": True,
        "error": None,
        "software": {"timeseal": "0.1.0", "chromium": "131", "user_agent": "x" * 200},
        "tls": {"leaf_sha256": "ab" * 32, "chain": [PEM] * certs},
        "environment_check": environment(forced, certs),
        "operations": {
            "file": "operations.jsonl",
            "entries": steps * 3,
            "counts": {"click": steps, "navigation": steps, "screenshot": steps},
            "first_at": "2026-11-29T07:00:01.100Z",
            "last_at": "2026-11-29T07:00:09.400Z",
        },
        "network": {"exchanges": 40, "responses": 38, "file": "capture.wacz"},
        "pdf": "live",
        "files": files,
    }
    return format_canonical_json(meta)
