// lib/http.js: deadlines on every request, capped jittered back-off, retry rules.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ApiFailure,
  BACKOFF_MAX_MS,
  REQUEST_TIMEOUT_MS,
  apiClient,
  backoffDelay,
  fetchWithTimeout,
  persist,
  retryable,
  timeoutFor,
} from "../../src/timeseal/server/web/static/js/lib/http.js";

test("back-off doubles from 1 s, is capped at 30 s, and is jittered within [half, all]", () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 50].map((a) => backoffDelay(a, high)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  assert.deepEqual(
    [0, 1, 2, 5, 50].map((a) => backoffDelay(a, low)),
    [500, 1000, 2000, 15000, 15000],
  );
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const delay = backoffDelay(attempt);
    assert.ok(delay >= 500 && delay <= BACKOFF_MAX_MS, `${attempt}: ${delay}`);
  }
  assert.equal(backoffDelay(-3, low), 500);
});

test("a request's deadline grows with what it carries", () => {
  assert.equal(timeoutFor(0), REQUEST_TIMEOUT_MS);
  assert.equal(timeoutFor(undefined), REQUEST_TIMEOUT_MS);
  assert.equal(timeoutFor(1024 * 1024), REQUEST_TIMEOUT_MS + 32_000);
  assert.ok(timeoutFor(4 * 1024 * 1024) > timeoutFor(1024 * 1024));
});

test("what is worth sending again", () => {
  for (const status of [408, 429, 500, 502, 503, 504]) {
    assert.ok(retryable(status), status);
  }
  for (const status of [400, 401, 403, 404, 409, 413, 422]) {
    assert.ok(!retryable(status), status);
  }
});

/** A fetch that never answers, but rejects when its signal aborts (as browsers do). */
function hangingFetch(seen) {
  return (url, init) => {
    seen.push(init);
    return new Promise((resolve, reject) => {
      init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
  };
}

test("a request that hangs is abandoned at its deadline", async () => {
  const seen = [];
  const started = Date.now();
  await assert.rejects(fetchWithTimeout("/x", { method: "GET" }, 50, hangingFetch(seen)), {
    name: "AbortError",
  });
  assert.ok(Date.now() - started < 5000);
  assert.equal(seen[0].method, "GET");
});

test("a body that stalls after the headers is abandoned too", async () => {
  const stalled = (url, init) =>
    Promise.resolve({
      status: 200,
      statusText: "OK",
      headers: new Headers(),
      arrayBuffer: () =>
        new Promise((resolve, reject) => {
          init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        }),
    });
  await assert.rejects(fetchWithTimeout("/x", {}, 50, stalled), { name: "AbortError" });
});

test("the client sends the page's language and CSRF token, JSON or raw bytes, with a deadline", async () => {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    return new Response(JSON.stringify({ ok: 1 }), { status: 201, statusText: "Created" });
  };
  const client = apiClient({ csrf: "tok", lang: "zh-CN", fetchImpl });
  const answer = await client.request("POST", "/api/v1/recordings", { kind: "camera_recording" });
  assert.equal(answer.status, 201);
  assert.deepEqual(await answer.json(), { ok: 1 });
  const first = calls[0].init;
  assert.equal(first.headers["X-CSRF-Token"], "tok");
  assert.equal(first.headers["Accept-Language"], "zh-CN");
  assert.equal(first.headers["Content-Type"], "application/json");
  assert.equal(first.body, '{"kind":"camera_recording"}');
  assert.equal(first.credentials, "same-origin");
  assert.ok(first.signal instanceof AbortSignal);

  await client.request("PUT", "/c/0", new Blob([new Uint8Array(5)]), { "Content-Type": "application/octet-stream" });
  assert.equal(calls[1].init.headers["Content-Type"], "application/octet-stream");
  assert.ok(calls[1].init.body instanceof Blob);
});

test("persist waits, growing, through outages and 5xx, and stops at a refusal", async () => {
  const answers = [
    () => Promise.reject(new TypeError("offline")),
    () => Promise.resolve(new Response("", { status: 503 })),
    () => Promise.resolve(new Response("", { status: 429 })),
    () => Promise.resolve(new Response('{"n":1}', { status: 200 })),
  ];
  const waits = [];
  const told = [];
  const response = await persist(
    () => answers.shift()(),
    (seconds) => told.push(seconds),
    async (ms) => waits.push(ms),
    () => 0.5,
  );
  assert.deepEqual(await response.json(), { n: 1 });
  assert.deepEqual(waits, [750, 1500, 3000]);
  assert.deepEqual(told, [1, 2, 3]);

  const refusal = new Response(JSON.stringify({ error: { code: "chunk_conflict", message: "no" } }), {
    status: 409,
  });
  await assert.rejects(
    persist(
      () => Promise.resolve(refusal),
      null,
      async () => assert.fail("a refusal is not retried"),
    ),
    (err) => err instanceof ApiFailure && err.status === 409 && err.code === "chunk_conflict",
  );
});
