// Live events over one WebSocket per page: a status dot, a toast, and the overview's event log.
// Reconnects with back-off so a restarted server is picked up without a page reload.
const dot = document.getElementById("live-status");
const log = document.getElementById("event-log");
const toasts = document.getElementById("toasts");

function describe(msg) {
  const p = msg.payload || {};
  switch (msg.event) {
    case "der.enrolled": return `DER ${p.name} enrolled (${p.status})`;
    case "der.lifecycle": return `DER ${p.name} is now ${p.status}`;
    case "der.updated": return `DER ${p.name} edited`;
    case "der.setpoint": return `Set point recorded for ${p.name}`;
    case "der.imported": return `${p.count} DERs imported from CSV`;
    default: return null;  // telemetry and the like update data, not the operator's attention
  }
}

const timeZone = document.body.dataset.timeZone || "UTC";

function clock() {
  return new Date().toLocaleTimeString("en-GB", { hourCycle: "h23", timeZone });
}

function toast(text) {
  if (!toasts) return;
  const el = document.createElement("div");
  el.className = "toast";
  el.textContent = text;
  toasts.appendChild(el);
  setTimeout(() => el.remove(), 6000);
}

// A study page follows its own study: progress bar, then a reload to show the result.
function followStudy(p) {
  const live = document.getElementById("study-live");
  if (!live || String(p.id) !== live.dataset.study) return;
  const bar = document.getElementById("study-progress");
  if (bar) bar.value = p.progress;
  const status = document.getElementById("study-status");
  if (status) status.textContent = p.status;
  if (["done", "failed", "cancelled"].includes(p.status)) location.reload();
}

function connect(delayMs) {
  if (!dot) return;  // signed-out pages have no live channel
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/events/?topics=registry,studies`);
  const label = dot.querySelector(".live-text");
  ws.onopen = () => {
    dot.className = "live on"; dot.title = "Live updates connected"; delayMs = 1000;
    if (label) label.textContent = "LIVE";
  };
  ws.onclose = () => {
    dot.className = "live off"; dot.title = "Live updates disconnected — retrying";
    if (label) label.textContent = "OFFLINE — page may be out of date";
    setTimeout(() => connect(Math.min(delayMs * 2, 30000)), delayMs);
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.event === "study.progress") { followStudy(msg.payload); return; }
    const text = describe(msg);
    if (!text) return;
    toast(text);
    if (log) {
      const li = document.createElement("li");
      li.textContent = `${clock()} — ${text}`;
      log.prepend(li);
    }
  };
}

connect(1000);
