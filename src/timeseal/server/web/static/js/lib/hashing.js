// SHA-256 of a file in the browser, for the verify page (the file never leaves the device)
// and the capture page (the hash goes into the tus upload's metadata). One limit for both.
//
// Web Crypto hashes in one call, so the whole file is read into memory first, and
// crypto.subtle.digest works on a copy of it: about twice the file's size at the peak. The
// capture page is meant for phones, whose tabs are killed long before a desktop's, so files up
// to WEBCRYPTO_MAX_BYTES (32 MiB: at most ~64 MiB held briefly) go to Web Crypto; larger ones,
// and all of them on plain http where crypto.subtle is missing, go through hash-wasm's
// incremental SHA-256 (static/vendor/hash-wasm, loaded by the page as window.hashwasm) in
// HASH_CHUNK_BYTES pieces, with progress. hash-wasm runs at several hundred MB/s, so the
// files it takes over between 32 and 64 MiB (the capture page's old limit) cost a fraction of
// a second more, and memory stays at one piece.

export const WEBCRYPTO_MAX_BYTES = 32 * 1024 * 1024;
export const HASH_CHUNK_BYTES = 4 * 1024 * 1024;

/** "webcrypto" (one call) or "incremental" (hash-wasm, piece by piece). */
export function hashMethod(size, hasWebCrypto) {
  return hasWebCrypto && size <= WEBCRYPTO_MAX_BYTES ? "webcrypto" : "incremental";
}

/** The [start, end) byte ranges an incremental hash reads, in order. */
export function pieces(size, pieceBytes = HASH_CHUNK_BYTES) {
  if (!(pieceBytes > 0)) {
    throw new RangeError("piece size must be positive");
  }
  const ranges = [];
  for (let start = 0; start < size; start += pieceBytes) {
    ranges.push([start, Math.min(start + pieceBytes, size)]);
  }
  return ranges;
}

export function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function webCrypto() {
  return globalThis.crypto && globalThis.crypto.subtle ? globalThis.crypto.subtle : null;
}

function hashWasm() {
  return globalThis.hashwasm.createSHA256();
}

/**
 * The lowercase hex SHA-256 of a Blob (or File). onProgress(done, total) is told as bytes are
 * hashed. subtle and createSHA256 are the page's by default (tests pass their own).
 */
export async function sha256Hex(blob, options = {}) {
  const onProgress = options.onProgress || (() => {});
  const subtle = options.subtle === undefined ? webCrypto() : options.subtle;
  if (hashMethod(blob.size, Boolean(subtle)) === "webcrypto") {
    onProgress(0, blob.size);
    const digest = await subtle.digest("SHA-256", await blob.arrayBuffer());
    onProgress(blob.size, blob.size);
    return toHex(digest);
  }
  const hasher = await (options.createSHA256 || hashWasm)();
  hasher.init();
  onProgress(0, blob.size);
  for (const [start, end] of pieces(blob.size, options.pieceBytes)) {
    hasher.update(new Uint8Array(await blob.slice(start, end).arrayBuffer()));
    onProgress(end, blob.size);
  }
  return hasher.digest("hex");
}
