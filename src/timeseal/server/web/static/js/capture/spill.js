// Where a recording's unsent chunks wait during an outage: IndexedDB, on the device's disk. One
// database, one object store, keyed [recording id, chunk number]; a chunk is deleted as soon
// as the server has it. What a closed tab left behind is found by leftovers() and sent (or
// dropped) by the next capture page (see recorder.js, sendLeftovers).

const DB_NAME = "timeseal-capture";
const STORE = "chunks";

let opened = null;

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function database() {
  if (opened === null) {
    opened = new Promise((resolve, reject) => {
      if (!globalThis.indexedDB) {
        reject(new Error("no IndexedDB"));
        return;
      }
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("IndexedDB blocked"));
    });
    opened.catch(() => {
      opened = null; // try again next time (a private window may refuse only for a while)
    });
  }
  return opened;
}

async function inStore(mode, act) {
  const db = await database();
  const transaction = db.transaction(STORE, mode);
  const committed = new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error || new Error("aborted"));
  });
  committed.catch(() => {}); // a failed request rejects below; this only avoids a second report
  const result = await done(act(transaction.objectStore(STORE)));
  await committed; // a write counts once it is on disk
  return result;
}

/** The store of one recording's spilled chunks, for ChunkQueue. */
export function spillStore(recordingId) {
  return {
    put: (index, blob) => inStore("readwrite", (s) => s.put(blob, [recordingId, index])),
    get: (index) => inStore("readonly", (s) => s.get([recordingId, index])),
    delete: (index) => inStore("readwrite", (s) => s.delete([recordingId, index])),
  };
}

/** What earlier pages left: [{ id, indexes: [ascending chunk numbers] }]. */
export async function leftovers() {
  let keys;
  try {
    keys = await inStore("readonly", (s) => s.getAllKeys());
  } catch {
    return [];
  }
  const byId = new Map();
  for (const [id, index] of keys) {
    if (!byId.has(id)) {
      byId.set(id, []);
    }
    byId.get(id).push(index);
  }
  return Array.from(byId, ([id, indexes]) => ({ id: id, indexes: indexes.sort((a, b) => a - b) }));
}
