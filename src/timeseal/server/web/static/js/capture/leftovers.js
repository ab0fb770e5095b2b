// Chunks a capture page wrote to IndexedDB during an outage and could not send before its tab
// closed: the next capture page sends them, in order, while the server's recording still
// takes them. Web Locks keep two tabs (or a tab and its own recorder) from sending, and
// deleting, the same recording's chunks.

import { ApiFailure } from "../lib/http.js";
import { putChunk, recordingStatus } from "./api.js";
import { leftovers, spillStore } from "./spill.js";

const LOCK_PREFIX = "timeseal-recording-";
/** A recording of another account that used this browser is 404 to this one (as is one that
 * does not exist); 401/403, a session that ended. Its owner's next capture page sends them. */
const NOT_OURS = new Set([401, 403, 404]);

/**
 * Runs fn while holding the Web Lock of a recording's stored chunks. With ifAvailable, fn
 * does not run when another tab holds it. Browsers without Web Locks just run fn.
 */
export function withRecordingLock(id, fn, ifAvailable) {
  if (!navigator.locks) {
    return fn();
  }
  return navigator.locks.request(LOCK_PREFIX + id, { ifAvailable: Boolean(ifAvailable) }, (lock) =>
    lock ? fn() : undefined,
  );
}

/**
 * Sends what earlier pages left, recording by recording: in order while the server's
 * recording still takes them (state "recording", nothing missing in between), each deleted
 * once sent; dropped when the server will never take them (cut off, finished, refused). Kept
 * for a later page when the server cannot be reached or the recording is not this account's.
 */
export async function sendLeftovers(client) {
  for (const left of await leftovers()) {
    await withRecordingLock(left.id, () => sendLeftover(client, left), true);
  }
}

async function sendLeftover(client, left) {
  const store = spillStore(left.id);
  let remaining = left.indexes.slice();
  try {
    const known = await recordingStatus(client, left.id);
    let next = known.chunks;
    while (known.state === "recording" && remaining.length > 0 && remaining[0] <= next) {
      const index = remaining[0];
      if (index === next) {
        await putChunk(client, left.id, index, await store.get(index));
        next += 1;
      }
      await store.delete(index); // sent now, or the server had it already
      remaining = remaining.slice(1);
    }
  } catch (err) {
    if (!(err instanceof ApiFailure) || NOT_OURS.has(err.status)) {
      return; // cannot tell now, or another account's recording: keep them for a later page
    }
  }
  for (const index of remaining) {
    await store.delete(index);
  }
}
