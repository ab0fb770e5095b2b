// lib/hashing.js: one limit for the verify and capture pages, and the same digest both ways.
import assert from "node:assert/strict";
import { createHash, webcrypto } from "node:crypto";
import { test } from "node:test";

import {
  HASH_CHUNK_BYTES,
  WEBCRYPTO_MAX_BYTES,
  hashMethod,
  pieces,
  sha256Hex,
  toHex,
} from "../../src/timeseal/server/web/static/js/lib/hashing.js";

/** hash-wasm's incremental interface, over node's SHA-256; records the pieces it was fed. */
function fakeHashWasm(fed) {
  return async () => {
    const hash = createHash("sha256");
    return {
      init() {},
      update(bytes) {
        fed.push(bytes.length);
        hash.update(bytes);
      },
      digest(format) {
        assert.equal(format, "hex");
        return hash.digest("hex");
      },
    };
  };
}

test("the limit is 32 MiB, pieces of 4 MiB", () => {
  assert.equal(WEBCRYPTO_MAX_BYTES, 32 * 1024 * 1024);
  assert.equal(HASH_CHUNK_BYTES, 4 * 1024 * 1024);
});

test("Web Crypto up to the limit, incremental past it or without Web Crypto", () => {
  assert.equal(hashMethod(0, true), "webcrypto");
  assert.equal(hashMethod(WEBCRYPTO_MAX_BYTES, true), "webcrypto");
  assert.equal(hashMethod(WEBCRYPTO_MAX_BYTES + 1, true), "incremental");
  assert.equal(hashMethod(10, false), "incremental"); // plain http: no crypto.subtle
});

test("pieces cover the file once, in order", () => {
  assert.deepEqual(pieces(0, 4), []);
  assert.deepEqual(pieces(4, 4), [[0, 4]]);
  assert.deepEqual(pieces(10, 4), [
    [0, 4],
    [4, 8],
    [8, 10],
  ]);
  assert.throws(() => pieces(10, 0), RangeError);
});

test("toHex", () => {
  assert.equal(toHex(new Uint8Array([0, 1, 171, 255]).buffer), "0001abff");
});

test("both ways give the file's SHA-256, with progress", async () => {
  const bytes = new Uint8Array(10_000).map((_, i) => (i * 31) % 256);
  const expected = createHash("sha256").update(bytes).digest("hex");
  const blob = new Blob([bytes]);

  const seen = [];
  // node 18 (Debian 12) has no global crypto: Web Crypto passed in, as the page's would be.
  const viaWebCrypto = await sha256Hex(blob, {
    subtle: webcrypto.subtle,
    onProgress: (done, total) => seen.push([done, total]),
  });
  assert.equal(viaWebCrypto, expected);
  assert.deepEqual(seen, [
    [0, 10_000],
    [10_000, 10_000],
  ]);

  const fed = [];
  const progress = [];
  const incremental = await sha256Hex(blob, {
    subtle: null,
    createSHA256: fakeHashWasm(fed),
    pieceBytes: 4096,
    onProgress: (done) => progress.push(done),
  });
  assert.equal(incremental, expected);
  assert.deepEqual(fed, [4096, 4096, 1808]);
  assert.deepEqual(progress, [0, 4096, 8192, 10_000]);
});

test("past the limit, Web Crypto is not used even where it exists", async () => {
  const big = { size: WEBCRYPTO_MAX_BYTES + 1, slice: () => new Blob([new Uint8Array(1)]) };
  const subtle = {
    digest() {
      throw new Error("Web Crypto must not hash this");
    },
  };
  const fed = [];
  await sha256Hex(big, { subtle, createSHA256: fakeHashWasm(fed) });
  assert.equal(fed.length, 9); // 8 pieces of 4 MiB and the last byte (each fake slice is 1 byte)
});
