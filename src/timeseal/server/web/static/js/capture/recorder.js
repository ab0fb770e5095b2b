// Recording camera video or the screen and streaming it to the server while it happens.
//
// POST /api/v1/recordings, then MediaRecorder hands a chunk every timeslice (2 s); chunks are
// PUT strictly in order from a ChunkQueue, each retried with backoff until the server has it
// (a retry of a received chunk gets the same answer), never skipped or reordered. The server
// chains and timestamps each chunk as it arrives, so a closed tab loses only what had not been
// sent. During an outage the queue writes every unsent chunk to IndexedDB and keeps only a
// few in memory (queue.js, spill.js); the drain afterwards sends them in order. Chunks a tab
// closed during an outage left in IndexedDB are sent by the next capture page while the
// server still takes them (sendLeftovers). Stop: the last chunk, then POST …/finish.

import { ApiFailure } from "../lib/http.js";
import {
  createRecording,
  evidencePage,
  finishRecording,
  putChunk,
  recordingStatus,
} from "./api.js";
import { byId, beijingTime, errorText, fill, randomHex, show, stopStream } from "./page.js";
import { ChunkQueue } from "./queue.js";
import { leftovers, spillStore } from "./spill.js";

// Enough for legible text on a recorded screen, little enough for a phone's mobile data:
// a 2-second chunk stays near 1 MB, far under the server's 8 MiB a chunk.
const VIDEO_BITS_PER_SECOND = { camera_recording: 2500000, screen_recording: 4000000 };
const LOCK_PREFIX = "timeseal-recording-";

export function recordingSupport() {
  const media = navigator.mediaDevices;
  const canRecord = Boolean(window.MediaRecorder && media && media.getUserMedia);
  return { canRecord: canRecord, canRecordScreen: canRecord && typeof media.getDisplayMedia === "function" };
}

function pickMimeType(stream) {
  const withAudio = stream.getAudioTracks().length > 0;
  const candidates = withAudio
    ? ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"]
    : ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm", "video/mp4"];
  return candidates.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

export async function cameraStream(withAudio) {
  const video = { facingMode: "environment" };
  if (!withAudio) {
    return navigator.mediaDevices.getUserMedia({ video: video, audio: false });
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ video: video, audio: true });
  } catch {
    return navigator.mediaDevices.getUserMedia({ video: video, audio: false });
  }
}

function screenStream() {
  return navigator.mediaDevices.getDisplayMedia({ video: true, audio: true });
}

/**
 * Runs fn while holding the Web Lock of a recording's spilled chunks, so that two capture
 * tabs never send (and delete) the same chunks. With ifAvailable, fn does not run when
 * another tab holds it. Browsers without Web Locks just run fn.
 */
function withRecordingLock(id, fn, ifAvailable) {
  if (!navigator.locks) {
    return fn();
  }
  return navigator.locks.request(LOCK_PREFIX + id, { ifAvailable: Boolean(ifAvailable) }, (lock) =>
    lock ? fn() : undefined,
  );
}

/**
 * Chunks that an earlier capture page spilled and could not send before it closed: sent in
 * order while the server's recording still takes them (state "recording", nothing missing in
 * between), then deleted; dropped when the server will never take them (cut off, finished,
 * refused). Kept for a later page when the server cannot be reached.
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
      await store.delete(index);
      remaining = remaining.slice(1);
    }
  } catch (err) {
    if (!(err instanceof ApiFailure)) {
      return; // cannot tell now: keep them for the next page
    }
  }
  for (const index of remaining) {
    await store.delete(index);
  }
}

/**
 * The video card of the capture page. page: { client, messages, timeslice, freshEnvironment,
 * currentLocation, details() -> { title, case_id }, beforeStart(), onBusy(on) }.
 * Returns { isActive() }.
 */
export function setUpRecorder(page) {
  const messages = page.messages;
  const startCamera = byId("start-camera");
  const startScreen = byId("start-screen");
  const stopButton = byId("stop-recording");
  const preview = byId("recording-preview");
  const recordingStatusText = byId("recording-status");
  const progress = byId("recording-progress");
  const result = byId("recording-result");
  const support = recordingSupport();
  let active = null;

  function setRecordingUi(on) {
    startCamera.disabled = on || !support.canRecord;
    startScreen.disabled = on || !support.canRecordScreen;
    show(stopButton, on);
    stopButton.disabled = !on;
    page.onBusy(on);
  }

  function showProgress(session) {
    byId("chunks-sent").textContent = String(session.queue ? session.queue.head : session.nextIndex);
    byId("chunks-sealed").textContent = String(
      session.sealedThrough === null ? 0 : session.sealedThrough + 1,
    );
    if (session.lastTokenTime) {
      byId("last-seal").replaceChildren(beijingTime(session.lastTokenTime, messages.msgBeijing));
    }
  }

  // What waits to be sent, for the curious and for tests: data-queued (chunks), data-in-memory,
  // data-spilled (in IndexedDB) and data-memory-peak (the most ever held in memory).
  function showQueue(session) {
    const queue = session.queue;
    progress.dataset.queued = String(queue.length);
    progress.dataset.inMemory = String(queue.inMemory);
    progress.dataset.spilled = String(queue.spilled);
    const peak = Number(progress.dataset.memoryPeak || 0);
    progress.dataset.memoryPeak = String(Math.max(peak, queue.inMemory));
  }

  function waiting(seconds) {
    recordingStatusText.textContent = fill(messages.msgRetrying, { seconds: seconds });
  }

  // A phone whose screen goes dark stops the camera: keep it on while recording, where the
  // browser lets us (Screen Wake Lock API).
  function keepScreenOn(session) {
    if (navigator.wakeLock) {
      navigator.wakeLock
        .request("screen")
        .then((lock) => {
          session.wakeLock = lock;
        })
        .catch(() => {
          /* not allowed (battery saver): record all the same */
        });
    }
  }

  function letScreenSleep(session) {
    if (session.wakeLock) {
      session.wakeLock.release().catch(() => {
        /* already released */
      });
      session.wakeLock = null;
    }
  }

  function end(session) {
    letScreenSleep(session);
    session.release();
    if (active === session) {
      active = null;
    }
  }

  function fail(session, err) {
    session.failed = true;
    if (session.recorder.state !== "inactive") {
      session.recorder.stop();
    }
    stopStream(session.stream);
    show(preview, false);
    recordingStatusText.textContent = fill(messages.msgFailed, { reason: errorText(err) });
    end(session);
    setRecordingUi(false);
  }

  function stopRecording(session) {
    if (!session || session.recorder.state === "inactive") {
      return;
    }
    stopButton.disabled = true;
    recordingStatusText.textContent = messages.msgStopping;
    session.recorder.stop();
  }

  async function finish(session) {
    recordingStatusText.textContent = messages.msgFinishing;
    const done = await finishRecording(page.client, session.id, session.queue.head, waiting);
    end(session);
    show(preview, false);
    preview.srcObject = null;
    recordingStatusText.textContent = fill(messages.msgFinished, { number: done.evidence });
    const link = byId("recording-link");
    link.href = evidencePage(done.evidence);
    link.textContent = fill(messages.msgOpen, { number: done.evidence });
    show(result, true);
    setRecordingUi(false);
  }

  // Sends the queued chunks one at a time, in order; finishes once the recorder has stopped
  // and the queue is empty. Only one pump runs per session.
  async function pump(session) {
    if (session.pumping || session.failed || session.queue === null) {
      return;
    }
    session.pumping = true;
    try {
      while (session.queue.length > 0 && !session.failed) {
        const chunk = await session.queue.peek();
        if (chunk.blob.size > session.chunkMax) {
          throw new Error(messages.msgTooBig);
        }
        const answer = await putChunk(page.client, session.id, chunk.index, chunk.blob, waiting);
        await session.queue.shift();
        session.sealedThrough = answer.sealed_through;
        session.lastTokenTime = answer.token_time || session.lastTokenTime;
        showProgress(session);
        showQueue(session);
        if (!session.recorderDone) {
          recordingStatusText.textContent = messages.msgRecording;
        }
      }
      if (session.recorderDone && session.queue.length === 0 && !session.failed) {
        await finish(session);
      }
    } catch (err) {
      fail(session, err);
    } finally {
      session.pumping = false;
    }
  }

  function enqueue(session, blob) {
    const kept = session.queue.push(blob);
    showQueue(session);
    pump(session); // the chunk is numbered already; pump waits for it if it is being spilled
    kept.then(
      () => showQueue(session),
      (err) => fail(session, err),
    );
  }

  function newRecorder(stream, kind) {
    const options = { videoBitsPerSecond: VIDEO_BITS_PER_SECOND[kind] };
    const mimeType = pickMimeType(stream);
    if (mimeType) {
      options.mimeType = mimeType;
    }
    return new MediaRecorder(stream, options);
  }

  async function openSession(session, kind) {
    const details = page.details();
    const body = {
      kind: kind,
      mime_type: session.recorder.mimeType || pickMimeType(session.stream) || "video/webm",
      title: details.title,
      case_id: details.case_id,
      location: await page.currentLocation(),
      browser_environment: await page.freshEnvironment(),
      recording_id: randomHex(16), // a retried POST after a lost answer is the same recording
    };
    const created = await createRecording(page.client, body, waiting);
    session.id = created.id;
    session.chunkMax = created.chunk_max_bytes || Infinity;
    session.queue = new ChunkQueue({ store: spillStore(created.id), firstIndex: created.next_index || 0 });
    const ended = new Promise((resolve) => {
      session.release = resolve;
    });
    withRecordingLock(created.id, () => ended, false);
  }

  async function startRecording(kind) {
    if (active) {
      return;
    }
    page.beforeStart(); // one camera user at a time: phones refuse a second
    setRecordingUi(true);
    stopButton.disabled = true;
    show(result, false);
    recordingStatusText.textContent = messages.msgAsking;
    let stream;
    try {
      stream = kind === "camera_recording" ? await cameraStream(true) : await screenStream();
    } catch {
      recordingStatusText.textContent = messages.msgDenied;
      setRecordingUi(false);
      return;
    }
    let recorder;
    try {
      recorder = newRecorder(stream, kind);
    } catch {
      stopStream(stream);
      recordingStatusText.textContent = messages.msgUnsupported;
      setRecordingUi(false);
      return;
    }
    const session = {
      id: null,
      stream: stream,
      recorder: recorder,
      queue: null,
      nextIndex: 0,
      sealedThrough: null,
      lastTokenTime: null,
      chunkMax: Infinity,
      recorderDone: false,
      pumping: false,
      failed: false,
      wakeLock: null,
      release: () => {},
    };
    active = session;
    try {
      await openSession(session, kind);
    } catch (err) {
      fail(session, err);
      return;
    }
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data && event.data.size > 0 && !session.failed) {
        enqueue(session, event.data);
      }
    });
    recorder.addEventListener("error", (event) => fail(session, event.error || new Error("MediaRecorder")));
    recorder.addEventListener("stop", () => {
      session.recorderDone = true;
      stopStream(stream);
      pump(session);
    });
    // The person ended the screen share from the browser's own bar: that is Stop.
    stream.getVideoTracks().forEach((track) => {
      track.addEventListener("ended", () => stopRecording(session));
    });
    preview.srcObject = stream;
    show(preview, true);
    preview.play().catch(() => {
      /* a preview that does not play records all the same */
    });
    recorder.start(page.timeslice);
    keepScreenOn(session);
    stopButton.disabled = false;
    show(progress, true);
    showProgress(session);
    showQueue(session);
    recordingStatusText.textContent = messages.msgRecording;
  }

  startCamera.addEventListener("click", () => startRecording("camera_recording"));
  startScreen.addEventListener("click", () => startRecording("screen_recording"));
  stopButton.addEventListener("click", () => stopRecording(active));

  // Leaving while recording ends the recording (cut off, still sealed as far as it was sent):
  // the browser asks first.
  window.addEventListener("beforeunload", (event) => {
    if (active) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  if (!support.canRecord) {
    const note = byId("recorder-unsupported");
    note.textContent = messages.msgUnsupported;
    show(note, true);
  }
  show(byId("screen-unavailable"), !support.canRecordScreen);
  show(startScreen, support.canRecordScreen);
  setRecordingUi(false);

  return { isActive: () => active !== null, canRecord: support.canRecord };
}
