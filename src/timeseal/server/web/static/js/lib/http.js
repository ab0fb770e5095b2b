// Talking to the JSON API from a page: every request has a deadline (a connection that hangs
// must not hold a recording's queue for ever), and "try again" answers are retried after a
// growing, jittered delay.

/** A request without a body gets this long for its whole answer. */
export const REQUEST_TIMEOUT_MS = 30 * 1000;
/** A request with a body gets longer: this many bytes a second is the slowest upload we wait
 * for (a weak mobile connection), on top of REQUEST_TIMEOUT_MS. */
export const SLOWEST_UPLOAD_BYTES_PER_S = 32 * 1024;
export const BACKOFF_FIRST_MS = 1000;
export const BACKOFF_MAX_MS = 30 * 1000;

/** The deadline of a request carrying `bytes` bytes: a 1 MB recording chunk gets ~61 s, a
 * 4 MiB tus PATCH ~158 s. */
export function timeoutFor(bytes) {
  return REQUEST_TIMEOUT_MS + Math.ceil(((bytes || 0) * 1000) / SLOWEST_UPLOAD_BYTES_PER_S);
}

/**
 * How long to wait before retry number `attempt` (0 for the first): 1, 2, 4 … s capped at
 * 30 s, each drawn between half of that and all of it ("equal jitter"), so that the phones a
 * server restart cut off do not all come back in the same second. random() is in [0, 1).
 */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, Math.max(0, attempt)));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Statuses that mean "not now" rather than "no": worth sending again. */
export function retryable(status) {
  return status === 408 || status === 429 || status >= 500;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A refusal from the API: its HTTP status and the error code of its JSON body. */
export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiFailure";
    this.status = status;
    this.code = code;
  }
}

/** The ApiFailure a refused response stands for (its JSON error, or its status line). */
export async function apiFailure(response) {
  let code = "http_" + response.status;
  let message = response.status + " " + response.statusText;
  try {
    const body = await response.json();
    code = body.error.code;
    message = body.error.message;
  } catch {
    // not the API's JSON error body: keep the status line
  }
  return new ApiFailure(response.status, code, message);
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * fetch() that gives up after `ms` for the whole exchange, answer body included (the body is
 * read before the deadline is lifted; API answers are small). A timeout rejects like a lost
 * connection, with an AbortError.
 */
export async function fetchWithTimeout(url, init, ms, fetchImpl = globalThis.fetch) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const response = await fetchImpl(url, Object.assign({}, init, { signal: controller.signal }));
    const body = NULL_BODY.has(response.status) ? null : await response.arrayBuffer();
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A client for the JSON API with the session cookie: every request carries the page's
 * language and CSRF token, and a deadline from timeoutFor().
 */
export function apiClient({ csrf, lang, fetchImpl = globalThis.fetch }) {
  return {
    request(method, path, body, headers) {
      const all = Object.assign({ "Accept-Language": lang, "X-CSRF-Token": csrf }, headers || {});
      let payload = body;
      if (body !== undefined && !(body instanceof Blob)) {
        all["Content-Type"] = "application/json";
        payload = JSON.stringify(body);
      }
      const size = payload === undefined ? 0 : payload.size || payload.length || 0;
      const init = {
        method: method,
        headers: all,
        body: payload,
        credentials: "same-origin",
        cache: "no-store",
      };
      return fetchWithTimeout(path, init, timeoutFor(size), fetchImpl);
    },
  };
}

/**
 * Sends until the server answers something other than "try again": network errors, timeouts,
 * 5xx, 408 and 429 wait backoffDelay() and repeat, for as long as the page is open
 * (onWait(seconds) is told each wait). Returns the successful Response; throws ApiFailure
 * for a refusal.
 */
export async function persist(send, onWait, wait = sleep, random = Math.random) {
  for (let attempt = 0; ; attempt += 1) {
    let response = null;
    try {
      response = await send();
    } catch {
      response = null; // offline, connection reset, timed out, server restarting
    }
    if (response !== null && response.ok) {
      return response;
    }
    if (response !== null && !retryable(response.status)) {
      throw await apiFailure(response);
    }
    const delay = backoffDelay(attempt, random);
    if (onWait) {
      onWait(Math.ceil(delay / 1000));
    }
    await wait(delay);
  }
}
