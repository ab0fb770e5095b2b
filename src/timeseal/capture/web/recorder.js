// TimeSeal interactive capture: the person's actions, reported to the capture through the
// binding window.__timesealRecord (Playwright expose_binding). Typing is reported by KIND of
// keystroke per field, never the characters. All numbers are integers.
(() => {
  if (window.__timesealRecorderInstalled || typeof window.__timesealRecord !== "function") {
    return;
  }
  window.__timesealRecorderInstalled = true;
  const send = (entry) => { try { window.__timesealRecord(entry); } catch (e) { /* closed */ } };

  const describe = (el) => {
    if (!el || el.nodeType !== 1) { return ""; }
    if (el.id) { return "#" + CSS.escape(el.id); }
    const parts = [];
    let node = el;
    while (node && node.nodeType === 1 && parts.length < 5) {
      let part = node.localName;
      if (node.id) { parts.unshift("#" + CSS.escape(node.id)); break; }
      const name = node.getAttribute("name");
      if (name) { part += '[name="' + name.replace(/"/g, '\\"') + '"]'; }
      const parent = node.parentElement;
      if (parent) {
        const same = Array.from(parent.children).filter((c) => c.localName === node.localName);
        if (same.length > 1) { part += ":nth-of-type(" + (same.indexOf(node) + 1) + ")"; }
      }
      parts.unshift(part);
      node = parent;
    }
    return parts.join(" > ");
  };
  const isSecret = (el) => el && (el.type === "password" || el.autocomplete === "one-time-code");

  document.addEventListener("click", (event) => {
    const el = event.target;
    const text = isSecret(el) ? "" : ((el.innerText || el.value || el.alt || "") + "").trim();
    send({ kind: "click", selector: describe(el), text: text.slice(0, 80),
           x: Math.round(event.clientX), y: Math.round(event.clientY) });
  }, true);

  // Keystrokes: counted per field, flushed when the field loses focus or after a pause.
  let typing = null;
  let timer = null;
  const flush = () => {
    if (timer) { clearTimeout(timer); timer = null; }
    if (!typing) { return; }
    send(typing);
    typing = null;
  };
  document.addEventListener("keydown", (event) => {
    const el = event.target;
    const field = describe(el);
    if (typing && typing.selector !== field) { flush(); }
    if (!typing) {
      typing = { kind: "type", selector: field, secret: !!isSecret(el), characters: 0,
                 digits: 0, letters: 0, spaces: 0, other: 0, special: {} };
    }
    const key = event.key;
    if (key.length === 1) {
      typing.characters += 1;
      if (/\p{Nd}/u.test(key)) { typing.digits += 1; }
      else if (/\p{L}/u.test(key)) { typing.letters += 1; }
      else if (/\s/.test(key)) { typing.spaces += 1; }
      else { typing.other += 1; }
    } else {
      typing.special[key] = (typing.special[key] || 0) + 1;
    }
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(flush, 1500);
  }, true);
  document.addEventListener("focusout", flush, true);
  window.addEventListener("pagehide", flush);

  let scrollTimer = null;
  window.addEventListener("scroll", () => {
    if (scrollTimer) { clearTimeout(scrollTimer); }
    scrollTimer = setTimeout(() => {
      const max = document.documentElement.scrollHeight - window.innerHeight;
      send({ kind: "scroll", y: Math.round(window.scrollY), max: Math.max(0, Math.round(max)) });
    }, 300);
  }, { passive: true });
})();
