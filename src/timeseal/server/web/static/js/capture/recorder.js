// Recording camera video or the screen and streaming it to the server while it happens.
//
// POST /api/v1/recordings, then MediaRecorder hands a chunk every timeslice (2 s); chunks are
// PUT strictly in order from a ChunkQueue, each retried with backoff until the server has it
// (a retry of a received chunk gets the same answer), never skipped or reordered. The server
// chains and timestamps each chunk as it arrives, so a closed tab loses only what had not been
// sent. During an outage the queue writes every unsent chunk to IndexedDB and keeps only a
// few in memory (queue.js, spill.js); the drain afterwards sends them in order. Chunks a tab
// closed during an outage left in IndexedDB are sent by the next capture page while the
// server still takes them (leftovers.js). Stop: the last chunk, then POST …/finish.

import { createRecording, evidencePage, finishRecording, putChunk } from "./api.js";
import { withRecordingLock } from "./leftovers.js";
import { byId, beijingTime, errorText, fill, randomHex, show, stopStream } from "./page.js";
import { ChunkQueue } from "./queue.js";
import { spillStore } from "./spill.js";

// Enough for legible text on a recorded screen, little enough for a phone's mobile data:
// a 2-second chunk stays near 1 MB, far under the server's 8 MiB a chunk.
const VIDEO_BITS_PER_SECOND = { camera_recording: 2500000, screen_recording: 4000000 };

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

function newRecorder(stream, kind) {
  const options = { videoBitsPerSecond: VIDEO_BITS_PER_SECOND[kind] };
  const mimeType = pickMimeType(stream);
  if (mimeType) {
    options.mimeType = mimeType;
  }
  return new MediaRecorder(stream, options);
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

/** One recording: its stream and recorder, the server's id and its queue of chunks. */
function newSession(stream, recorder) {
  return {
    id: null,
    stream: stream,
    recorder: recorder,
    queue: null,
    sealedThrough: null,
    lastTokenTime: null,
    chunkMax: Infinity,
    recorderDone: false,
    pumping: false,
    failed: false,
    wakeLock: null,
    release: () => {},
  };
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

/**
 * The video card of the capture page. page: { client, messages, timeslice, freshEnvironment,
 * currentLocation, details() -> { title, case_id }, beforeStart(), onBusy(on) }.
 */
export class RecorderCard {
  constructor(page) {
    this.page = page;
    this.messages = page.messages;
    this.startCamera = byId("start-camera");
    this.startScreen = byId("start-screen");
    this.stopButton = byId("stop-recording");
    this.preview = byId("recording-preview");
    this.statusText = byId("recording-status");
    this.progress = byId("recording-progress");
    this.result = byId("recording-result");
    this.support = recordingSupport();
    this.active = null;
    this.waiting = (seconds) => {
      this.statusText.textContent = fill(this.messages.msgRetrying, { seconds: seconds });
    };
    this.startCamera.addEventListener("click", () => this.start("camera_recording"));
    this.startScreen.addEventListener("click", () => this.start("screen_recording"));
    this.stopButton.addEventListener("click", () => this.stop(this.active));
    // Leaving while recording ends the recording (cut off, still sealed as far as it was
    // sent): the browser asks first.
    window.addEventListener("beforeunload", (event) => {
      if (this.active) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
    if (!this.support.canRecord) {
      const note = byId("recorder-unsupported");
      note.textContent = this.messages.msgUnsupported;
      show(note, true);
    }
    show(byId("screen-unavailable"), !this.support.canRecordScreen);
    show(this.startScreen, this.support.canRecordScreen);
    this.setUi(false);
  }

  isActive() {
    return this.active !== null;
  }

  setUi(on) {
    this.startCamera.disabled = on || !this.support.canRecord;
    this.startScreen.disabled = on || !this.support.canRecordScreen;
    show(this.stopButton, on);
    this.stopButton.disabled = !on;
    this.page.onBusy(on);
  }

  showProgress(session) {
    byId("chunks-sent").textContent = String(session.queue ? session.queue.head : 0);
    byId("chunks-sealed").textContent = String(session.sealedThrough === null ? 0 : session.sealedThrough + 1);
    if (session.lastTokenTime) {
      byId("last-seal").replaceChildren(beijingTime(session.lastTokenTime, this.messages.msgBeijing));
    }
  }

  // What waits to be sent, for the curious and for tests: data-queued (chunks), data-in-memory,
  // data-spilled (in IndexedDB) and data-memory-peak (the most ever held in memory).
  showQueue(session) {
    const queue = session.queue;
    const data = this.progress.dataset;
    data.queued = String(queue.length);
    data.inMemory = String(queue.inMemory);
    data.spilled = String(queue.spilled);
    data.memoryPeak = String(Math.max(Number(data.memoryPeak || 0), queue.inMemory));
  }

  end(session) {
    letScreenSleep(session);
    session.release();
    if (this.active === session) {
      this.active = null;
    }
  }

  fail(session, err) {
    session.failed = true;
    if (session.recorder.state !== "inactive") {
      session.recorder.stop();
    }
    stopStream(session.stream);
    show(this.preview, false);
    this.statusText.textContent = fill(this.messages.msgFailed, { reason: errorText(err) });
    this.end(session);
    this.setUi(false);
  }

  stop(session) {
    if (!session || session.recorder.state === "inactive") {
      return;
    }
    this.stopButton.disabled = true;
    this.statusText.textContent = this.messages.msgStopping;
    session.recorder.stop();
  }

  async finish(session) {
    this.statusText.textContent = this.messages.msgFinishing;
    const done = await finishRecording(this.page.client, session.id, session.queue.head, this.waiting);
    this.end(session);
    show(this.preview, false);
    this.preview.srcObject = null;
    this.statusText.textContent = fill(this.messages.msgFinished, { number: done.evidence });
    const link = byId("recording-link");
    link.href = evidencePage(done.evidence);
    link.textContent = fill(this.messages.msgOpen, { number: done.evidence });
    show(this.result, true);
    this.setUi(false);
  }

  // Sends the queued chunks one at a time, in order; finishes once the recorder has stopped
  // and the queue is empty. Only one pump runs per session.
  async pump(session) {
    if (session.pumping || session.failed || session.queue === null) {
      return;
    }
    session.pumping = true;
    try {
      while (session.queue.length > 0 && !session.failed) {
        await this.sendOldest(session);
      }
      if (session.recorderDone && session.queue.length === 0 && !session.failed) {
        await this.finish(session);
      }
    } catch (err) {
      this.fail(session, err);
    } finally {
      session.pumping = false;
    }
  }

  async sendOldest(session) {
    const chunk = await session.queue.peek();
    if (chunk.blob.size > session.chunkMax) {
      throw new Error(this.messages.msgTooBig);
    }
    const answer = await putChunk(this.page.client, session.id, chunk.index, chunk.blob, this.waiting);
    await session.queue.shift();
    session.sealedThrough = answer.sealed_through;
    session.lastTokenTime = answer.token_time || session.lastTokenTime;
    this.showProgress(session);
    this.showQueue(session);
    if (!session.recorderDone) {
      this.statusText.textContent = this.messages.msgRecording;
    }
  }

  enqueue(session, blob) {
    const kept = session.queue.push(blob); // numbered at once; pump waits while it is stored
    this.showQueue(session);
    this.pump(session);
    kept.then(
      () => this.showQueue(session),
      (err) => this.fail(session, err),
    );
  }

  // POST /api/v1/recordings, then the queue and the Web Lock over its stored chunks.
  async open(session, kind) {
    const details = this.page.details();
    const body = {
      kind: kind,
      mime_type: session.recorder.mimeType || pickMimeType(session.stream) || "video/webm",
      title: details.title,
      case_id: details.case_id,
      location: await this.page.currentLocation(),
      browser_environment: await this.page.freshEnvironment(),
      recording_id: randomHex(16), // a retried POST after a lost answer is the same recording
    };
    const created = await createRecording(this.page.client, body, this.waiting);
    session.id = created.id;
    session.chunkMax = created.chunk_max_bytes || Infinity;
    session.queue = new ChunkQueue({ store: spillStore(created.id), firstIndex: created.next_index || 0 });
    const ended = new Promise((resolve) => {
      session.release = resolve;
    });
    withRecordingLock(created.id, () => ended, false);
  }

  // The stream and its recorder, or null (refused, or this browser cannot record it).
  async media(kind) {
    let stream;
    try {
      stream = kind === "camera_recording" ? await cameraStream(true) : await screenStream();
    } catch {
      this.statusText.textContent = this.messages.msgDenied;
      return null;
    }
    try {
      return newSession(stream, newRecorder(stream, kind));
    } catch {
      stopStream(stream);
      this.statusText.textContent = this.messages.msgUnsupported;
      return null;
    }
  }

  listen(session) {
    const recorder = session.recorder;
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data && event.data.size > 0 && !session.failed) {
        this.enqueue(session, event.data);
      }
    });
    recorder.addEventListener("error", (event) => this.fail(session, event.error || new Error("MediaRecorder")));
    recorder.addEventListener("stop", () => {
      session.recorderDone = true;
      stopStream(session.stream);
      this.pump(session);
    });
    // The person ended the screen share from the browser's own bar: that is Stop.
    session.stream.getVideoTracks().forEach((track) => {
      track.addEventListener("ended", () => this.stop(session));
    });
  }

  async start(kind) {
    if (this.active) {
      return;
    }
    this.page.beforeStart(); // one camera user at a time: phones refuse a second
    this.setUi(true);
    this.stopButton.disabled = true;
    show(this.result, false);
    this.statusText.textContent = this.messages.msgAsking;
    const session = await this.media(kind);
    if (session === null) {
      this.setUi(false);
      return;
    }
    this.active = session;
    try {
      await this.open(session, kind);
    } catch (err) {
      this.fail(session, err);
      return;
    }
    this.listen(session);
    this.preview.srcObject = session.stream;
    show(this.preview, true);
    this.preview.play().catch(() => {
      /* a preview that does not play records all the same */
    });
    session.recorder.start(this.page.timeslice);
    keepScreenOn(session);
    this.stopButton.disabled = false;
    show(this.progress, true);
    this.showProgress(session);
    this.showQueue(session);
    this.statusText.textContent = this.messages.msgRecording;
  }
}
