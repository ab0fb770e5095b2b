// The verify page: hash a chosen or dropped file in the browser and put its SHA-256 into the
// form. The file itself is never sent: its <input type="file"> has no name, so no form
// submission carries it, and nothing here uploads it. How it is hashed (Web Crypto or
// hash-wasm, and the limit between them): lib/hashing.js, shared with the capture page.

import { sha256Hex } from "./lib/hashing.js";

function setUp(input) {
  const form = input.form;
  const target = document.getElementById(input.dataset.hashInto);
  const progressBox = form.querySelector(".progress");
  const bar = progressBox.querySelector("progress");
  const text = progressBox.querySelector(".progress-text");
  const buttons = form.querySelectorAll("button[type=submit]");

  function busy(on) {
    form.setAttribute("aria-busy", on ? "true" : "false");
    buttons.forEach((b) => {
      b.disabled = on;
    });
  }

  async function hashChosen() {
    const file = input.files && input.files[0];
    if (!file) {
      return;
    }
    busy(true);
    progressBox.hidden = false;
    bar.value = 0;
    text.textContent = form.dataset.msgHashing;
    try {
      target.value = await sha256Hex(file, {
        onProgress(done, total) {
          bar.value = total ? Math.floor((done / total) * 100) : 100;
          text.textContent = form.dataset.msgHashing + " " + bar.value + "%";
        },
      });
      bar.value = 100;
      text.textContent = form.dataset.msgDone;
      form.dataset.hashed = target.value;
    } catch {
      text.textContent = form.dataset.msgError;
      busy(false);
      return;
    }
    busy(false);
    if (input.hasAttribute("data-autosubmit")) {
      form.requestSubmit();
    }
  }

  input.addEventListener("change", hashChosen);
  acceptDrops(input, hashChosen);
}

/** A file dropped on the input's drop zone is hashed as if chosen. */
function acceptDrops(input, hashChosen) {
  const zone = input.closest("[data-drop]");
  if (!zone) {
    return;
  }
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => {
    zone.classList.remove("over");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      hashChosen();
    }
  });
}

// A file dropped beside a drop zone must not make the browser open it instead.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

document.querySelectorAll("input[type=file][data-hash-into]").forEach(setUp);
