// capture/queue.js: a recording's chunks during an outage stay few in memory, the rest go to
// the store, and the drain takes them strictly in order, wherever each one was kept.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChunkQueue, MEMORY_CHUNKS } from "../../src/timeseal/server/web/static/js/capture/queue.js";

/** IndexedDB's part, in a Map, with a log of what was done. */
function memoryStore() {
  const kept = new Map();
  const log = [];
  return {
    kept,
    log,
    failPuts: false,
    async put(index, blob) {
      await Promise.resolve();
      if (this.failPuts) {
        throw new Error("QuotaExceededError");
      }
      log.push(["put", index]);
      kept.set(index, blob);
    },
    async get(index) {
      log.push(["get", index]);
      return kept.get(index);
    },
    async delete(index) {
      log.push(["delete", index]);
      kept.delete(index);
    },
  };
}

async function drain(queue) {
  const sent = [];
  while (queue.length > 0) {
    const { index, blob } = await queue.peek();
    sent.push([index, blob]);
    await queue.shift();
  }
  return sent;
}

test("a few chunks in memory by default", () => {
  assert.equal(MEMORY_CHUNKS, 4);
});

test("an outage writes every unsent chunk to the store, keeps few in memory, drains in order", async () => {
  const store = memoryStore();
  const queue = new ChunkQueue({ store, firstIndex: 3, memoryLimit: 4 });
  await queue.push("chunk3"); // the network keeps up: memory only
  assert.equal(queue.spilled, 0);
  assert.equal(store.kept.size, 0);
  let peak = 0;
  for (let i = 1; i < 30; i += 1) {
    await queue.push("chunk" + (3 + i)); // chunk 3 is not sent yet: a backlog
    peak = Math.max(peak, queue.inMemory);
  }
  assert.equal(peak, 4);
  assert.equal(queue.length, 30);
  assert.equal(queue.inMemory, 4);
  // The first chunk too: a tab closed now leaves every unsent chunk, with no gap.
  assert.equal(queue.spilled, 30);
  assert.deepEqual(
    [...store.kept.keys()].sort((a, b) => a - b),
    Array.from({ length: 30 }, (_, i) => 3 + i),
  );

  const sent = await drain(queue);
  assert.deepEqual(
    sent.map(([index]) => index),
    Array.from({ length: 30 }, (_, i) => 3 + i),
  );
  assert.ok(sent.every(([index, blob]) => blob === "chunk" + index));
  assert.equal(store.kept.size, 0); // nothing left on the device
  assert.equal(queue.spilled, 0);
  assert.equal(queue.inMemory, 0);
  assert.equal(await queue.peek(), null);
});

test("while the network keeps up nothing is written to the store", async () => {
  const store = memoryStore();
  const queue = new ChunkQueue({ store });
  for (let i = 0; i < 10; i += 1) {
    await queue.push(i);
    assert.deepEqual(await queue.peek(), { index: i, blob: i });
    await queue.shift();
  }
  assert.deepEqual(store.log, []);
});

test("chunks recorded during the drain join the queue behind the spilled ones", async () => {
  const store = memoryStore();
  const queue = new ChunkQueue({ store, memoryLimit: 2 });
  for (let i = 0; i < 5; i += 1) {
    await queue.push(i);
  }
  const order = [];
  let next = 5;
  while (queue.length > 0) {
    const { index, blob } = await queue.peek();
    order.push(blob);
    await queue.shift();
    if (next < 9) {
      await queue.push(next); // the recorder keeps recording while the backlog goes out
      next += 1;
    }
    assert.ok(queue.inMemory <= 2);
    assert.equal(index, blob);
  }
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(store.kept.size, 0);
});

test("a chunk still being written to the store is waited for, not skipped", async () => {
  const store = memoryStore();
  let release;
  const slowPut = store.put.bind(store);
  store.put = (index, blob) =>
    new Promise((resolve) => {
      release = () => resolve(slowPut(index, blob));
    });
  const queue = new ChunkQueue({ store, memoryLimit: 0 });
  const pushed = queue.push("first");
  assert.equal(queue.length, 1); // numbered at once
  let got = null;
  const peeked = queue.peek().then((chunk) => (got = chunk));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(got, null);
  release();
  await pushed;
  await peeked;
  assert.deepEqual(got, { index: 0, blob: "first" });
});

test("a store that refuses (no room, no IndexedDB) keeps the chunk in memory rather than lose it", async () => {
  const store = memoryStore();
  store.failPuts = true;
  const queue = new ChunkQueue({ store, memoryLimit: 1 });
  for (let i = 0; i < 3; i += 1) {
    await queue.push(i);
  }
  assert.ok(queue.storeFailed);
  assert.equal(queue.spilled, 0);
  assert.equal(queue.inMemory, 3);
  assert.equal(queue.spilled, 0);
  assert.deepEqual(
    (await drain(queue)).map(([, blob]) => blob),
    [0, 1, 2],
  );
});

test("without a store everything stays in memory", async () => {
  const queue = new ChunkQueue({ memoryLimit: 1 });
  await queue.push("a");
  await queue.push("b");
  assert.equal(queue.inMemory, 2);
  assert.deepEqual((await drain(queue)).map(([, blob]) => blob), ["a", "b"]);
  await assert.rejects(queue.shift(), /empty/);
});

test("a chunk gone from the store is an error, not a silent gap", async () => {
  const store = memoryStore();
  const queue = new ChunkQueue({ store, memoryLimit: 0 });
  await queue.push("x");
  store.kept.clear(); // the person cleared the site's data meanwhile
  await assert.rejects(queue.peek(), /chunk 0 is missing/);
});
