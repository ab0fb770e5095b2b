"""Web capture benchmark (issue 6, part 3): a scripted capture of the fixture shop to sealed
files, as ``timeseal capture web URL --steps … --ca-file … --server …`` does it.

Starts a plain ``timeseal serve`` (fresh data directory) and the fixture shop over HTTPS with
its test CA, then times ``capture_web`` end to end in this process: environment check, TLS pin,
Chromium start, the steps (product page, dismiss the privacy pop-up, type, open the chat,
scroll, screenshots), PDF, HTML, closing the browser (video and network record), WARC and
WACZ, ``capture.json``, and one RFC 3161 token per output file. Reported: wall time (target
≤ 10 s) and the part spent sealing (tokens, from hashing each file to writing its ``.tsr``).

    PYTHONPATH=. .venv/bin/python bench/web_capture_bench.py [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import live_server
from tests.support.shop_site import shop_site

from timeseal.capture.web import WebCaptureOptions, capture_web, parse_steps

STEPS = """\
- click: "#accept-privacy"
- type: {selector: "#phone", text: "13812345678"}
- click: "#chat-link"
- wait: {selector: ".loaded"}
- scroll: {to: bottom}
- screenshot: chat
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    steps = parse_steps(STEPS)
    walls: list[float] = []
    seals: list[float] = []
    files: list[int] = []
    with tempfile.TemporaryDirectory(prefix="timeseal-web-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "data").mkdir()
        with live_server(tmp / "data") as server, shop_site(tmp) as shop:
            for run in range(args.runs):
                started = time.monotonic()
                result = capture_web(
                    WebCaptureOptions(
                        url=shop.page("/"),
                        out_dir=tmp / f"out-{run}",
                        steps=steps,
                        ca_file=shop.ca_file,
                        server=server.url,
                    )
                )
                walls.append(time.monotonic() - started)
                assert result.completed and result.seal is not None, result.error
                seals.append(result.seal.elapsed_ms / 1000)
                files.append(len(result.tokens))
    report = {
        "runs": args.runs,
        "wall_s": [round(w, 2) for w in walls],
        "wall_median_s": round(statistics.median(walls), 2),
        "sealing_median_s": round(statistics.median(seals), 3),
        "sealing_share": round(statistics.median(seals) / statistics.median(walls), 3),
        "tokens_per_capture": files[0],
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"runs                {report['runs']}")
    print(f"wall time           {report['wall_s']} s, median {report['wall_median_s']} s")
    print(f"sealing (tokens)    median {report['sealing_median_s']} s for {files[0]} files")
    print(f"sealing share       {report['sealing_share']:.1%}")
    print(f"load average        {report['load_average']}")


if __name__ == "__main__":
    main()
