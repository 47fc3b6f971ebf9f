// The dashboard page: polls the JSON API every few seconds and draws it. Text from the journal
// (reasons, actors) is only ever set as textContent, never parsed as HTML.
"use strict";

const POLL_MS = 3000;
const TOKEN_KEY = "tradingbot.dashboard.token";
const SVG = "http://www.w3.org/2000/svg";
let stopped = "";        // why polling is stopped (a refused token), "" while it runs
let lastMark = null;     // the account mark the equity chart was drawn for
let timer = null;

function $(id) { return document.getElementById(id); }

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(path, options) {
  const init = Object.assign({ cache: "no-store", headers: {} }, options || {});
  if (token()) init.headers.Authorization = "Bearer " + token();
  const response = await fetch(path, init);
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch (e) { body = { detail: text }; }
  return { status: response.status, body: body, retryAfter: response.headers.get("Retry-After") };
}

function refusal(answer) {
  if (answer.status === 401) return "Reading needs a token: " + answer.body.detail;
  if (answer.status === 429) {
    return "Too many wrong tokens from this address; wait " + answer.retryAfter + " s.";
  }
  return "";
}

function when(text) {
  return text ? String(text).replace("T", " ").replace(/(\.\d+)?\+00:00$/, "") : "-";
}

function pct(value) { return value === null || value === undefined ? "-" : (value * 100).toFixed(2) + "%"; }

// Money as the CLI writes it: two decimals, thousands separators (the exact amount is in data-v).
function money(value, signed) {
  if (value === null || value === undefined) { return "-"; }
  const text = Number(value).toLocaleString("en-US", { minimumFractionDigits: 2,
                                                       maximumFractionDigits: 2 });
  return signed && Number(value) >= 0 ? "+" + text : text;
}

function show(id, text, value) {
  const node = $(id);
  node.textContent = text === null || text === undefined ? "-" : String(text);
  node.dataset.v = value === undefined ? node.textContent : JSON.stringify(value);
}

function fill(tableId, rows, cells, empty) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  if (!rows.length) {
    const tr = body.insertRow();
    tr.className = "empty";
    const td = tr.insertCell();
    td.colSpan = $(tableId).tHead.rows[0].cells.length;
    td.textContent = empty;
    return;
  }
  for (const row of rows) {
    const tr = body.insertRow();
    for (const cell of cells(row)) {
      const td = tr.insertCell();
      const [text, title] = Array.isArray(cell) ? cell : [cell, ""];
      td.textContent = text === null || text === undefined ? "-" : String(text);
      if (title) { td.title = title; td.className = "wide"; }
    }
  }
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function drawStatus(s) {
  show("mode", s.mode);
  $("journal").textContent = s.journal;
  $("run").textContent = s.run
    ? "Run #" + s.run.id + " (" + s.run.mode + ") since " + when(s.run.started_at) +
      ", strategy " + s.run.strategy_id + "; trading " + (s.trading.join(", ") || "no symbol")
    : "No run recorded yet.";
  const a = s.account || {};
  show("account-equity", money(a.equity), a.equity);
  show("account-peak", money(a.peak), a.peak);
  show("account-drawdown", pct(a.drawdown), a.drawdown);
  show("account-daily-pnl", money(a.daily_pnl, true), a.daily_pnl);
  show("account-cash", money(a.cash), a.cash);
  show("account-bar-time", when(a.bar_time || a.at), a.bar_time || a.at);
  $("in-force-section").hidden = !s.halts_in_force.length;
  $("in-force").replaceChildren(...s.halts_in_force.map(function (h) {
    const li = document.createElement("li");
    li.textContent = h.kind + " since " + when(h.since) + ": " + h.reason;
    return li;
  }));
  $("stalled").hidden = !s.stalled;
  $("stalled").textContent = s.stalled ? "STALLED: no bar finished for over two bar lengths; " +
    "is the bot running? (systemctl status tradingbot)" : "";
  fill("last-bars", s.last_bars, function (b) {
    return [b.symbol, when(b.bar_time), when(b.processed_at),
      b.age_s === null ? "-" : Math.round(b.age_s) + " s"];
  }, "No bar processed yet.");
  fill("positions", s.positions, function (p) {
    return [p.symbol, p.amount, p.entry_price, p.stop === null ? "none" : p.stop, when(p.opened_at)];
  }, "No open position.");
  fill("decisions", s.decisions, function (d) {
    return [when(d.bar_time), d.symbol, d.signal > 0 ? "+" + d.signal : d.signal, d.action,
      d.conviction === null ? "-" : d.conviction.toFixed(2), d.score_source || "-",
      d.approved === null ? "-" : (d.approved ? "yes" : "no"), [d.reason, d.reasoning || d.reason]];
  }, "No decision yet.");
  fill("halts", s.recent_halts, function (h) {
    return [when(h.at), h.kind, h.actor, [h.reason, h.reason], h.equity];
  }, "No halt or resume yet.");
}

function drawCommands(c) {
  $("commands-pending").textContent = c.pending ? "(" + c.pending + " waiting for the bot)" : "";
  fill("commands", c.commands, function (x) {
    return [x.id, when(x.posted_at), x.kind, x.symbol || "", x.actor, [x.reason, x.reason],
      x.acked_at ? when(x.acked_at) : "queued", x.result];
  }, "No operator command yet.");
}

function drawLlm(l) {
  fill("llm-days", l.days, function (d) {
    return [d.day, d.calls, d.tokens_in, d.tokens_out, d.cost_usd];
  }, "No LLM call recorded (the fixed scorer costs nothing).");
  fill("llm-calls", l.calls, function (x) {
    return [when(x.at), x.symbol, x.provider + " " + x.model, x.source,
      x.latency_s.toFixed(2) + " s", x.tokens_in + " / " + x.tokens_out, x.cost_usd,
      x.fallback_reason];
  }, "No LLM call recorded.");
}

function node(kind, attributes, text) {
  const n = document.createElementNS(SVG, kind);
  for (const [k, v] of Object.entries(attributes)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// One chart: a line (and a low-high band) over the sampled points, labelled at its ends.
function chart(svg, series, options) {
  const width = 1000, height = svg.viewBox.baseVal.height, left = 70, pad = 16;
  const values = series.line.concat(series.low || [], series.high || []);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (options.floorZero) hi = Math.max(hi, 0);
  if (hi === lo) { hi += 1; lo -= 1; }
  const n = series.line.length;
  const x = function (i) { return left + (n < 2 ? 0 : i * (width - left - pad) / (n - 1)); };
  const y = function (v) { return pad + (hi - v) * (height - 2 * pad) / (hi - lo); };
  const line = series.line.map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); });
  const parts = [
    node("line", { x1: left, x2: width - pad, y1: y(hi), y2: y(hi), class: "grid" }),
    node("line", { x1: left, x2: width - pad, y1: y(lo), y2: y(lo), class: "grid" }),
    node("text", { x: 2, y: y(hi) + 4 }, options.label(hi)),
    node("text", { x: 2, y: y(lo) + 4 }, options.label(lo)),
  ];
  if (series.low) {
    const top = series.high.map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); });
    const bottom = series.low.map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); });
    parts.push(node("polygon", { points: top.concat(bottom.reverse()).join(" "), class: "band" }));
  }
  if (options.area) {
    line.unshift(x(0).toFixed(1) + "," + y(0).toFixed(1));
    line.push(x(n - 1).toFixed(1) + "," + y(0).toFixed(1));
    parts.push(node("polygon", { points: line.join(" "), class: options.cls }));
  } else {
    parts.push(node("polyline", { points: line.join(" "), class: options.cls }));
  }
  if (series.t.length) {
    parts.push(node("text", { x: left, y: height - 2 }, when(series.t[0])));
    parts.push(node("text", { x: width - pad, y: height - 2, "text-anchor": "end" },
      when(series.t[series.t.length - 1])));
  }
  svg.replaceChildren(...parts);
  svg.dataset.points = String(n);
}

function drawEquity(e) {
  $("equity-marks").textContent = "(" + e.marks + " marks, drawn as " + e.t.length + " points)";
  if (!e.t.length) {
    $("equity-chart").replaceChildren(node("text", { x: 20, y: 40 }, "No equity mark yet."));
    $("drawdown-chart").replaceChildren();
    return;
  }
  chart($("equity-chart"), { t: e.t, line: e.equity.map(Number), low: e.low, high: e.high },
    { cls: "equity", label: function (v) { return v.toFixed(0); } });
  chart($("drawdown-chart"), { t: e.t, line: e.drawdown.map(function (d) { return -(d || 0); }) },
    { cls: "drawdown", area: true, floorZero: true, label: function (v) { return pct(-v); } });
}

async function refresh() {
  clearTimeout(timer);
  if (stopped) return;
  try {
    const [status, commands, llm] = await Promise.all(
      [api("/api/status?last=20"), api("/api/commands?limit=20"), api("/api/llm?limit=20")]);
    const refused = refusal(status) || refusal(commands);
    if (refused) { stopped = refused; notice(refused + " Enter one below."); return; }
    if (status.status !== 200) {
      notice("The journal cannot be read yet: " + status.body.detail);
    } else {
      notice("");
      drawStatus(status.body);
      drawCommands(commands.body);
      drawLlm(llm.body);
      const mark = status.body.account ? status.body.account.id : null;
      if (mark !== lastMark) {
        const equity = await api("/api/equity");
        if (equity.status === 200) { drawEquity(equity.body); lastMark = mark; }
      }
      $("updated").textContent = new Date().toLocaleTimeString();
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    }
  } catch (e) {
    notice("The dashboard does not answer (" + e + "); retrying.");
  }
  timer = setTimeout(refresh, POLL_MS);
}

async function send(kind) {
  const result = $("command-result");
  const reason = $("reason").value.trim();
  const symbol = $("symbol").value.trim();
  result.className = "error";
  if (!token()) { result.textContent = "Enter an operator token first."; return; }
  if (!reason) { result.textContent = kind + " needs a reason: it is recorded in the journal."; return; }
  const what = kind + (kind === "flatten" ? " " + (symbol || "every position") : "");
  if (!window.confirm("Send " + what + " to the bot?\nReason: " + reason)) return;
  const body = { kind: kind, reason: reason };
  if (kind === "flatten" && symbol) body.symbol = symbol;
  const answer = await api("/api/commands", {
    method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  if (answer.status === 201) {
    result.className = "ok";
    result.textContent = "Queued " + answer.body.kind + " #" + answer.body.command_id + " as " +
      answer.body.actor + ". " + answer.body.effect;
    $("reason").value = "";
  } else {
    const detail = answer.body.detail;
    result.textContent = "Refused (" + answer.status + "): " +
      (typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  refresh();
}

function tokenState() {
  $("token-state").textContent = token() ? "a token is in use in this tab" : "no token";
}

document.addEventListener("DOMContentLoaded", function () {
  $("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const value = $("token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    tokenState();
    stopped = "";
    refresh();
  });
  $("token-forget").addEventListener("click", function () {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenState();
    stopped = "";
    refresh();
  });
  for (const button of document.querySelectorAll("button.command")) {
    button.addEventListener("click", function () { send(button.dataset.kind); });
  }
  tokenState();
  refresh();
});
