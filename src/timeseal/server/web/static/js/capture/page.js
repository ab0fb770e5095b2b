// Small helpers of the capture page's DOM and text.

export function byId(id) {
  return document.getElementById(id);
}

/** "{name}" placeholders of a message filled from values; unknown ones left as they are. */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, key) =>
    Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole,
  );
}

export function show(element, on) {
  element.hidden = !on;
}

export function randomHex(bytes) {
  const buffer = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buffer);
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

function clock(date) {
  return date.toISOString().slice(0, 23).replace("T", " ");
}

/** A time as the server-rendered pages show it (render.time_html): Beijing time in a <time>,
 * UTC beside it and on hover. `beijing` is the page's word for Beijing time. */
export function beijingTime(iso, beijing) {
  const at = new Date(Date.parse(iso));
  const utc = clock(at) + " UTC";
  const time = document.createElement("time");
  time.dateTime = at.toISOString();
  time.title = utc;
  const zone = document.createElement("span");
  zone.className = "tz";
  zone.textContent = beijing;
  time.append(clock(new Date(at.getTime() + 8 * 3600 * 1000)) + " ", zone);
  const beside = document.createElement("span");
  beside.className = "utc";
  beside.textContent = "(" + utc + ")";
  const whole = document.createDocumentFragment();
  whole.append(time, " ", beside);
  return whole;
}

export function stopStream(stream) {
  stream.getTracks().forEach((track) => track.stop());
}

export function errorText(err) {
  return err && err.message ? err.message : String(err);
}
