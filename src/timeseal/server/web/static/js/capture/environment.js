// The browser environment report that goes into the capture metadata of what the page
// records or uploads, the location when the person asks for it, and the page's display of
// both. Numbers in the report are integers or strings: capture metadata is canonical JSON,
// which has no floats.

import { fetchWithTimeout, sleep } from "../lib/http.js";
import { byId, fill } from "./page.js";

const CLOCK_TIMEOUT_MS = 5000;
const LOCATION_WAIT_MS = 3000;
/** A report older than this is measured again before the next recording or upload. */
const REPORT_FRESH_MS = 60 * 1000;

function integerOrText(value) {
  return Number.isInteger(value) ? value : String(value);
}

function connectionReport() {
  const c = navigator.connection;
  if (!c) {
    return null;
  }
  const report = {};
  if (c.type) {
    report.type = String(c.type);
  }
  if (c.effectiveType) {
    report.effective_type = String(c.effectiveType);
  }
  if (typeof c.downlink === "number") {
    report.downlink_mbps = String(c.downlink);
  }
  if (typeof c.rtt === "number") {
    report.rtt_ms = Math.round(c.rtt);
  }
  if (typeof c.saveData === "boolean") {
    report.save_data = c.saveData;
  }
  return report;
}

/** The browser's clock minus the server's, taking the server's reading as made at the
 * mid-point of the request; the best (shortest round trip) of three. */
async function measureClock() {
  let best = null;
  for (let i = 0; i < 3; i += 1) {
    const sentAt = Date.now();
    const started = performance.now();
    const response = await fetchWithTimeout("/api/v1/time", { cache: "no-store" }, CLOCK_TIMEOUT_MS);
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
      brands: navigator.userAgentData.brands.map((b) => ({ brand: b.brand, version: b.version })),
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

function showEnvironment(report, messages) {
  const agent = document.createElement("code");
  agent.textContent = report.user_agent;
  byId("env-user-agent").replaceChildren(agent);
  byId("env-language").textContent = [report.language]
    .concat(report.languages)
    .filter((v, i, all) => v && all.indexOf(v) === i)
    .join(", ");
  byId("env-timezone").textContent =
    (report.timezone || "?") +
    " (UTC" +
    (report.utc_offset_minutes >= 0 ? "+" : "−") +
    Math.abs(report.utc_offset_minutes / 60) +
    ")";
  byId("env-screen").textContent =
    report.screen.width + " × " + report.screen.height + " @" + report.screen.pixel_ratio + "x";
  const c = report.connection;
  byId("env-connection").textContent = c
    ? Object.keys(c)
        .map((k) => k + ": " + c[k])
        .join(", ")
    : messages.msgNone;
  byId("env-clock").textContent =
    report.clock_offset_ms === null
      ? messages.msgClockFailed
      : fill(messages.msgClock, { offset: report.clock_offset_ms, rtt: report.clock_round_trip_ms });
}

/** The report shown on the page, measured again when it is more than a minute old (the page
 * may have been open for hours; the connection and clock may have changed). */
export function environmentKeeper(messages) {
  let environment = null;
  let measuredAt = 0;
  return function freshEnvironment() {
    if (environment === null || Date.now() - measuredAt > REPORT_FRESH_MS) {
      measuredAt = Date.now();
      environment = environmentReport();
      environment.then((report) => showEnvironment(report, messages));
    }
    return environment;
  };
}

function askLocation() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) {
      resolve(null);
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (position) =>
        resolve({
          lat: position.coords.latitude.toFixed(6),
          lon: position.coords.longitude.toFixed(6),
          accuracy_m: Math.round(position.coords.accuracy),
        }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  });
}

/** The "Attach my location" box: returns currentLocation(), the location to attach now (a
 * fresh reading when the box is ticked, else none). A slow fix must not hold up a recording:
 * after LOCATION_WAIT_MS the last reading goes. */
export function locationKeeper(box, status, messages) {
  let lastLocation = null;

  function refreshLocation() {
    if (!box.checked) {
      lastLocation = null;
      status.textContent = "";
      return null;
    }
    if (lastLocation === null) {
      status.textContent = messages.msgLocationAsking;
    }
    return askLocation().then((found) => {
      if (!box.checked) {
        return null;
      }
      lastLocation = found || lastLocation; // a failed re-reading keeps the last good one
      const shown = lastLocation;
      status.textContent =
        shown === null
          ? messages.msgLocationDenied
          : fill(messages.msgLocationOk, { lat: shown.lat, lon: shown.lon, accuracy: shown.accuracy_m });
      return found;
    });
  }

  box.addEventListener("change", refreshLocation);

  return async function currentLocation() {
    if (!box.checked) {
      return null;
    }
    const fresh = await Promise.race([refreshLocation(), sleep(LOCATION_WAIT_MS).then(() => null)]);
    return fresh || lastLocation;
  };
}
