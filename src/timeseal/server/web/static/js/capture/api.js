// The capture page's API calls: live recordings (/api/v1/recordings), tus uploads
// (/api/v1/uploads) and filing in a case. The URLs are built here and nowhere else.

import { ApiFailure, apiFailure, backoffDelay, persist, retryable, sleep } from "../lib/http.js";

export const RECORDINGS = "/api/v1/recordings";
export const UPLOADS = "/api/v1/uploads";
const TUS = { "Tus-Resumable": "1.0.0" };

export function recordingUrl(id) {
  return RECORDINGS + "/" + encodeURIComponent(id);
}

export function chunkUrl(id, index) {
  if (!Number.isInteger(index) || index < 0) {
    throw new RangeError("chunk index " + index);
  }
  return recordingUrl(id) + "/chunks/" + index;
}

export function finishUrl(id) {
  return recordingUrl(id) + "/finish";
}

export function caseItemUrl(caseId, number) {
  return "/api/v1/cases/" + encodeURIComponent(caseId) + "/items/" + encodeURIComponent(number);
}

/** The item's page (numbers may end in "$", which must be encoded in a path). */
export function evidencePage(number) {
  return "/evidence/" + encodeURIComponent(number);
}

function base64Utf8(text) {
  let binary = "";
  new TextEncoder().encode(text).forEach((b) => {
    binary += String.fromCharCode(b);
  });
  return btoa(binary);
}

/** tus Upload-Metadata: "key base64(value)" pairs, comma-separated; null values left out. */
export function tusMetadata(values) {
  return Object.keys(values)
    .filter((key) => values[key] !== null && values[key] !== undefined)
    .map((key) => key + " " + base64Utf8(String(values[key])))
    .join(",");
}

/**
 * POST /api/v1/recordings. Our own recording_id makes a retry safe: when the first answer was
 * lost, the retry is refused as recording_exists and the recording is there to use.
 * Returns { id, next_index, chunk_max_bytes }.
 */
export async function createRecording(client, body, onWait) {
  try {
    return await (await persist(() => client.request("POST", RECORDINGS, body), onWait)).json();
  } catch (err) {
    if (!(err instanceof ApiFailure) || err.code !== "recording_exists") {
      throw err;
    }
    const known = await recordingStatus(client, body.recording_id, onWait);
    if (known.state !== "recording") {
      throw err;
    }
    return { id: known.id, next_index: known.chunks };
  }
}

export async function recordingStatus(client, id, onWait) {
  return (await persist(() => client.request("GET", recordingUrl(id)), onWait)).json();
}

/** PUT one chunk until the server has it (a repeat of a received chunk gets the same
 * answer); returns the server's ChunkSealed answer. */
export async function putChunk(client, id, index, blob, onWait) {
  const path = chunkUrl(id, index);
  const headers = { "Content-Type": "application/octet-stream" };
  return (await persist(() => client.request("PUT", path, blob, headers), onWait)).json();
}

export async function finishRecording(client, id, chunks, onWait) {
  const body = { chunks: chunks };
  return (await persist(() => client.request("POST", finishUrl(id), body), onWait)).json();
}

export async function fileInCase(client, caseId, number, onWait) {
  await persist(() => client.request("PUT", caseItemUrl(caseId, number), {}), onWait);
}

/**
 * A tus 1.0 upload (creation, then PATCHes from the server's offset), as `timeseal upload`
 * does; the last PATCH seals the file and answers with its evidence number, returned.
 * A PATCH that is lost, refused as busy or at the wrong offset is followed by a HEAD (where to
 * resume) and, unless the offset was merely wrong (409), a backoffDelay() wait that grows with
 * each failure in a row.
 */
export async function tusUpload(client, blob, options) {
  const chunkBytes = options.chunkBytes;
  const onWait = options.onWait;
  const onProgress = options.onProgress || (() => {});
  const wait = options.sleep || sleep;
  const created = await persist(
    () =>
      client.request(
        "POST",
        UPLOADS,
        undefined,
        Object.assign({ "Upload-Length": String(blob.size), "Upload-Metadata": options.metadata }, TUS),
      ),
    onWait,
    wait,
  );
  const uploadUrl = created.headers.get("location");
  let number = created.headers.get("timeseal-evidence-number");
  let offset = 0;
  let failures = 0;
  while (number === null) {
    onProgress(offset, blob.size);
    const end = Math.min(offset + chunkBytes, blob.size);
    let sent;
    try {
      const headers = Object.assign(
        { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
        TUS,
      );
      sent = await client.request("PATCH", uploadUrl, blob.slice(offset, end), headers);
    } catch {
      sent = null; // lost or timed out
    }
    if (sent !== null && sent.ok) {
      offset = Number(sent.headers.get("upload-offset"));
      number = sent.headers.get("timeseal-evidence-number");
      failures = 0;
      continue;
    }
    if (sent !== null && !retryable(sent.status) && sent.status !== 409) {
      throw await apiFailure(sent);
    }
    const head = await persist(() => client.request("HEAD", uploadUrl, undefined, TUS), onWait, wait);
    offset = Number(head.headers.get("upload-offset"));
    number = head.headers.get("timeseal-evidence-number");
    if (number === null && (sent === null || sent.status !== 409)) {
      const delay = backoffDelay(failures);
      failures += 1;
      if (onWait) {
        onWait(Math.ceil(delay / 1000));
      }
      await wait(delay);
    }
  }
  onProgress(blob.size, blob.size);
  return number;
}
