// The capture page: record camera video or the screen and stream it to the server while it
// happens, take photos, upload picked files. Everything goes through the JSON API with the
// session cookie and the X-CSRF-Token header (see capture_pages.py for the routes).
//
// A recording: POST /api/v1/recordings, then MediaRecorder hands a chunk every timeslice
// (2 s); chunks are PUT strictly in order from a queue, each retried with backoff until the
// server has it (a retry of a received chunk gets the same answer), never skipped or
// reordered. The server chains and timestamps each chunk as it arrives, so a closed tab loses
// only what had not been sent. Stop: the last chunk, then POST …/finish.
//
// Numbers in the environment report are integers or strings: capture metadata is canonical
// JSON, which has no floats.
(function () {
  "use strict";

  const root = document.getElementById("capture");
  if (!root) {
    return;
  }
  const data = root.dataset;
  const lang = document.documentElement.lang || "zh-CN";
  const TIMESLICE = Number(data.timeslice);
  const UPLOAD_CHUNK = Number(data.uploadChunk);
  const WEBCRYPTO_MAX = Number(data.webcryptoMax);
  const MAX_BACKOFF_S = 30;
  const CLOCK_TIMEOUT_MS = 5000;
  const LOCATION_WAIT_MS = 3000;
  // Enough for legible text on a recorded screen, little enough for a phone's mobile data:
  // a 2-second chunk stays near 1 MB, far under the server's 8 MiB a chunk.
  const VIDEO_BITS_PER_SECOND = { camera_recording: 2500000, screen_recording: 4000000 };
  // A report older than this is measured again before the next recording or upload.
  const REPORT_FRESH_MS = 60 * 1000;

  function byId(id) {
    return document.getElementById(id);
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function show(element, on) {
    element.hidden = !on;
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function randomHex(bytes) {
    const buffer = new Uint8Array(bytes);
    window.crypto.getRandomValues(buffer);
    return Array.from(buffer, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function clock(date) {
    return date.toISOString().slice(0, 23).replace("T", " ");
  }

  // A time as the server-rendered pages show it (render.time_html): Beijing time in a <time>,
  // UTC beside it and on hover.
  function beijingTime(iso) {
    const at = new Date(Date.parse(iso));
    const utc = clock(at) + " UTC";
    const time = document.createElement("time");
    time.dateTime = at.toISOString();
    time.title = utc;
    const zone = document.createElement("span");
    zone.className = "tz";
    zone.textContent = data.msgBeijing;
    time.append(clock(new Date(at.getTime() + 8 * 3600 * 1000)) + " ", zone);
    const beside = document.createElement("span");
    beside.className = "utc";
    beside.textContent = "(" + utc + ")";
    const whole = document.createDocumentFragment();
    whole.append(time, " ", beside);
    return whole;
  }

  // ------------------------------------------------------------------ the API

  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function apiFailure(response) {
    let code = "http_" + response.status;
    let message = response.status + " " + response.statusText;
    try {
      const body = await response.json();
      code = body.error.code;
      message = body.error.message;
    } catch (err) {
      // not the API's JSON error body: keep the status line
    }
    return new ApiFailure(response.status, code, message);
  }

  function request(method, path, body, headers) {
    const all = Object.assign(
      { "Accept-Language": lang, "X-CSRF-Token": data.csrf }, headers || {}
    );
    let payload = body;
    if (body !== undefined && !(body instanceof Blob)) {
      all["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    return fetch(path, {
      method: method,
      headers: all,
      body: payload,
      credentials: "same-origin",
      cache: "no-store",
    });
  }

  function retryable(status) {
    return status === 408 || status === 429 || status >= 500;
  }

  // Sends until the server answers something other than "try again": network errors, 5xx,
  // 408 and 429 wait 1, 2, 4 … 30 s and repeat, for as long as the page is open. Returns the
  // successful Response; throws ApiFailure for a refusal.
  async function persist(send, onWait) {
    for (let attempt = 0; ; attempt += 1) {
      let response = null;
      try {
        response = await send();
      } catch (err) {
        response = null; // offline, connection reset, server restarting
      }
      if (response !== null && response.ok) {
        return response;
      }
      if (response !== null && !retryable(response.status)) {
        throw await apiFailure(response);
      }
      const seconds = Math.min(MAX_BACKOFF_S, Math.pow(2, attempt));
      if (onWait) {
        onWait(seconds);
      }
      await sleep(seconds * 1000);
    }
  }

  // ------------------------------------------------------------------ environment report

  function integerOrText(value) {
    return Number.isInteger(value) ? value : String(value);
  }

  function connectionReport() {
    const c = navigator.connection;
    if (!c) {
      return null;
    }
    const report = {};
    if (c.type) { report.type = String(c.type); }
    if (c.effectiveType) { report.effective_type = String(c.effectiveType); }
    if (typeof c.downlink === "number") { report.downlink_mbps = String(c.downlink); }
    if (typeof c.rtt === "number") { report.rtt_ms = Math.round(c.rtt); }
    if (typeof c.saveData === "boolean") { report.save_data = c.saveData; }
    return report;
  }

  // The browser's clock minus the server's, taking the server's reading as made at the
  // mid-point of the request; the best (shortest round trip) of three.
  async function measureClock() {
    let best = null;
    for (let i = 0; i < 3; i += 1) {
      const sentAt = Date.now();
      const started = performance.now();
      const response = await fetch("/api/v1/time", {
        cache: "no-store",
        signal: AbortSignal.timeout ? AbortSignal.timeout(CLOCK_TIMEOUT_MS) : undefined,
      });
      const roundTrip = performance.now() - started;
      if (!response.ok) {
        throw new Error("GET /api/v1/time: " + response.status);
      }
      const server = Date.parse((await response.json()).now);
      if (Number.isNaN(server)) {
        throw new Error("GET /api/v1/time: no time");
      }
      const offset = sentAt + roundTrip / 2 - server;
      if (best === null || roundTrip < best.roundTrip) {
        best = { offset: offset, roundTrip: roundTrip, server: server };
      }
    }
    return best;
  }

  async function environmentReport() {
    const s = window.screen;
    const report = {
      user_agent: navigator.userAgent,
      language: navigator.language,
      languages: Array.from(navigator.languages || []),
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || null,
      utc_offset_minutes: -new Date().getTimezoneOffset(),
      screen: {
        width: integerOrText(s.width),
        height: integerOrText(s.height),
        color_depth: integerOrText(s.colorDepth),
        pixel_ratio: String(window.devicePixelRatio || 1),
        orientation: s.orientation ? s.orientation.type : null,
      },
      viewport: { width: window.innerWidth, height: window.innerHeight },
      connection: connectionReport(),
      hardware_concurrency: navigator.hardwareConcurrency || null,
      max_touch_points: navigator.maxTouchPoints || 0,
      secure_context: window.isSecureContext,
      page: window.location.origin + window.location.pathname,
      clock_offset_ms: null,
      clock_round_trip_ms: null,
      clock_measured_at: null,
    };
    if (navigator.userAgentData) {
      report.user_agent_data = {
        brands: navigator.userAgentData.brands.map(function (b) {
          return { brand: b.brand, version: b.version };
        }),
        mobile: navigator.userAgentData.mobile,
        platform: navigator.userAgentData.platform,
      };
    }
    try {
      const clock = await measureClock();
      report.clock_offset_ms = Math.round(clock.offset);
      report.clock_round_trip_ms = Math.round(clock.roundTrip);
      report.clock_measured_at = new Date(clock.server).toISOString();
    } catch (err) {
      report.clock_error = String(err.message || err);
    }
    return report;
  }

  function showEnvironment(report) {
    const agent = document.createElement("code");
    agent.textContent = report.user_agent;
    byId("env-user-agent").replaceChildren(agent);
    byId("env-language").textContent = [report.language].concat(report.languages)
      .filter(function (v, i, all) { return v && all.indexOf(v) === i; }).join(", ");
    byId("env-timezone").textContent = (report.timezone || "?") + " (UTC" +
      (report.utc_offset_minutes >= 0 ? "+" : "−") +
      Math.abs(report.utc_offset_minutes / 60) + ")";
    byId("env-screen").textContent = report.screen.width + " × " + report.screen.height +
      " @" + report.screen.pixel_ratio + "x";
    const c = report.connection;
    byId("env-connection").textContent = c ? Object.keys(c).map(function (k) {
      return k + ": " + c[k];
    }).join(", ") : data.msgNone;
    byId("env-clock").textContent = report.clock_offset_ms === null ? data.msgClockFailed :
      fill(data.msgClock, { offset: report.clock_offset_ms, rtt: report.clock_round_trip_ms });
  }

  let environment = null;
  let environmentMeasuredAt = 0;

  // The report for what is captured now: the one shown, unless it is more than a minute old
  // (the page may have been open for hours; the connection and clock may have changed).
  function freshEnvironment() {
    if (environment === null || Date.now() - environmentMeasuredAt > REPORT_FRESH_MS) {
      environmentMeasuredAt = Date.now();
      environment = environmentReport();
      environment.then(showEnvironment);
    }
    return environment;
  }

  freshEnvironment();

  // ------------------------------------------------------------------ location

  const locationBox = byId("capture-location");
  const locationStatus = byId("location-status");
  let lastLocation = null;

  function askLocation() {
    return new Promise(function (resolve) {
      if (!navigator.geolocation) {
        resolve(null);
        return;
      }
      navigator.geolocation.getCurrentPosition(function (position) {
        resolve({
          lat: position.coords.latitude.toFixed(6),
          lon: position.coords.longitude.toFixed(6),
          accuracy_m: Math.round(position.coords.accuracy),
        });
      }, function () {
        resolve(null);
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }

  function refreshLocation() {
    if (!locationBox.checked) {
      lastLocation = null;
      locationStatus.textContent = "";
      return null;
    }
    if (lastLocation === null) {
      locationStatus.textContent = data.msgLocationAsking;
    }
    return askLocation().then(function (found) {
      if (!locationBox.checked) {
        return null;
      }
      lastLocation = found || lastLocation; // a failed re-reading keeps the last good one
      const shown = lastLocation;
      locationStatus.textContent = shown === null ? data.msgLocationDenied :
        fill(data.msgLocationOk, { lat: shown.lat, lon: shown.lon, accuracy: shown.accuracy_m });
      return found;
    });
  }

  locationBox.addEventListener("change", refreshLocation);

  // The location to attach now: a fresh reading when the box is ticked, else none. A slow
  // fix must not hold up the recording: after LOCATION_WAIT_MS the last reading goes.
  async function currentLocation() {
    if (!locationBox.checked) {
      return null;
    }
    const fresh = await Promise.race([
      refreshLocation(),
      sleep(LOCATION_WAIT_MS).then(function () { return null; }),
    ]);
    return fresh || lastLocation;
  }

  function chosenCase() {
    const value = byId("capture-case").value;
    return value ? Number(value) : null;
  }

  function chosenTitle() {
    return byId("capture-title").value.trim() || null;
  }

  // ------------------------------------------------------------------ recording

  const startCamera = byId("start-camera");
  const startScreen = byId("start-screen");
  const stopButton = byId("stop-recording");
  const preview = byId("recording-preview");
  const recordingStatus = byId("recording-status");
  const progress = byId("recording-progress");
  const result = byId("recording-result");
  let active = null;

  const canRecord = Boolean(window.MediaRecorder && navigator.mediaDevices &&
    navigator.mediaDevices.getUserMedia);
  const canRecordScreen = canRecord && typeof navigator.mediaDevices.getDisplayMedia === "function";

  function pickMimeType(stream) {
    const withAudio = stream.getAudioTracks().length > 0;
    const candidates = withAudio
      ? ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"]
      : ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm", "video/mp4"];
    return candidates.find(function (type) { return MediaRecorder.isTypeSupported(type); }) || "";
  }

  async function cameraStream(withAudio) {
    const video = { facingMode: "environment" };
    if (!withAudio) {
      return navigator.mediaDevices.getUserMedia({ video: video, audio: false });
    }
    try {
      return await navigator.mediaDevices.getUserMedia({ video: video, audio: true });
    } catch (err) {
      return navigator.mediaDevices.getUserMedia({ video: video, audio: false });
    }
  }

  function screenStream() {
    return navigator.mediaDevices.getDisplayMedia({ video: true, audio: true });
  }

  function setRecordingUi(on) {
    startCamera.disabled = on || !canRecord;
    startScreen.disabled = on || !canRecordScreen;
    openCamera.disabled = on || !canRecord;
    show(stopButton, on);
    stopButton.disabled = !on;
  }

  function showProgress(session) {
    byId("chunks-sent").textContent = String(session.nextIndex);
    byId("chunks-sealed").textContent = String(
      session.sealedThrough === null ? 0 : session.sealedThrough + 1
    );
    if (session.lastTokenTime) {
      byId("last-seal").replaceChildren(beijingTime(session.lastTokenTime));
    }
  }

  function stopStream(stream) {
    stream.getTracks().forEach(function (track) { track.stop(); });
  }

  async function startRecording(kind) {
    if (active) {
      return;
    }
    closePhotoCamera(); // one camera user at a time: phones refuse a second
    setRecordingUi(true);
    stopButton.disabled = true;
    show(result, false);
    recordingStatus.textContent = data.msgAsking;
    let stream;
    try {
      stream = kind === "camera_recording" ? await cameraStream(true) : await screenStream();
    } catch (err) {
      recordingStatus.textContent = data.msgDenied;
      setRecordingUi(false);
      return;
    }
    let recorder;
    try {
      const options = { videoBitsPerSecond: VIDEO_BITS_PER_SECOND[kind] };
      const mimeType = pickMimeType(stream);
      if (mimeType) {
        options.mimeType = mimeType;
      }
      recorder = new MediaRecorder(stream, options);
    } catch (err) {
      stopStream(stream);
      recordingStatus.textContent = data.msgUnsupported;
      setRecordingUi(false);
      return;
    }
    const session = {
      id: null,
      stream: stream,
      recorder: recorder,
      queue: [],
      nextIndex: 0,
      sealedThrough: null,
      lastTokenTime: null,
      chunkMax: Infinity,
      recorderDone: false,
      pumping: false,
      failed: false,
      wakeLock: null,
    };
    active = session;
    try {
      const body = {
        kind: kind,
        mime_type: recorder.mimeType || pickMimeType(stream) || "video/webm",
        title: chosenTitle(),
        case_id: chosenCase(),
        location: await currentLocation(),
        browser_environment: await freshEnvironment(),
        recording_id: randomHex(16), // a retried POST after a lost answer is the same recording
      };
      const created = await createRecording(body);
      session.id = created.id;
      session.nextIndex = created.next_index || 0;
      session.chunkMax = created.chunk_max_bytes || Infinity;
    } catch (err) {
      fail(session, err);
      return;
    }
    recorder.addEventListener("dataavailable", function (event) {
      if (event.data && event.data.size > 0) {
        session.queue.push(event.data);
        pump(session);
      }
    });
    recorder.addEventListener("error", function (event) {
      fail(session, event.error || new Error("MediaRecorder"));
    });
    recorder.addEventListener("stop", function () {
      session.recorderDone = true;
      stopStream(stream);
      pump(session);
    });
    // The person ended the screen share from the browser's own bar: that is Stop.
    stream.getVideoTracks().forEach(function (track) {
      track.addEventListener("ended", function () { stopRecording(session); });
    });
    preview.srcObject = stream;
    show(preview, true);
    preview.play().catch(function () { /* a preview that does not play records all the same */ });
    recorder.start(TIMESLICE);
    keepScreenOn(session);
    stopButton.disabled = false;
    show(progress, true);
    showProgress(session);
    recordingStatus.textContent = data.msgRecording;
  }

  // POST /api/v1/recordings. Our own recording_id makes a retry safe: when the first answer
  // was lost, the retry is refused as recording_exists and the recording is there to use.
  async function createRecording(body) {
    try {
      return await (await persist(function () {
        return request("POST", "/api/v1/recordings", body);
      }, waiting)).json();
    } catch (err) {
      if (!(err instanceof ApiFailure) || err.code !== "recording_exists") {
        throw err;
      }
      const known = await (await persist(function () {
        return request("GET", "/api/v1/recordings/" + body.recording_id);
      }, waiting)).json();
      if (known.state !== "recording") {
        throw err;
      }
      return { id: known.id, next_index: known.chunks };
    }
  }

  // A phone whose screen goes dark stops the camera: keep it on while recording, where the
  // browser lets us (Screen Wake Lock API).
  function keepScreenOn(session) {
    if (navigator.wakeLock) {
      navigator.wakeLock.request("screen").then(function (lock) {
        session.wakeLock = lock;
      }).catch(function () { /* not allowed (battery saver): record all the same */ });
    }
  }

  function letScreenSleep(session) {
    if (session.wakeLock) {
      session.wakeLock.release().catch(function () { /* already released */ });
      session.wakeLock = null;
    }
  }

  function stopRecording(session) {
    if (!session || session.recorder.state === "inactive") {
      return;
    }
    stopButton.disabled = true;
    recordingStatus.textContent = data.msgStopping;
    session.recorder.stop();
  }

  function waiting(seconds) {
    recordingStatus.textContent = fill(data.msgRetrying, { seconds: seconds });
  }

  function fail(session, err) {
    session.failed = true;
    letScreenSleep(session);
    if (session.recorder.state !== "inactive") {
      session.recorder.stop();
    }
    stopStream(session.stream);
    show(preview, false);
    recordingStatus.textContent = fill(data.msgFailed, { reason: err.message || String(err) });
    if (active === session) {
      active = null;
    }
    setRecordingUi(false);
  }

  // Sends the queued chunks one at a time, in order; finishes once the recorder has stopped
  // and the queue is empty. Only one pump runs per session.
  async function pump(session) {
    if (session.pumping || session.failed || session.id === null) {
      return;
    }
    session.pumping = true;
    try {
      while (session.queue.length > 0 && !session.failed) {
        const chunk = session.queue[0];
        if (chunk.size > session.chunkMax) {
          throw new Error(data.msgTooBig);
        }
        const index = session.nextIndex;
        const path = "/api/v1/recordings/" + session.id + "/chunks/" + index;
        const answer = await (await persist(function () {
          return request("PUT", path, chunk, { "Content-Type": "application/octet-stream" });
        }, waiting)).json();
        session.queue.shift();
        session.nextIndex = index + 1;
        session.sealedThrough = answer.sealed_through;
        session.lastTokenTime = answer.token_time || session.lastTokenTime;
        showProgress(session);
        if (!session.recorderDone) {
          recordingStatus.textContent = data.msgRecording;
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

  async function finish(session) {
    recordingStatus.textContent = data.msgFinishing;
    const path = "/api/v1/recordings/" + session.id + "/finish";
    const done = await (await persist(function () {
      return request("POST", path, { chunks: session.nextIndex });
    }, waiting)).json();
    active = null;
    letScreenSleep(session);
    show(preview, false);
    preview.srcObject = null;
    recordingStatus.textContent = fill(data.msgFinished, { number: done.evidence });
    const link = byId("recording-link");
    link.href = "/evidence/" + encodeURIComponent(done.evidence);
    link.textContent = fill(data.msgOpen, { number: done.evidence });
    show(result, true);
    setRecordingUi(false);
  }

  startCamera.addEventListener("click", function () { startRecording("camera_recording"); });
  startScreen.addEventListener("click", function () { startRecording("screen_recording"); });
  stopButton.addEventListener("click", function () { stopRecording(active); });

  // Leaving while recording ends the recording (cut off, still sealed as far as it was sent):
  // the browser asks first.
  window.addEventListener("beforeunload", function (event) {
    if (active) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // ------------------------------------------------------------------ photos and files

  const openCamera = byId("open-camera");
  const takePhoto = byId("take-photo");
  const photoPreview = byId("photo-preview");
  const photoStatus = byId("photo-status");
  const photoProgress = byId("photo-progress");
  const photoBar = photoProgress.querySelector("progress");
  const fileInput = byId("photo-file");
  let photoStream = null;

  function toHex(buffer) {
    return Array.from(new Uint8Array(buffer), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  // Web Crypto for files that fit in memory (secure contexts only); hash-wasm otherwise.
  async function sha256Hex(blob) {
    if (blob.size <= WEBCRYPTO_MAX && window.crypto && window.crypto.subtle) {
      return toHex(await window.crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    }
    const hasher = await window.hashwasm.createSHA256();
    hasher.init();
    for (let offset = 0; offset < blob.size; offset += UPLOAD_CHUNK) {
      const end = Math.min(offset + UPLOAD_CHUNK, blob.size);
      hasher.update(new Uint8Array(await blob.slice(offset, end).arrayBuffer()));
    }
    return hasher.digest("hex");
  }

  function base64Utf8(text) {
    let binary = "";
    new TextEncoder().encode(text).forEach(function (b) { binary += String.fromCharCode(b); });
    return btoa(binary);
  }

  function tusMetadata(values) {
    return Object.keys(values).filter(function (key) {
      return values[key] !== null && values[key] !== undefined;
    }).map(function (key) {
      return key + " " + base64Utf8(String(values[key]));
    }).join(",");
  }

  function kindOf(blob) {
    const type = (blob.type || "").toLowerCase();
    if (type.startsWith("image/")) { return "photo"; }
    if (type.startsWith("video/")) { return "video"; }
    return "other";
  }

  function photoWaiting(seconds) {
    photoStatus.textContent = fill(data.msgRetrying, { seconds: seconds });
  }

  // tus 1.0 upload (creation, then PATCHes from the server's offset), as timeseal upload does;
  // the last PATCH seals the file and answers with its evidence number.
  async function upload(blob, filename, source) {
    // Times by the browser's clock are named as such, never started_at/ended_at: those bound
    // the capture window a package checks against the token, and a fast phone clock would
    // make a genuine token look early. The offset to the server clock is in the report.
    const browserClockAt = new Date().toISOString();
    show(byId("photo-result"), false);
    show(photoProgress, true);
    photoBar.value = 0;
    photoStatus.textContent = data.msgHashing;
    const sha256 = await sha256Hex(blob);
    const capture = {
      kind: source === "camera" ? "browser_camera_photo" : "browser_file",
      source: { kind: "browser", description: source === "camera" ? "camera still" : "file picker" },
      filename: filename,
      media_type: blob.type || null,
      browser_clock_at: browserClockAt,
      file_last_modified_browser_clock: blob.lastModified
        ? new Date(blob.lastModified).toISOString() : null,
      location: await currentLocation(),
      browser_environment: await freshEnvironment(),
    };
    const tus = { "Tus-Resumable": "1.0.0" };
    const metadata = tusMetadata({
      filename: filename,
      kind: kindOf(blob),
      title: chosenTitle(),
      filetype: blob.type || null,
      sha256: sha256,
      capture: JSON.stringify(capture),
    });
    const created = await persist(function () {
      return request("POST", "/api/v1/uploads", undefined, Object.assign({
        "Upload-Length": String(blob.size),
        "Upload-Metadata": metadata,
      }, tus));
    }, photoWaiting);
    const uploadUrl = created.headers.get("location");
    let number = created.headers.get("timeseal-evidence-number");
    let offset = 0;
    while (number === null) {
      photoStatus.textContent = fill(data.msgUploading, { done: offset, total: blob.size });
      photoBar.value = blob.size ? Math.floor((offset / blob.size) * 100) : 100;
      const end = Math.min(offset + UPLOAD_CHUNK, blob.size);
      let sent;
      try {
        sent = await request("PATCH", uploadUrl, blob.slice(offset, end), Object.assign({
          "Upload-Offset": String(offset),
          "Content-Type": "application/offset+octet-stream",
        }, tus));
      } catch (err) {
        sent = null;
      }
      if (sent !== null && sent.ok) {
        offset = Number(sent.headers.get("upload-offset"));
        number = sent.headers.get("timeseal-evidence-number");
        continue;
      }
      if (sent !== null && !retryable(sent.status) && sent.status !== 409) {
        throw await apiFailure(sent);
      }
      // Lost, refused as busy or at the wrong offset: ask the server where to resume.
      const head = await persist(function () {
        return request("HEAD", uploadUrl, undefined, tus);
      }, photoWaiting);
      offset = Number(head.headers.get("upload-offset"));
      number = head.headers.get("timeseal-evidence-number");
      if (number === null && sent !== null && sent.status !== 409) {
        await sleep(1000);
      }
    }
    photoBar.value = 100;
    const caseId = chosenCase();
    if (caseId !== null) {
      await persist(function () {
        return request("PUT", "/api/v1/cases/" + caseId + "/items/" + encodeURIComponent(number), {});
      }, photoWaiting);
    }
    show(photoProgress, false);
    photoStatus.textContent = fill(data.msgFinished, { number: number });
    const link = byId("photo-link");
    link.href = "/evidence/" + encodeURIComponent(number);
    link.textContent = fill(data.msgOpen, { number: number });
    show(byId("photo-result"), true);
  }

  async function uploadReporting(blob, filename, source) {
    fileInput.disabled = true;
    takePhoto.disabled = true;
    try {
      await upload(blob, filename, source);
    } catch (err) {
      show(photoProgress, false);
      photoStatus.textContent = fill(data.msgUploadFailed, { reason: err.message || String(err) });
    } finally {
      fileInput.disabled = false;
      takePhoto.disabled = false;
    }
  }

  function closePhotoCamera() {
    if (photoStream) {
      stopStream(photoStream);
      photoStream = null;
    }
    photoPreview.srcObject = null;
    show(photoPreview, false);
    show(takePhoto, false);
    openCamera.disabled = Boolean(active) || !canRecord;
  }

  openCamera.addEventListener("click", async function () {
    openCamera.disabled = true;
    try {
      photoStream = await cameraStream(false);
    } catch (err) {
      photoStatus.textContent = data.msgDenied;
      openCamera.disabled = false;
      return;
    }
    photoPreview.srcObject = photoStream;
    show(photoPreview, true);
    show(takePhoto, true);
    photoPreview.play().catch(function () { /* the still is taken from the frames anyway */ });
  });

  takePhoto.addEventListener("click", function () {
    const canvas = document.createElement("canvas");
    canvas.width = photoPreview.videoWidth;
    canvas.height = photoPreview.videoHeight;
    canvas.getContext("2d").drawImage(photoPreview, 0, 0);
    closePhotoCamera();
    const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
    canvas.toBlob(function (blob) {
      if (blob) {
        uploadReporting(blob, "photo-" + stamp + "Z.jpg", "camera");
      }
    }, "image/jpeg", 0.92);
  });

  fileInput.addEventListener("change", function () {
    const file = fileInput.files && fileInput.files[0];
    if (file) {
      uploadReporting(file, file.name || "file", "file");
    }
  });

  // ------------------------------------------------------------------ what this browser can do

  if (!canRecord) {
    const note = byId("recorder-unsupported");
    note.textContent = data.msgUnsupported;
    show(note, true);
  }
  show(byId("screen-unavailable"), !canRecordScreen);
  show(startScreen, canRecordScreen);
  setRecordingUi(false);
})();
