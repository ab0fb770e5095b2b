// capture/api.js: the URLs of the recording and upload protocols, tus metadata, and the tus
// loop's waits between failed PATCHes.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  caseItemUrl,
  chunkUrl,
  evidencePage,
  finishUrl,
  recordingUrl,
  tusMetadata,
  tusUpload,
} from "../../src/timeseal/server/web/static/js/capture/api.js";

test("recording URLs", () => {
  const id = "0123456789abcdef0123456789abcdef";
  assert.equal(recordingUrl(id), "/api/v1/recordings/" + id);
  assert.equal(chunkUrl(id, 0), "/api/v1/recordings/" + id + "/chunks/0");
  assert.equal(chunkUrl(id, 17), "/api/v1/recordings/" + id + "/chunks/17");
  assert.equal(finishUrl(id), "/api/v1/recordings/" + id + "/finish");
  assert.throws(() => chunkUrl(id, -1), RangeError);
  assert.throws(() => chunkUrl(id, 1.5), RangeError);
  assert.equal(recordingUrl("../x"), "/api/v1/recordings/..%2Fx");
});

test("evidence numbers are encoded in paths", () => {
  assert.equal(evidencePage("TS-20261129-7Q4K-M2X$"), "/evidence/TS-20261129-7Q4K-M2X%24");
  assert.equal(caseItemUrl(12, "TS-1$"), "/api/v1/cases/12/items/TS-1%24");
});

test("tus metadata: base64 of UTF-8, nulls left out", () => {
  const metadata = tusMetadata({ filename: "店铺.png", title: null, kind: "photo", x: undefined });
  assert.equal(metadata, "filename " + Buffer.from("店铺.png").toString("base64") + ",kind cGhvdG8=");
});

/** The server side of a tus upload, scripted: each PATCH answer in turn. */
function tusServer(patchAnswers, size) {
  const requests = [];
  let offset = 0;
  return {
    requests,
    async request(method, path, body, headers) {
      requests.push({ method, path, headers, size: body && body.size });
      if (method === "POST") {
        return new Response(null, { status: 201, headers: { Location: "/api/v1/uploads/u1" } });
      }
      if (method === "HEAD") {
        const h = { "Upload-Offset": String(offset) };
        return new Response(null, { status: 200, headers: h });
      }
      const planned = patchAnswers.shift() || "ok";
      if (planned === "lost") {
        throw new TypeError("network");
      }
      if (planned !== "ok") {
        return new Response(null, { status: planned });
      }
      offset += body.size;
      const h = { "Upload-Offset": String(offset) };
      if (offset === size) {
        h["Timeseal-Evidence-Number"] = "TS-1";
      }
      return new Response(null, { status: 204, headers: h });
    },
  };
}

test("a tus upload waits longer after each failure in a row, not after a wrong offset", async () => {
  const blob = new Blob([new Uint8Array(10)]);
  const server = tusServer(["ok", "lost", 503, "lost", 409, "ok"], 10);
  const waits = [];
  const number = await tusUpload(server, blob, {
    metadata: "filename eA==",
    chunkBytes: 4,
    sleep: async (ms) => waits.push(ms),
  });
  assert.equal(number, "TS-1");
  assert.equal(waits.length, 3); // after "lost", 503, "lost"; none after the 409
  assert.ok(waits[0] >= 500 && waits[0] <= 1000, waits[0]);
  assert.ok(waits[1] >= 1000 && waits[1] <= 2000, waits[1]);
  assert.ok(waits[2] >= 2000 && waits[2] <= 4000, waits[2]);
  const patches = server.requests.filter((r) => r.method === "PATCH");
  assert.deepEqual(
    patches.map((r) => r.headers["Upload-Offset"]),
    ["0", "4", "4", "4", "4", "4", "8"],
  );
  assert.equal(server.requests[0].headers["Upload-Length"], "10");
  assert.equal(server.requests[0].headers["Tus-Resumable"], "1.0.0");
});

test("a tus refusal stops the upload", async () => {
  const server = tusServer([413], 10);
  await assert.rejects(
    tusUpload(server, new Blob([new Uint8Array(10)]), { metadata: "", chunkBytes: 4, sleep: async () => {} }),
    (err) => err.status === 413,
  );
});
