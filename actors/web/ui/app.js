// kloros-observer dashboard. Plain JS, no dependencies: the colony grid
// (grouped by niche, searchable, paged past PAGE tiles), the live stream
// over Server-Sent Events, recent intents, rules, sources, silences and the
// last hour's rates. State changes arrive on the stream and are painted on
// the next animation frame; a full refresh every few seconds catches what the
// stream does not carry (a checkpointed zooid's grace ending, say).
"use strict";

const PAGE = 3000;          // tiles drawn at once
const FEED_MAX = 200;       // live events kept on the page
const STATES = ["silent", "restored-grace", "silenced", "alive"];
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

const st = {
  zooids: new Map(),      // name -> zooid JSON
  filter: { q: "", state: "" },
  page: 0,
  events: [],
  intents: [],
  live: false,
  dirty: true,
  sources: [],
};

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ headers: { "Accept": "application/json" } }, opts));
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.error || r.statusText); e.field = body.field; throw e; }
  return body;
}

function ago(t) {
  if (!t) return "never";
  const s = (Date.now() - new Date(t).getTime()) / 1000;
  if (s < 0) return "in " + dur(-s);
  return dur(s) + " ago";
}
function dur(s) {
  if (s < 60) return Math.round(s) + "s";
  if (s < 3600) return Math.round(s / 60) + "m";
  if (s < 86400) return (s / 3600).toFixed(1).replace(/\.0$/, "") + "h";
  return (s / 86400).toFixed(1).replace(/\.0$/, "") + "d";
}
function hhmmss(t) { const d = new Date(t); return isNaN(d) ? "" : d.toTimeString().slice(0, 8); }
function pct(f) { return f == null ? "–" : (f * 100 >= 99.995 ? "100" : (f * 100).toFixed(2)) + "%"; }

// ---------- colony ----------
async function loadZooids() {
  try {
    const r = await api("/api/v1/zooids?limit=100000");
    const m = new Map();
    for (const z of r.zooids) m.set(z.name, z);
    st.zooids = m;
    st.dirty = true;
    schedule();
  } catch (e) { console.warn("zooids:", e.message); }
}

function counts() {
  const c = { alive: 0, silent: 0, "restored-grace": 0, silenced: 0 };
  for (const z of st.zooids.values()) c[z.state] = (c[z.state] || 0) + 1;
  return c;
}

function renderPills(c) {
  const set = (id, n, label) => { const el = $(id); el.textContent = n + " " + label; el.classList.toggle("zero", n === 0); };
  set("c-silent", c.silent, "silent");
  set("c-grace", c["restored-grace"], "grace");
  set("c-silenced", c.silenced, "silenced");
  set("c-alive", c.alive, "alive");
  const down = st.sources.filter((s) => !s.healthy);
  const src = $("c-sources");
  src.textContent = down.length ? down.length + " source" + (down.length > 1 ? "s" : "") + " down" : "sources ok";
  src.classList.toggle("bad", down.length > 0);
  const silent = [...st.zooids.values()].filter((z) => z.state === "silent").sort((a, b) => (a.silent_since || "").localeCompare(b.silent_since || ""));
  const b = $("banner");
  const parts = [];
  if (silent.length) {
    const names = silent.slice(0, 8).map((z) => `<a data-open="${esc(z.name)}">${esc(z.name)}</a>`).join(" ");
    parts.push(`${silent.length} zooid${silent.length > 1 ? "s" : ""} silent: ${names}${silent.length > 8 ? " …" : ""}`);
  }
  for (const s of down.slice(0, 4)) parts.push(`source ${esc(s.source)} ${esc(s.target)} down${s.detail ? ": " + esc(s.detail) : ""}`);
  b.innerHTML = parts.join("<br>");
  b.classList.toggle("hidden", parts.length === 0);
  document.title = (silent.length ? `(${silent.length} silent) ` : "") + "kloros-observer";
}

function visible() {
  const q = st.filter.q.toLowerCase();
  const out = [];
  for (const z of st.zooids.values()) {
    if (st.filter.state && z.state !== st.filter.state) continue;
    if (q && !z.name.toLowerCase().includes(q) && !(z.niche || "").toLowerCase().includes(q)) continue;
    out.push(z);
  }
  out.sort((a, b) => (a.niche || "").localeCompare(b.niche || "") || STATES.indexOf(a.state) - STATES.indexOf(b.state) || a.name.localeCompare(b.name));
  return out;
}

function renderColony() {
  const list = visible();
  const pages = Math.max(1, Math.ceil(list.length / PAGE));
  if (st.page >= pages) st.page = pages - 1;
  const pager = $("pager");
  if (pages > 1) {
    pager.classList.remove("hidden");
    pager.innerHTML = `<button id="pg-prev" ${st.page === 0 ? "disabled" : ""}>‹</button> page ${st.page + 1} of ${pages} · ${list.length} zooids <button id="pg-next" ${st.page >= pages - 1 ? "disabled" : ""}>›</button>`;
  } else pager.classList.add("hidden");
  const slice = list.slice(st.page * PAGE, (st.page + 1) * PAGE);
  const groups = new Map();
  for (const z of slice) { const n = z.niche || "(no niche)"; if (!groups.has(n)) groups.set(n, []); groups.get(n).push(z); }
  // Niches with problems first.
  const bad = (zs) => zs.filter((z) => z.state === "silent").length;
  const names = [...groups.keys()].sort((a, b) => bad(groups.get(b)) - bad(groups.get(a)) || a.localeCompare(b));
  const big = slice.length <= 120;
  let html = "";
  for (const n of names) {
    const zs = groups.get(n);
    const c = { alive: 0, silent: 0, "restored-grace": 0, silenced: 0 };
    for (const z of zs) c[z.state]++;
    html += `<div class="niche"><div class="niche-head"><span class="name">${esc(n)}</span><span class="cnt">${zs.length} · ${c.silent ? `<b class="s">${c.silent} silent</b> · ` : ""}${c.alive} alive${c.silenced ? " · " + c.silenced + " silenced" : ""}${c["restored-grace"] ? " · " + c["restored-grace"] + " grace" : ""}</span></div><div class="tiles${big ? " big" : ""}">`;
    for (const z of zs) {
      html += `<div class="tile s-${z.state}" data-zooid="${esc(z.name)}" data-state="${z.state}" title="${esc(z.name)} · ${z.state} · last seen ${esc(ago(z.last_seen))}">${big ? esc(z.name) : ""}</div>`;
    }
    html += "</div></div>";
  }
  if (!html) html = `<p class="muted">${st.zooids.size ? "no zooid matches" : "no zooid has sent a HEARTBEAT yet"}</p>`;
  $("niches").innerHTML = html;
}

let frame = 0;
function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (st.dirty) { st.dirty = false; renderPills(counts()); renderColony(); }
  });
}

// ---------- drawer ----------
async function openZooid(name) {
  let z;
  try { z = await api("/api/v1/zooids/" + encodeURIComponent(name)); } catch (e) { return showDrawer(`<p class="error">${esc(e.message)}</p>`); }
  const barsHTML = (b) => (b || []).map((f) => `<span class="${f == null ? "" : f >= 0.9999 ? "b100" : f >= 0.99 ? "b99" : f >= 0.9 ? "b90" : "b0"}" title="${pct(f)}"></span>`).join("");
  const av = z.availability || {};
  const eps = (z.episodes || []).slice(0, 50).map((e) => `<tr><td>${esc(new Date(e.since).toLocaleString())}</td><td>${e.open ? '<span class="bad">open</span>' : esc(dur(e.duration_seconds))}</td><td class="muted">${esc(e.incident_id)}</td></tr>`).join("");
  showDrawer(`
    <h3>${esc(z.name)} <span class="state-tag s-${esc(z.state)}">${esc(z.state)}</span></h3>
    <dl class="kv">
      <dt>niche</dt><dd>${esc(z.niche)}</dd>
      <dt>last seen</dt><dd>${esc(ago(z.last_seen))} <span class="muted">${esc(z.last_seen || "")}</span></dd>
      <dt>threshold</dt><dd>${esc(dur(z.threshold_seconds))}</dd>
      ${z.incident_id ? `<dt>open incident</dt><dd class="bad">${esc(z.incident_id)} since ${esc(ago(z.silent_since))}</dd>` : ""}
      ${z.silenced_by ? `<dt>silenced</dt><dd>until ${esc(new Date(z.silenced_by.until).toLocaleString())} — ${esc(z.silenced_by.comment)}</dd>` : ""}
    </dl>
    <div class="avail"><div>1 h<b>${pct(av["1h"])}</b></div><div>24 h<b>${pct(av["24h"])}</b></div><div>7 d<b>${pct(av["7d"])}</b></div></div>
    <h2>Last 24 hours</h2><div class="bars">${barsHTML(z.bars_24h)}</div><div class="bar-legend"><span>24 h ago</span><span>now</span></div>
    <h2 class="mt">Last 7 days</h2><div class="bars">${barsHTML(z.bars_7d)}</div><div class="bar-legend"><span>7 d ago</span><span>now</span></div>
    <div class="actions">
      <button data-silence-zooid="${esc(z.name)}" data-dur="1h">Silence 1 h</button>
      <button data-silence-zooid="${esc(z.name)}" data-dur="24h">Silence 24 h</button>
      <button class="danger" data-forget="${esc(z.name)}">Forget this zooid</button>
    </div>
    <div id="drawer-error" class="error hidden"></div>
    <h2>Episodes</h2>
    <table class="tbl"><tr><th>down since</th><th>for</th><th>incident</th></tr>${eps || '<tr><td colspan="3" class="muted">no outage recorded</td></tr>'}</table>`);
}

async function openIntent(file) {
  if (!file) return showDrawer(`<p class="muted">this intent was not written to a file</p>`);
  try {
    const r = await api("/api/v1/intents/pending/" + encodeURIComponent(file));
    showDrawer(`<h3>${esc(file)}</h3><p>${r.verified ? '<span class="badge ok">verifies</span>' : `<span class="badge bad">does not verify</span> ${esc(r.verify_error || "")}`}</p><pre class="json">${esc(JSON.stringify(r.intent ?? r.raw, null, 2))}</pre>`);
  } catch (e) {
    showDrawer(`<h3>${esc(file)}</h3><p class="muted">${esc(e.message)}</p>`);
  }
}

function showDrawer(html) { $("drawer-content").innerHTML = html; $("drawer").classList.remove("hidden"); }
function closeDrawer() { $("drawer").classList.add("hidden"); }

// ---------- feed ----------
function eventLine(e) {
  const d = e.data ? Object.entries(e.data).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ") : "";
  return `<span class="t">${hhmmss(e.at)}</span><span class="ty">${esc(e.type)}</span><span class="src">${esc(e.source)}</span><span class="d">${esc(d)}</span>`;
}
function renderEvents(flash) {
  const f = $("ev-filter").value.trim().toLowerCase();
  const dups = $("ev-dups").checked;
  const items = st.events.filter((e) => (dups || !e.duplicate) && (!f || e.type.toLowerCase().includes(f) || e.source.toLowerCase().includes(f)));
  $("events").innerHTML = items.slice(0, 100).map((e, i) =>
    `<li class="${e.kind === "gap" ? "gap" : ""}${e.duplicate ? " dup" : ""}${flash && i < flash ? " new" : ""}" data-type="${esc(e.type)}">${eventLine(e)}</li>`).join("") || `<li class="muted">no event yet</li>`;
}
function renderIntents() {
  $("intents").innerHTML = st.intents.slice(0, 60).map((i) => {
    const p = i.priority >= 8 ? "hi" : i.priority >= 5 ? "mid" : "lo";
    return `<li class="out-${esc(i.outcome)}" data-file="${esc(i.file || "")}" title="${esc(i.reason || i.why || "")}"><span class="t">${hhmmss(i.at)}</span><span class="prio ${p}">${i.priority}</span><span class="ty">${esc(i.type)}</span><span class="src">${esc(i.outcome)}</span><span class="d">${esc(i.reason || i.why || "")}</span></li>`;
  }).join("") || `<li class="muted">no intent yet</li>`;
}

let evNew = 0, evTimer = 0;
function pushEvent(e) {
  st.events.unshift(e);
  if (st.events.length > FEED_MAX) st.events.length = FEED_MAX;
  evNew++;
  if (!evTimer) evTimer = requestAnimationFrame(() => { evTimer = 0; renderEvents(evNew); evNew = 0; });
}

// ---------- live stream ----------
function connect() {
  const es = new EventSource("/api/v1/stream");
  es.onopen = () => { st.live = true; $("live-dot").className = "dot on"; $("live-text").textContent = "live"; };
  es.onerror = () => { st.live = false; $("live-dot").className = "dot off"; $("live-text").textContent = "reconnecting"; };
  es.addEventListener("event", (m) => { const e = JSON.parse(m.data); e.kind = "event"; pushEvent(e); });
  es.addEventListener("intent", (m) => { st.intents.unshift(JSON.parse(m.data)); if (st.intents.length > 200) st.intents.length = 200; renderIntents(); });
  es.addEventListener("gap", (m) => {
    const g = JSON.parse(m.data);
    const z = st.zooids.get(g.zooid) || { name: g.zooid, niche: g.niche, state: "alive" };
    if (g.change === "opened" || g.change === "repeated") {
      if (z.state !== "silenced") z.state = "silent";
      z.incident_id = g.incident_id; z.silent_since = g.at; z.last_seen = g.last_seen;
    } else if (g.change === "closed") {
      if (z.state !== "silenced") z.state = "alive";
      z.incident_id = ""; z.last_seen = g.at;
    }
    st.zooids.set(z.name, z); st.dirty = true; schedule();
    pushEvent({ kind: "gap", at: g.at, type: "gap_" + g.change, source: "heartbeat", data: { zooid: g.zooid, niche: g.niche, incident_id: g.incident_id, published: g.published } });
  });
  es.addEventListener("zooid", (m) => {
    const z = JSON.parse(m.data);
    if (z.change === "first_seen" && !st.zooids.has(z.zooid)) st.zooids.set(z.zooid, { name: z.zooid, niche: z.niche, state: "alive", last_seen: z.at });
    if (z.change === "forgotten") st.zooids.delete(z.zooid);
    st.dirty = true; schedule();
  });
  es.addEventListener("source", () => loadSources());
  es.addEventListener("rule", () => loadRules());
  es.addEventListener("actor", (m) => { const a = JSON.parse(m.data); pushEvent({ kind: "actor", at: a.at, type: "actor_" + a.change, source: a.actor, data: { reason: a.reason } }); });
}

// ---------- tables ----------
async function loadSources() {
  try {
    st.sources = (await api("/api/v1/sources")).sources;
    $("sources").innerHTML = `<tr><th>source</th><th>target</th><th>health</th></tr>` + (st.sources.map((s) =>
      `<tr><td>${esc(s.source)}</td><td>${esc(s.target)}</td><td class="${s.healthy ? "ok" : "bad"}">${s.healthy ? "ok" : "down"}${s.detail ? ` <span class="muted">${esc(s.detail)}</span>` : ""}${s.since ? ` <span class="muted">${esc(ago(s.since))}</span>` : ""}${s.extra ? `<br><span class="muted">${esc(Object.entries(s.extra).map(([k, v]) => `${k.replace(/_/g, " ")} ${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(1) : v}`).join(" · "))}</span>` : ""}</td></tr>`).join("") || `<tr><td colspan="3" class="muted">no source has reported</td></tr>`);
    st.dirty = true; schedule();
  } catch (e) { console.warn("sources:", e.message); }
}
async function loadRules() {
  try {
    const rules = (await api("/api/v1/rules")).rules;
    $("rules").innerHTML = `<tr><th>rule</th><th>on</th><th>fired</th><th>last</th></tr>` + (rules.map((r) => {
      const groups = (r.state && r.state.groups) || [];
      const state = groups.length ? `state: ${groups.length} group${groups.length > 1 ? "s" : ""}` : "";
      const out = r.intent_type ? `→ ${r.intent_type}${r.priority ? " p" + r.priority : ""}` : "";
      return `<tr class="${r.fired ? "" : "idle"}"><td>${esc(r.name)}${state || out ? `<br><span class="muted">${esc([out, state].filter(Boolean).join(" · "))}</span>` : ""}</td><td class="muted">${esc((r.on || []).join(", "))}</td><td>${r.fired || ""}</td><td class="muted">${r.last_fired ? esc(ago(r.last_fired)) : "–"}</td></tr>`;
    }).join("") || `<tr><td colspan="4" class="muted">no rule</td></tr>`);
  } catch (e) { console.warn("rules:", e.message); }
}
async function loadSilences() {
  try {
    const ss = (await api("/api/v1/silences")).silences;
    $("silences").innerHTML = `<tr><th>matches</th><th>until</th><th>comment</th><th></th></tr>` + (ss.map((s) => {
      const m = [s.zooid && "zooid " + s.zooid, s.niche && "niche " + s.niche, s.pattern && "pattern /" + s.pattern + "/"].filter(Boolean).join(", ");
      return `<tr class="${s.state === "expired" ? "muted" : ""}"><td>${esc(m)}</td><td>${s.state === "active" ? esc(ago(s.ends).replace("in ", "")) + " left" : "expired"}</td><td>${esc(s.comment)} <span class="muted">${esc(s.created_by || "")}</span></td><td>${s.state === "active" ? `<button class="link" data-expire="${esc(s.id)}">expire</button>` : ""}</td></tr>`;
    }).join("") || `<tr><td colspan="4" class="muted">no silence</td></tr>`);
  } catch (e) { console.warn("silences:", e.message); }
}
async function loadPending() {
  try { const p = await api("/api/v1/intents/pending?limit=1"); $("pending-count").textContent = p.total + " pending in the queue"; } catch (e) { console.warn("pending:", e.message); }
}
async function loadRecent() {
  try {
    st.events = (await api("/api/v1/events?limit=" + FEED_MAX)).events.map((e) => Object.assign(e, { kind: "event" }));
    st.intents = (await api("/api/v1/intents?limit=200")).intents;
    renderEvents(0); renderIntents();
  } catch (e) { console.warn("recent:", e.message); }
}
async function loadStatus() {
  try {
    const s = await api("/api/v1/status");
    $("version").textContent = s.version || "";
    const r = $("ready");
    r.textContent = s.ready ? "ready" : "not ready";
    r.className = "badge " + (s.ready ? "ok" : "bad");
    r.title = s.not_ready || "";
  } catch (e) { const r = $("ready"); r.textContent = "daemon unreachable"; r.className = "badge bad"; }
}

// ---------- charts ----------
function chart(id, vals, color) {
  const c = $(id), ctx = c.getContext("2d");
  const w = c.width = c.clientWidth * devicePixelRatio, h = c.height = 54 * devicePixelRatio;
  ctx.clearRect(0, 0, w, h);
  const mx = Math.max(1e-9, ...vals);
  ctx.beginPath();
  vals.forEach((v, i) => { const x = i / (vals.length - 1) * w, y = h - 3 - v / mx * (h - 8); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  ctx.strokeStyle = color; ctx.lineWidth = 1.5 * devicePixelRatio; ctx.stroke();
  ctx.lineTo(w, h); ctx.lineTo(0, h); ctx.closePath(); ctx.fillStyle = color + "33"; ctx.fill();
}
async function loadRates() {
  try {
    const r = await api("/api/v1/rates?step=30");
    const last = (a) => a.length ? a[a.length - 1] : 0;
    const fmt = (v) => v >= 100 ? Math.round(v) : v.toFixed(v >= 10 ? 1 : 2);
    chart("ch-ev", r.events_per_second, "#38bdf8"); $("v-ev").textContent = fmt(last(r.events_per_second));
    chart("ch-hb", r.heartbeats_per_second, "#22c55e"); $("v-hb").textContent = fmt(last(r.heartbeats_per_second));
    chart("ch-in", r.intents_per_hour, "#f59e0b"); $("v-in").textContent = fmt(last(r.intents_per_hour));
  } catch (e) { console.warn("rates:", e.message); }
}

// ---------- writes ----------
async function addSilence(spec) {
  return api("/api/v1/silences", { method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: JSON.stringify(spec) });
}

document.addEventListener("click", async (ev) => {
  const t = ev.target.closest("[data-zooid],[data-open],[data-file],[data-expire],[data-forget],[data-silence-zooid],#pg-prev,#pg-next,.pill,.chip");
  if (!t) { if (ev.target.id === "drawer") closeDrawer(); return; }
  if (t.dataset.zooid) return openZooid(t.dataset.zooid);
  if (t.dataset.open) return openZooid(t.dataset.open);
  if (t.dataset.file !== undefined && t.closest("#intents")) return openIntent(t.dataset.file);
  if (t.id === "pg-prev") { st.page--; st.dirty = true; return schedule(); }
  if (t.id === "pg-next") { st.page++; st.dirty = true; return schedule(); }
  if (t.classList.contains("chip") || t.classList.contains("pill")) {
    const s = t.classList.contains("chip") ? t.dataset.state : { "c-silent": "silent", "c-grace": "restored-grace", "c-silenced": "silenced", "c-alive": "alive" }[t.id];
    if (s === undefined) return;
    st.filter.state = st.filter.state === s ? "" : s;
    document.querySelectorAll(".chip").forEach((c) => c.classList.toggle("on", c.dataset.state === st.filter.state));
    st.page = 0; st.dirty = true; return schedule();
  }
  try {
    if (t.dataset.expire) { await api("/api/v1/silences/" + encodeURIComponent(t.dataset.expire), { method: "DELETE" }); }
    if (t.dataset.silenceZooid) { await addSilence({ zooid: t.dataset.silenceZooid, duration: t.dataset.dur, comment: "from the dashboard" }); closeDrawer(); }
    if (t.dataset.forget) {
      if (!confirm("Forget " + t.dataset.forget + "? It comes back as new if it beats again.")) return;
      await api("/api/v1/zooids/" + encodeURIComponent(t.dataset.forget) + "/forget", { method: "POST" }); closeDrawer();
    }
    await Promise.all([loadSilences(), loadZooids()]);
  } catch (e) {
    const el = $("drawer-error") || $("sf-error");
    el.textContent = e.message; el.classList.remove("hidden");
  }
});

$("silence-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const kind = $("sf-kind").value, spec = { duration: $("sf-dur").value.trim(), comment: $("sf-comment").value };
  spec[kind] = $("sf-value").value.trim();
  const err = $("sf-error");
  try {
    await addSilence(spec);
    err.classList.add("hidden"); $("sf-value").value = ""; $("sf-comment").value = "";
    await Promise.all([loadSilences(), loadZooids()]);
  } catch (e) { err.textContent = e.message; err.classList.remove("hidden"); }
});

let searchTimer = 0;
$("search").addEventListener("input", (ev) => { clearTimeout(searchTimer); searchTimer = setTimeout(() => { st.filter.q = ev.target.value.trim(); st.page = 0; st.dirty = true; schedule(); }, 120); });
$("ev-filter").addEventListener("input", () => renderEvents(0));
$("ev-dups").addEventListener("change", () => renderEvents(0));
$("drawer-close").addEventListener("click", closeDrawer);
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") closeDrawer();
  if (ev.key === "/" && document.activeElement.tagName !== "INPUT") { ev.preventDefault(); $("search").focus(); }
});

// ---------- start ----------
connect();
loadStatus(); loadZooids(); loadRecent(); loadSources(); loadRules(); loadSilences(); loadPending(); loadRates();
(function refresh() { setTimeout(() => loadZooids().finally(refresh), st.zooids.size > 5000 ? 10000 : 5000); })();
setInterval(() => { loadStatus(); loadPending(); loadSilences(); }, 5000);
setInterval(loadRates, 3000);
setInterval(() => { st.dirty = true; schedule(); }, 15000); // "last seen … ago" tooltips
