// The capture page (/capture, see capture_pages.py): record camera video or the screen and
// stream it to the server while it happens (capture/recorder.js; what a tab closed offline
// left behind: capture/leftovers.js), take photos and upload picked files (capture/photo.js),
// with the browser environment report and location (capture/environment.js). Everything goes
// through the JSON API (capture/api.js) with the session cookie and the X-CSRF-Token header.
// ES modules, no build step: the server links the imports to their content-hashed URLs
// (assets.py).

import { apiClient } from "./lib/http.js";
import { environmentKeeper, locationKeeper } from "./capture/environment.js";
import { byId } from "./capture/page.js";
import { PhotoCard } from "./capture/photo.js";
import { sendLeftovers } from "./capture/leftovers.js";
import { RecorderCard, recordingSupport } from "./capture/recorder.js";

function start(root) {
  const messages = root.dataset;
  const client = apiClient({ csrf: messages.csrf, lang: document.documentElement.lang || "zh-CN" });
  const freshEnvironment = environmentKeeper(messages);
  freshEnvironment();
  const currentLocation = locationKeeper(byId("capture-location"), byId("location-status"), messages);
  const details = () => {
    const chosen = byId("capture-case").value;
    return { title: byId("capture-title").value.trim() || null, case_id: chosen ? Number(chosen) : null };
  };
  const shared = { client, messages, freshEnvironment, currentLocation, details };
  const canRecord = recordingSupport().canRecord;
  let recorder = null;
  const photo = new PhotoCard(
    Object.assign({}, shared, {
      uploadChunk: Number(messages.uploadChunk),
      canRecord: canRecord,
      isRecording: () => recorder !== null && recorder.isActive(),
    }),
  );
  recorder = new RecorderCard(
    Object.assign({}, shared, {
      timeslice: Number(messages.timeslice),
      beforeStart: () => photo.closeCamera(),
      onBusy: (on) => photo.setBusy(on),
    }),
  );
  sendLeftovers(client).catch(() => {
    /* kept for the next page */
  });
}

const root = document.getElementById("capture");
if (root) {
  start(root);
}
