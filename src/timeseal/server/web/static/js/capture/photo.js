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
 * page: { client, messages, uploadChunk, freshEnvironment, currentLocation,
 * details() -> { title, case_id }, canRecord, isRecording() }. Returns { closeCamera() }.
 */
export function setUpPhoto(page) {
  const messages = page.messages;
  const openCamera = byId("open-camera");
  const takePhoto = byId("take-photo");
  const photoPreview = byId("photo-preview");
  const photoStatus = byId("photo-status");
  const photoProgress = byId("photo-progress");
  const photoBar = photoProgress.querySelector("progress");
  const fileInput = byId("photo-file");
  let photoStream = null;

  function photoWaiting(seconds) {
    photoStatus.textContent = fill(messages.msgRetrying, { seconds: seconds });
  }

  async function upload(blob, filename, source) {
    // Times by the browser's clock are named as such, never started_at/ended_at: those bound
    // the capture window a package checks against the token, and a fast phone clock would
    // make a genuine token look early. The offset to the server clock is in the report.
    const browserClockAt = new Date().toISOString();
    const details = page.details();
    show(byId("photo-result"), false);
    show(photoProgress, true);
    photoBar.value = 0;
    photoStatus.textContent = messages.msgHashing;
    const sha256 = await sha256Hex(blob);
    const capture = {
      kind: source === "camera" ? "browser_camera_photo" : "browser_file",
      source: { kind: "browser", description: source === "camera" ? "camera still" : "file picker" },
      filename: filename,
      media_type: blob.type || null,
      browser_clock_at: browserClockAt,
      file_last_modified_browser_clock: blob.lastModified ? new Date(blob.lastModified).toISOString() : null,
      location: await page.currentLocation(),
      browser_environment: await page.freshEnvironment(),
    };
    const metadata = tusMetadata({
      filename: filename,
      kind: kindOf(blob),
      title: details.title,
      filetype: blob.type || null,
      sha256: sha256,
      capture: JSON.stringify(capture),
    });
    const number = await tusUpload(page.client, blob, {
      metadata: metadata,
      chunkBytes: page.uploadChunk,
      onWait: photoWaiting,
      onProgress(offset, total) {
        photoStatus.textContent = fill(messages.msgUploading, { done: offset, total: total });
        photoBar.value = total ? Math.floor((offset / total) * 100) : 100;
      },
    });
    photoBar.value = 100;
    if (details.case_id !== null) {
      await fileInCase(page.client, details.case_id, number, photoWaiting);
    }
    show(photoProgress, false);
    photoStatus.textContent = fill(messages.msgFinished, { number: number });
    const link = byId("photo-link");
    link.href = evidencePage(number);
    link.textContent = fill(messages.msgOpen, { number: number });
    show(byId("photo-result"), true);
  }

  async function uploadReporting(blob, filename, source) {
    fileInput.disabled = true;
    takePhoto.disabled = true;
    try {
      await upload(blob, filename, source);
    } catch (err) {
      show(photoProgress, false);
      photoStatus.textContent = fill(messages.msgUploadFailed, { reason: errorText(err) });
    } finally {
      fileInput.disabled = false;
      takePhoto.disabled = false;
    }
  }

  function closeCamera() {
    if (photoStream) {
      stopStream(photoStream);
      photoStream = null;
    }
    photoPreview.srcObject = null;
    show(photoPreview, false);
    show(takePhoto, false);
    openCamera.disabled = page.isRecording() || !page.canRecord;
  }

  openCamera.addEventListener("click", async () => {
    openCamera.disabled = true;
    try {
      photoStream = await cameraStream(false);
    } catch {
      photoStatus.textContent = messages.msgDenied;
      openCamera.disabled = false;
      return;
    }
    photoPreview.srcObject = photoStream;
    show(photoPreview, true);
    show(takePhoto, true);
    photoPreview.play().catch(() => {
      /* the still is taken from the frames anyway */
    });
  });

  takePhoto.addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = photoPreview.videoWidth;
    canvas.height = photoPreview.videoHeight;
    canvas.getContext("2d").drawImage(photoPreview, 0, 0);
    closeCamera();
    const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
    canvas.toBlob(
      (blob) => {
        if (blob) {
          uploadReporting(blob, "photo-" + stamp + "Z.jpg", "camera");
        }
      },
      "image/jpeg",
      0.92,
    );
  });

  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    if (file) {
      uploadReporting(file, file.name || "file", "file");
    }
  });

  return { closeCamera: closeCamera, setBusy: (on) => (openCamera.disabled = on || !page.canRecord) };
}
