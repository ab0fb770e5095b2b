// The verify page: hash a chosen or dropped file in the browser and put its SHA-256 into the
// form. The file itself is never sent: its <input type="file"> has no name, so no form
// submission carries it, and nothing here uploads it.
//
// Small files (up to the form's data-webcrypto-max) are hashed with Web Crypto in one go;
// larger ones, or all when Web Crypto is missing (plain http), in chunks with hash-wasm's
// incremental SHA-256 (vendor/hash-wasm), with a progress bar.
(function () {
  "use strict";

  function toHex(buffer) {
    return Array.from(new Uint8Array(buffer), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  async function sha256OfFile(file, options, onProgress) {
    if (file.size <= options.webcryptoMax && window.crypto && window.crypto.subtle) {
      onProgress(0, file.size);
      const digest = await window.crypto.subtle.digest("SHA-256", await file.arrayBuffer());
      onProgress(file.size, file.size);
      return toHex(digest);
    }
    const hasher = await window.hashwasm.createSHA256();
    hasher.init();
    for (let offset = 0; offset < file.size; offset += options.chunk) {
      const end = Math.min(offset + options.chunk, file.size);
      hasher.update(new Uint8Array(await file.slice(offset, end).arrayBuffer()));
      onProgress(end, file.size);
    }
    return hasher.digest("hex");
  }

  function setUp(input) {
    const form = input.form;
    const target = document.getElementById(input.dataset.hashInto);
    const progressBox = form.querySelector(".progress");
    const bar = progressBox.querySelector("progress");
    const text = progressBox.querySelector(".progress-text");
    const buttons = form.querySelectorAll("button[type=submit]");
    const options = {
      webcryptoMax: Number(form.dataset.webcryptoMax),
      chunk: Number(form.dataset.chunk),
    };

    function busy(on) {
      form.setAttribute("aria-busy", on ? "true" : "false");
      buttons.forEach(function (b) { b.disabled = on; });
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
        target.value = await sha256OfFile(file, options, function (done, total) {
          bar.value = total ? Math.floor((done / total) * 100) : 100;
          text.textContent = form.dataset.msgHashing + " " + bar.value + "%";
        });
        bar.value = 100;
        text.textContent = form.dataset.msgDone;
        form.dataset.hashed = target.value;
      } catch (err) {
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

    const zone = input.closest("[data-drop]");
    if (zone) {
      zone.addEventListener("dragover", function (event) {
        event.preventDefault();
        zone.classList.add("over");
      });
      zone.addEventListener("dragleave", function () {
        zone.classList.remove("over");
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        zone.classList.remove("over");
        if (event.dataTransfer && event.dataTransfer.files.length) {
          input.files = event.dataTransfer.files;
          hashChosen();
        }
      });
    }
  }

  // A file dropped beside a drop zone must not make the browser open it instead.
  window.addEventListener("dragover", function (event) { event.preventDefault(); });
  window.addEventListener("drop", function (event) { event.preventDefault(); });

  document.querySelectorAll("input[type=file][data-hash-into]").forEach(setUp);
})();
