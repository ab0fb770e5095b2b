// The photo card of the capture page: a still from the camera or a picked file, hashed in the
// browser (lib/hashing.js) and sent as a tus upload (api.js), then filed in the chosen case.

import { sha256Hex } from "../lib/hashing.js";
import { evidencePage, fileInCase, tusMetadata, tusUpload } from "./api.js";
import { cameraStream } from "./recorder.js";
import { byId, errorText, fill, show, stopStream } from "./page.js";

function kindOf(blob) {
  const type = (blob.type || "").toLowerCase();
  if (type.startsWith("image/")) {
    return "photo";
  }
  if (type.startsWith("video/")) {
    return "video";
  }
  return "other";
}

/**
 * The capture metadata of a photo or file. Times by the browser's clock are named as such,
 * never started_at/ended_at: those bound the capture window a package checks against the
 * token, and a fast phone clock would make a genuine token look early. The offset to the
 * server clock is in the environment report.
 */
async function captureMetadata(page, blob, filename, source, browserClockAt) {
  return {
    kind: source === "camera" ? "browser_camera_photo" : "browser_file",
    source: { kind: "browser", description: source === "camera" ? "camera still" : "file picker" },
    filename: filename,
    media_type: blob.type || null,
    browser_clock_at: browserClockAt,
    file_last_modified_browser_clock: blob.lastModified ? new Date(blob.lastModified).toISOString() : null,
    location: await page.currentLocation(),
    browser_environment: await page.freshEnvironment(),
  };
}

/**
 * page: { client, messages, uploadChunk, freshEnvironment, currentLocation,
 * details() -> { title, case_id }, canRecord, isRecording() }.
 */
export class PhotoCard {
  constructor(page) {
    this.page = page;
    this.messages = page.messages;
    this.openCamera = byId("open-camera");
    this.takePhoto = byId("take-photo");
    this.preview = byId("photo-preview");
    this.statusText = byId("photo-status");
    this.progress = byId("photo-progress");
    this.bar = this.progress.querySelector("progress");
    this.fileInput = byId("photo-file");
    this.stream = null;
    this.waiting = (seconds) => {
      this.statusText.textContent = fill(this.messages.msgRetrying, { seconds: seconds });
    };
    this.openCamera.addEventListener("click", () => this.open());
    this.takePhoto.addEventListener("click", () => this.take());
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files && this.fileInput.files[0];
      if (file) {
        this.uploadReporting(file, file.name || "file", "file");
      }
    });
  }

  setBusy(on) {
    this.openCamera.disabled = on || !this.page.canRecord;
  }

  showProgress(offset, total) {
    this.statusText.textContent = fill(this.messages.msgUploading, { done: offset, total: total });
    this.bar.value = total ? Math.floor((offset / total) * 100) : 100;
  }

  async upload(blob, filename, source) {
    const browserClockAt = new Date().toISOString();
    const details = this.page.details();
    show(byId("photo-result"), false);
    show(this.progress, true);
    this.bar.value = 0;
    this.statusText.textContent = this.messages.msgHashing;
    const sha256 = await sha256Hex(blob);
    const capture = await captureMetadata(this.page, blob, filename, source, browserClockAt);
    const metadata = tusMetadata({
      filename: filename,
      kind: kindOf(blob),
      title: details.title,
      filetype: blob.type || null,
      sha256: sha256,
      capture: JSON.stringify(capture),
    });
    const number = await tusUpload(this.page.client, blob, {
      metadata: metadata,
      chunkBytes: this.page.uploadChunk,
      onWait: this.waiting,
      onProgress: (offset, total) => this.showProgress(offset, total),
    });
    this.bar.value = 100;
    if (details.case_id !== null) {
      await fileInCase(this.page.client, details.case_id, number, this.waiting);
    }
    show(this.progress, false);
    this.statusText.textContent = fill(this.messages.msgFinished, { number: number });
    const link = byId("photo-link");
    link.href = evidencePage(number);
    link.textContent = fill(this.messages.msgOpen, { number: number });
    show(byId("photo-result"), true);
  }

  async uploadReporting(blob, filename, source) {
    this.fileInput.disabled = true;
    this.takePhoto.disabled = true;
    try {
      await this.upload(blob, filename, source);
    } catch (err) {
      show(this.progress, false);
      this.statusText.textContent = fill(this.messages.msgUploadFailed, { reason: errorText(err) });
    } finally {
      this.fileInput.disabled = false;
      this.takePhoto.disabled = false;
    }
  }

  closeCamera() {
    if (this.stream) {
      stopStream(this.stream);
      this.stream = null;
    }
    this.preview.srcObject = null;
    show(this.preview, false);
    show(this.takePhoto, false);
    this.setBusy(this.page.isRecording());
  }

  async open() {
    this.openCamera.disabled = true;
    try {
      this.stream = await cameraStream(false);
    } catch {
      this.statusText.textContent = this.messages.msgDenied;
      this.openCamera.disabled = false;
      return;
    }
    this.preview.srcObject = this.stream;
    show(this.preview, true);
    show(this.takePhoto, true);
    this.preview.play().catch(() => {
      /* the still is taken from the frames anyway */
    });
  }

  take() {
    const canvas = document.createElement("canvas");
    canvas.width = this.preview.videoWidth;
    canvas.height = this.preview.videoHeight;
    canvas.getContext("2d").drawImage(this.preview, 0, 0);
    this.closeCamera();
    const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
    canvas.toBlob(
      (blob) => {
        if (blob) {
          this.uploadReporting(blob, "photo-" + stamp + "Z.jpg", "camera");
        }
      },
      "image/jpeg",
      0.92,
    );
  }
}
