// Shared by the agent desktop and the customer widget: translations, the JSON API
// and a WebSocket that resumes from the last event position it saw.
"use strict";

const LC = (() => {
  const strings = {};
  let lang = new URLSearchParams(location.search).get("lang")
    || localStorage.getItem("livechat-lang") || "en";

  function addStrings(table) {
    for (const [code, entries] of Object.entries(table)) {
      strings[code] = Object.assign(strings[code] || {}, entries);
    }
  }

  // t("key", {name: "Jana"}) → the text in the current language, parameters filled.
  function t(key, params) {
    const table = strings[lang] || strings.en || {};
    let text = key in table ? table[key] : (strings.en && strings.en[key]) || key;
    for (const [name, value] of Object.entries(params || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  function setLang(code) {
    lang = code;
    localStorage.setItem("livechat-lang", code);
    document.documentElement.lang = code;
    translate(document);
  }

  function getLang() { return lang; }

  // Static text: elements with data-i18n (text), data-i18n-placeholder, data-i18n-title.
  function translate(root) {
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  }

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || { code: "http_" + status, message: "HTTP " + status };
      super(error.message);
      this.status = status;
      this.code = error.code;
      this.details = error.details || {};
      this.state = error.state;
    }
  }

  async function api(method, path, body) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // A socket fed from the event log by position. Every frame carries its position; the
  // socket remembers the last one and reconnects with ?after=<it>, so nothing is missed
  // and nothing arrives twice. A "reset" frame (the server no longer holds that far back)
  // calls onReset, after which the page reloads its view.
  class EventSocket {
    constructor(path, position, onFrame, onReset, onStatus) {
      this.path = path;
      this.position = position;
      this.onFrame = onFrame;
      this.onReset = onReset;
      this.onStatus = onStatus || (() => {});
      this.frames = 0;
      this.delay = 250;
      this.closed = false;
      this.connect();
    }

    connect() {
      if (this.closed) return;
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}${this.path}?after=${this.position}`);
      this.ws = ws;
      ws.onopen = () => { this.delay = 250; this.onStatus(true); };
      ws.onmessage = (message) => {
        const frame = JSON.parse(message.data);
        if ("reply" in frame) { this.settle(frame); return; }
        if (frame.reset) {
          this.position = frame.position;
          this.onReset(frame.position);
          return;
        }
        if (frame.position <= this.position) return; // never twice
        this.position = frame.position;
        if (frame.type) {
          this.frames += 1;
          this.onFrame(frame);
        }
      };
      ws.onclose = () => {
        this.onStatus(false);
        if (this.closed) return;
        setTimeout(() => this.connect(), this.delay);
        this.delay = Math.min(this.delay * 2, 5000);
      };
    }

    // Run a command over the socket: resolves with its events, rejects with an ApiError.
    command(name, args) {
      this.refs = (this.refs || 0) + 1;
      const ref = this.refs;
      this.pending = this.pending || new Map();
      return new Promise((resolve, reject) => {
        this.pending.set(ref, { resolve, reject });
        this.ws.send(JSON.stringify(Object.assign({ command: name, ref }, args || {})));
      });
    }

    settle(frame) {
      const waiting = this.pending && this.pending.get(frame.reply);
      if (!waiting) return;
      this.pending.delete(frame.reply);
      if (frame.error) waiting.reject(new ApiError(409, frame));
      else waiting.resolve(frame.events);
    }

    // Drop the connection as a network failure would (the socket reconnects by itself).
    drop() { if (this.ws) this.ws.close(); }

    // Stay disconnected until resume() (to try a reconnect after missed events).
    pause() { this.closed = true; if (this.ws) this.ws.close(); }

    resume() { this.closed = false; this.connect(); }

    close() { this.closed = true; if (this.ws) this.ws.close(); }
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
  }

  function dateTime(seconds) {
    return new Date(seconds * 1000).toLocaleString(lang === "cs" ? "cs-CZ" : "en-GB");
  }

  function time(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString(lang === "cs" ? "cs-CZ" : "en-GB", {
      hour: "2-digit", minute: "2-digit",
    });
  }

  return {
    addStrings, t, setLang, getLang, translate, api, ApiError, EventSocket, escapeHtml, el,
    clock, dateTime, time,
  };
})();
