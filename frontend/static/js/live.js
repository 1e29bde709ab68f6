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
    case "alarm.raised": return `Alarm (${p.priority}): ${p.label || p.source} — ${p.message}`;
    case "alarm.cleared": return `Alarm cleared: ${p.label || p.source} — ${p.message}`;
    case "cycle.ended": return p.status === "failed" ? `Cycle ${p.id} failed` : null;  // normal is quiet
    case "alarm.updated": return `Alarm now: ${p.label || p.source} — ${p.message}`;
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

function announce(text) {
  toast(text);
  if (log) {
    const li = document.createElement("li");
    li.textContent = `${clock()} — ${text}`;
    log.prepend(li);
  }
}

// A dispatch issues a set point to every DER at once: one line for the burst, not a toast per DER.
let setpointBurst = [];
function batchSetpoints(text, name) {
  setpointBurst.push({ text, name });
  if (setpointBurst.length > 1) return;
  setTimeout(() => {
    const n = setpointBurst.length;
    announce(n === 1 ? setpointBurst[0].text : `${n} set point updates, the last for ${setpointBurst[n - 1].name}`);
    setpointBurst = [];
  }, 1500);
}

// The alarm list says when it is out of date (reloading under the operator's cursor would be worse).
// The alarm list follows the alarms: redrawn on every alarm event and when a shelf ends by the
// clock — unless the operator is typing a comment or has a shelf form open, who then gets a note.
let alarmRedraw = null;
function followAlarms() {
  const list = document.querySelector("[data-live-alarms]");
  if (!list) return;
  const busy = list.contains(document.activeElement) && document.activeElement !== document.body
    || list.querySelector("details.shelf[open]");
  if (busy) { document.getElementById("alarms-changed").hidden = false; return; }
  clearTimeout(alarmRedraw);
  alarmRedraw = setTimeout(async () => {
    const url = new URL(location.href);
    url.searchParams.set("fragment", "1");
    const response = await fetch(url, { headers: { "X-Requested-With": "fetch" } });
    if (response.ok) list.innerHTML = await response.text();
    const table = list.querySelector("[data-count-text]");
    const count = document.getElementById("active-count");
    if (table && count) {
      count.textContent = table.dataset.countText;
      count.className = `badge ${Number(table.dataset.active) ? "warn" : "ok"}`;
    }
    scheduleAlarms();
  }, 300);
}
let alarmTimer = null;
function scheduleAlarms() {
  clearTimeout(alarmTimer);
  const table = document.querySelector("[data-live-alarms] [data-next-change]");
  const at = table ? Number(table.dataset.nextChange) : 0;
  if (at) alarmTimer = setTimeout(followAlarms, Math.max(at - Date.now(), 0) + 1000);
}
scheduleAlarms();

// A short sound when a critical alarm is raised; the operator can mute it (kept in this browser).
const soundButton = document.getElementById("alarm-sound");
function soundOn() { return localStorage.getItem("crest-alarm-sound") !== "off"; }
function showSound() {
  if (!soundButton) return;
  soundButton.setAttribute("aria-pressed", String(soundOn()));
  soundButton.textContent = `Critical alarm sound: ${soundOn() ? "on" : "muted"}`;
}
if (soundButton) {
  soundButton.addEventListener("click", () => {
    localStorage.setItem("crest-alarm-sound", soundOn() ? "off" : "on");
    showSound();
  });
  showSound();
}
function chime() {
  window.alarmChimes = (window.alarmChimes || 0) + 1;  // what a test (and a screen reader log) can see
  try {
    const audio = new AudioContext();
    [0, 0.25, 0.5].forEach((t) => {
      const tone = audio.createOscillator();
      tone.frequency.value = 880;
      tone.connect(audio.destination);
      tone.start(audio.currentTime + t);
      tone.stop(audio.currentTime + t + 0.15);
    });
  } catch (e) { /* no audio device: the visual alarm stands */ }
}

// The nav's alarm badge: active count, red while any active alarm is unacknowledged.
function followAlarmCounts(counts) {
  const badge = document.getElementById("nav-alarms");
  if (!badge || !counts) return;
  const listed = counts.listed ?? counts.active;
  badge.textContent = `(${listed})`;
  badge.className = `badge ${counts.unacked ? "bad" : listed ? "warn" : "ok"}`;
  badge.title = `${listed} on the list, ${counts.unacked} unacknowledged; ${counts.active} active in all, shelved and suppressed included`;
  badge.dataset.active = counts.active;
  badge.dataset.unacked = counts.unacked;
}

// A dispatch run page reloads when its run finishes; a feeder's run list updates the run's status.
// An OPF run's page reloads (once per burst) when a DSO answers it or a send of it starts; the runs
// list says when it is out of date.
let emsReload = null;
function followEmsRun(event, p) {
  const live = document.getElementById("ems-run-live");
  if (live && String(p.run) === live.dataset.emsRun && ["ems.dso_answer", "ems.send_requested"].includes(event)) {
    clearTimeout(emsReload);
    emsReload = setTimeout(() => location.reload(), 500);
  }
  const note = document.getElementById("ems-runs-changed");
  if (note && ["ems.opf", "ems.dso_answer"].includes(event)) note.hidden = false;
}

function followDispatch(p) {
  const live = document.getElementById("run-live");
  if (live && String(p.id) === live.dataset.run && p.status !== live.dataset.status
      && ["done", "failed"].includes(p.status)) location.reload();
  const table = document.querySelector("[data-live-feeder]");
  if (!table || table.dataset.liveFeeder !== p.feeder) return;
  const cell = document.querySelector(`#run-${p.id} [data-run-status]`);
  if (cell) {
    cell.className = `status status-${p.status}`;
    cell.textContent = p.status.charAt(0).toUpperCase() + p.status.slice(1);
  } else {
    toast(`Dispatch ${p.id} of ${p.feeder} ${p.status} — reload for the list`);
  }
}

// A group's page follows its controls: redrawn once a burst of answers is over (a group of a
// thousand devices answers a control within one poll), issues and cancellations included.
let groupRedraw = null;
function followGroup(p) {
  const controls = document.querySelector("[data-live-group]");
  if (!controls || controls.dataset.liveGroup !== p.group) return;
  clearTimeout(groupRedraw);
  groupRedraw = setTimeout(async () => {
    const url = new URL(location.href);
    url.search = "?fragment=1";
    const response = await fetch(url, { headers: { "X-Requested-With": "fetch" } });
    if (response.ok) controls.innerHTML = await response.text();
  }, 1000);
}

// The cycle timeline and a cycle's page redraw (once per burst of events) when a cycle or stage changes.
let cycleRedraw = null;
function followCycle(event, p) {
  const timeline = document.querySelector("[data-live-cycles]");
  const page = document.getElementById("cycle-live");
  if (!timeline && !(page && String(p.cycle ?? p.id) === page.dataset.cycle)) return;
  clearTimeout(cycleRedraw);
  cycleRedraw = setTimeout(async () => {
    if (!timeline) { location.reload(); return; }
    const url = new URL(location.href);
    url.searchParams.set("fragment", "1");
    const response = await fetch(url, { headers: { "X-Requested-With": "fetch" } });
    if (response.ok) timeline.innerHTML = await response.text();
  }, 300);
}

// The trainer's scenario list follows its scenarios: redrawn on every scenario event, and when the
// next one starts or ends by the clock (no event marks that moment).
let scenarioTimer = null;
async function followScenarios() {
  const list = document.querySelector("[data-live-scenarios]");
  if (!list) return;
  clearTimeout(scenarioTimer);
  const url = new URL(location.href);
  url.search = "?fragment=1";
  const response = await fetch(url, { headers: { "X-Requested-With": "fetch" } });
  if (response.ok) list.innerHTML = await response.text();
  scheduleScenarios();
}
function scheduleScenarios() {
  const table = document.querySelector("[data-live-scenarios] [data-next-change]");
  const at = table ? Number(table.dataset.nextChange) : 0;
  if (at) scenarioTimer = setTimeout(followScenarios, Math.max(at - Date.now(), 0) + 1000);
}
scheduleScenarios();

// The overview follows the cycle, the EMS and the alarms: redrawn (once per burst of events) without
// a reload, and its countdown to the next cycle ticks every second.
let overviewRedraw = null;
function followOverview() {
  const view = document.querySelector("[data-live-overview]");
  if (!view) return;
  clearTimeout(overviewRedraw);
  overviewRedraw = setTimeout(async () => {
    const response = await fetch("/?fragment=1", { headers: { "X-Requested-With": "fetch" } });
    if (response.ok) view.innerHTML = await response.text();
  }, 300);
}
setInterval(() => {
  const countdown = document.getElementById("countdown");
  if (!countdown) return;
  const left = Math.max(0, Math.round((Number(countdown.dataset.countdownTo) - Date.now()) / 1000));
  countdown.textContent = `${left} s`;
  if (left === 0 && !countdown.dataset.asked) { countdown.dataset.asked = "1"; followOverview(); }
}, 1000);

// A form marked data-busy shows it is working and is not sent twice (a second dispatch, say).
document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.busy) return;
  if (form.dataset.sent) { ev.preventDefault(); return; }
  form.dataset.sent = "1";
  form.setAttribute("aria-busy", "true");
  const button = form.querySelector("button[type=submit]");
  if (!button) return;
  button.dataset.label = button.textContent;
  setTimeout(() => { button.disabled = true; button.textContent = form.dataset.busy; }, 0);
});
window.addEventListener("pageshow", (ev) => {  // back to a page the browser kept: usable again
  if (!ev.persisted) return;
  for (const form of document.querySelectorAll("form[data-sent]")) {
    delete form.dataset.sent;
    form.removeAttribute("aria-busy");
    const button = form.querySelector("button[type=submit]");
    if (button && button.dataset.label) { button.disabled = false; button.textContent = button.dataset.label; }
  }
});

function connect(delayMs) {
  if (!dot) return;  // signed-out pages have no live channel
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/events/?topics=registry,studies,alarms,cycle`);
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
    const p = msg.payload || {};
    if (msg.event === "study.progress") { followStudy(p); return; }
    if (msg.event === "dispatch.run") { followDispatch(p); return; }
    if (msg.event === "cycle.scenario") followScenarios();
    if (msg.event && msg.event.startsWith("group.")) followGroup(p);
    if (msg.event && (msg.event.startsWith("cycle.") || msg.event.startsWith("stage."))) followCycle(msg.event, p);
    if (msg.event && msg.event.startsWith("ems.")) followEmsRun(msg.event, p);
    if (msg.topic === "alarms" || /^(cycle|stage|ems)\./.test(msg.event || "")) followOverview();
    if (msg.topic === "alarms") {
      followAlarms(); followAlarmCounts(p.counts);
      if (msg.event === "alarm.raised" && p.priority === "critical" && soundOn()) chime();
    }
    const text = describe(msg);
    if (!text) return;
    if (msg.event === "der.setpoint") { batchSetpoints(text, p.name); return; }
    announce(text);
  };
}

connect(1000);
