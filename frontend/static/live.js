/* The live auction room.
 *
 * Invariants:
 * - amounts are integers in fen and are handled as BigInt: parsed from text and formatted with
 *   integer division and modulo only; a Number is used for an amount only to draw the chart;
 * - the room follows /ws/auctions/{id}?batch=true&after_seq=N (frames are arrays of messages)
 *   from the last seq it has applied; an event
 *   whose seq is not the next one is ignored if old and triggers a reconnect if it leaves a gap,
 *   so the history never has holes or duplicates; reconnection never reloads the page;
 * - the countdown runs on the server's clock: offset = server_time - local clock, refreshed by
 *   every message; the close itself is the server's (the room only shows it);
 * - every refusal shows the message for its code (the API's detail when the code is unknown).
 */
(function () {
  "use strict";

  var room = document.getElementById("room");
  if (!room) { return; }

  var auctionId = room.getAttribute("data-auction-id");
  var currency = room.getAttribute("data-currency") || "CNY";
  var messages = JSON.parse(room.getAttribute("data-messages") || "{}");
  var snapshot = JSON.parse(room.getAttribute("data-snapshot") || "{}");
  var initialBids = JSON.parse(room.getAttribute("data-bids") || "[]");

  var SYMBOLS = { CNY: "¥", USD: "US$", EUR: "€", HKD: "HK$", JPY: "JP¥", GBP: "£" };
  var LARGE_JUMP_STEPS = 5n;

  var state = {
    status: snapshot.status,
    kind: snapshot.kind,
    startingPrice: BigInt(snapshot.starting_price),
    increment: BigInt(snapshot.increment),
    currentPrice: snapshot.current_price === null ? null : BigInt(snapshot.current_price),
    leaderCode: snapshot.leader_code,
    bidsCount: snapshot.bids_count,
    startsAt: Date.parse(snapshot.starts_at),
    endsAt: Date.parse(snapshot.ends_at),
    extensions: snapshot.extensions,
    seq: snapshot.seq,
    offset: Date.parse(snapshot.server_time) - Date.now(),
    bids: initialBids.map(function (b) { return { seq: b.seq, amount: BigInt(b.amount), code: b.bidder_code, at: Date.parse(b.at) }; }),
    myCode: room.getAttribute("data-my-code") || "",
    outcome: null
  };

  function t(key, params) {
    var text = messages[key] || key;
    if (params) {
      Object.keys(params).forEach(function (name) { text = text.split("{" + name + "}").join(String(params[name])); });
    }
    return text;
  }

  function errorText(code, detail) {
    return messages["error." + code] || detail || code;
  }

  /* ---- money: BigInt fen ---- */
  function groupThousands(digits) {
    var out = "";
    while (digits.length > 3) {
      out = "," + digits.slice(-3) + out;
      digits = digits.slice(0, -3);
    }
    return digits + out;
  }

  function formatMoney(fen) {
    if (fen === null || fen === undefined) { return "—"; }
    var value = BigInt(fen);
    var sign = value < 0n ? "-" : "";
    if (value < 0n) { value = -value; }
    var symbol = SYMBOLS[currency] || currency + " ";
    if (currency === "JPY") { return sign + symbol + groupThousands(value.toString()); }
    var units = value / 100n;
    var cents = value % 100n;
    return sign + symbol + groupThousands(units.toString()) + "." + (cents < 10n ? "0" : "") + cents.toString();
  }

  function plainYuan(fen) {
    var units = fen / 100n;
    var cents = fen % 100n;
    return units.toString() + "." + (cents < 10n ? "0" : "") + cents.toString();
  }

  function parseYuan(text) {
    var cleaned = String(text).normalize("NFKC").replace(/[\s,，¥￥]/g, "").replace(/元$/, "").replace(/^CNY|^RMB/, "");
    var match = /^([0-9]{1,16})(?:\.([0-9]{1,2}))?$/.exec(cleaned);
    if (!match) { return null; }
    var cents = (match[2] || "").padEnd(2, "0");
    return BigInt(match[1]) * 100n + BigInt(cents);
  }

  /* ---- time on the server's clock ---- */
  function serverNow() { return Date.now() + state.offset; }

  function noteServerTime(text) {
    if (!text) { return; }
    var at = Date.parse(text);
    if (!isNaN(at)) {
      state.offset = at - Date.now();
      setText("server-time", formatTime(at));
    }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function formatTime(ms) {
    var d = new Date(ms + 8 * 3600 * 1000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  }

  function formatRemaining(ms) {
    if (ms < 0) { ms = 0; }
    var total = Math.floor(ms / 1000);
    var days = Math.floor(total / 86400);
    var rest = total % 86400;
    var clock = pad(Math.floor(rest / 3600)) + ":" + pad(Math.floor((rest % 3600) / 60)) + ":" + pad(rest % 60);
    return days > 0 ? days + "d " + clock : clock;
  }

  /* ---- DOM helpers ---- */
  function byId(id) { return document.getElementById(id); }
  function setText(id, text) { var el = byId(id); if (el) { el.textContent = text; } }
  function show(id, visible) { var el = byId(id); if (el) { el.hidden = !visible; } }

  /* ---- rendering ---- */
  function renderStatus() {
    var holder = byId("room-status");
    if (holder) {
      holder.textContent = "";
      var badge = document.createElement("span");
      badge.className = "badge badge-round-" + state.status;
      badge.textContent = t("astatus." + state.status);
      holder.appendChild(badge);
    }
  }

  function renderPrice() {
    var price = state.currentPrice === null ? state.startingPrice : state.currentPrice;
    setText("current-price", formatMoney(price));
    setText("leader-code", state.leaderCode || t("room.no_bids"));
    show("you-lead", Boolean(state.myCode) && state.leaderCode === state.myCode);
    setText("bids-count", t("room.bids_count", { n: state.bidsCount }));
    setText("extensions", t("room.extensions", { n: state.extensions }));
    var endsAt = byId("ends-at");
    if (endsAt) {
      endsAt.setAttribute("datetime", new Date(state.endsAt).toISOString());
      endsAt.textContent = formatTime(state.endsAt);
    }
    renderQuickBids();
  }

  function nextValidAmounts() {
    if (state.currentPrice === null) {
      return [state.startingPrice, state.startingPrice + state.increment, state.startingPrice + 4n * state.increment];
    }
    return [1n, 2n, 5n].map(function (k) { return state.currentPrice + k * state.increment; });
  }

  function renderQuickBids() {
    var amounts = nextValidAmounts();
    var buttons = document.querySelectorAll("#quick-bids button[data-step]");
    buttons.forEach(function (button, index) {
      var amount = amounts[index];
      button.setAttribute("data-amount", amount.toString());
      /* before the first bid the choices are valid first bids, not steps above a current price */
      var label = state.currentPrice === null ? formatMoney(amount) : t("room.plus_n", { n: button.getAttribute("data-step") }) + " · " + formatMoney(amount);
      button.textContent = label;
      button.disabled = state.status !== "open" && state.status !== "scheduled";
    });
    var input = byId("bid-amount");
    if (input && !input.value) { input.placeholder = plainYuan(amounts[0]); }
    var submit = byId("bid-submit");
    if (submit) { submit.disabled = state.status !== "open"; }
  }

  function renderHistoryRow(bid) {
    var body = byId("bid-history");
    if (!body || body.querySelector('tr[data-seq="' + bid.seq + '"]')) { return; }
    var row = document.createElement("tr");
    row.setAttribute("data-seq", String(bid.seq));
    row.className = "fresh";
    [String(bid.seq), bid.code, formatMoney(bid.amount), formatTime(bid.at)].forEach(function (text) {
      var cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    });
    body.insertBefore(row, body.firstChild);
  }

  function renderClock() {
    var now = serverNow();
    var caption;
    var remaining;
    if (state.status === "scheduled" && now < state.startsAt) {
      caption = t("room.starts_in");
      remaining = state.startsAt - now;
    } else if (state.status === "scheduled" || state.status === "open") {
      caption = t("room.ends_in");
      remaining = state.endsAt - now;
    } else {
      caption = t("room.ended");
      remaining = 0;
    }
    setText("clock-caption", caption);
    var clock = byId("countdown");
    if (clock) {
      clock.textContent = formatRemaining(remaining);
      clock.classList.toggle("urgent", (state.status === "open") && remaining < 5 * 60 * 1000);
    }
  }

  /* ---- the chart: inline SVG ---- */
  var SVG_NS = "http://www.w3.org/2000/svg";

  function svgEl(name, attrs) {
    var el = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (key) { el.setAttribute(key, String(attrs[key])); });
    return el;
  }

  function renderChart() {
    var svg = byId("price-chart");
    if (!svg) { return; }
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    show("chart-empty", state.bids.length === 0);
    if (state.bids.length === 0) { return; }
    var width = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 600);
    var height = 240, left = 8, right = 8, top = 18, bottom = 20;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    var low = state.startingPrice;
    var high = state.bids[state.bids.length - 1].amount;
    state.bids.forEach(function (b) { if (b.amount > high) { high = b.amount; } });
    var span = high - low;
    if (span <= 0n) { span = state.increment > 0n ? state.increment : 1n; }
    var first = state.bids[0].at;
    var last = Math.max(state.bids[state.bids.length - 1].at, first + 1);
    function x(at) { return left + (width - left - right) * (at - first) / (last - first); }
    function y(amount) { return height - bottom - (height - top - bottom) * Number(amount - low) / Number(span); }
    svg.appendChild(svgEl("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, "class": "axis" }));
    var points = state.bids.map(function (b, i) {
      var px = state.bids.length === 1 ? width / 2 : x(b.at);
      if (state.bids.length > 1 && i === 0) { px = left; }
      return px.toFixed(1) + "," + y(b.amount).toFixed(1);
    });
    svg.appendChild(svgEl("polyline", { points: points.join(" "), "class": "line", fill: "none" }));
    state.bids.forEach(function (b, i) {
      var coords = points[i].split(",");
      var dot = svgEl("circle", { cx: coords[0], cy: coords[1], r: 3.5, "class": b.code === state.myCode ? "dot mine" : "dot" });
      var title = svgEl("title", {});
      title.textContent = "#" + b.seq + " " + b.code + " " + formatMoney(b.amount);
      dot.appendChild(title);
      svg.appendChild(dot);
    });
    var label = svgEl("text", { x: width - right, y: top - 4, "text-anchor": "end", "class": "chart-label" });
    label.textContent = formatMoney(high);
    svg.appendChild(label);
    var base = svgEl("text", { x: left, y: height - 4, "class": "chart-label" });
    base.textContent = formatMoney(low);
    svg.appendChild(base);
    svg.setAttribute("aria-label", t("room.chart") + ": " + state.bids.length + " · " + formatMoney(high));
  }

  /* ---- events ---- */
  function showOutcome(text) {
    var box = byId("outcome");
    if (box) { box.textContent = text; box.hidden = false; }
  }

  function applySnapshot(message) {
    state.status = message.status;
    state.currentPrice = message.current_price === null ? null : BigInt(message.current_price);
    state.leaderCode = message.leader_code;
    state.bidsCount = message.bids_count;
    state.endsAt = Date.parse(message.ends_at);
    state.startsAt = Date.parse(message.starts_at);
    state.extensions = message.extensions;
    if (message.status === "sold" && message.hammer_price !== null && message.hammer_price !== undefined) {
      showOutcome(t("room.outcome_sold", { price: formatMoney(message.hammer_price), code: message.leader_code || "" }));
    } else if (message.status === "failed") {
      showOutcome(t("room.outcome_failed"));
    } else if (message.status === "defaulted") {
      showOutcome(t("room.outcome_defaulted"));
    }
  }

  function applyEvent(event) {
    if (event.type === "opened") {
      state.status = "open";
    } else if (event.type === "bid") {
      var amount = BigInt(event.amount);
      state.currentPrice = amount;
      state.leaderCode = event.bidder_code;
      state.bidsCount += 1;
      if (event.ends_at) { state.endsAt = Date.parse(event.ends_at); }
      if (typeof event.extensions === "number") { state.extensions = event.extensions; }
      var bid = { seq: event.seq, amount: amount, code: event.bidder_code, at: Date.parse(event.at || event.server_time) };
      if (event.bidder_code !== state.myCode) { clearAccepted(); }
      state.bids.push(bid);
      renderHistoryRow(bid);
      renderChart();
    } else if (event.type === "extended") {
      state.endsAt = Date.parse(event.ends_at);
      state.extensions = event.extensions;
      show("extended-note", true);
      var clock = byId("countdown");
      if (clock) { clock.classList.add("flash"); setTimeout(function () { clock.classList.remove("flash"); }, 1500); }
    } else if (event.type === "closed") {
      state.status = event.outcome === "sold" ? "sold" : "failed";
      if (event.outcome === "sold") {
        showOutcome(t("room.outcome_sold", { price: formatMoney(event.price), code: event.bidder_code || "" }));
      } else {
        showOutcome(t("room.outcome_failed"));
      }
    } else if (event.type === "defaulted") {
      state.status = "defaulted";
      showOutcome(t("room.outcome_defaulted"));
    }
    renderStatus();
    renderPrice();
  }

  /* ---- the feed, with resumption ---- */
  var socket = null;
  var retry = 0;
  var reconnectTimer = null;

  function setConnection(kind) {
    var el = byId("connection");
    if (!el) { return; }
    el.setAttribute("data-state", kind);
    el.textContent = kind === "open" ? t("room.connected") : t("room.reconnecting");
  }

  function scheduleReconnect() {
    if (reconnectTimer !== null) { return; }
    setConnection("lost");
    var delay = Math.min(10000, 500 * Math.pow(2, retry));
    retry += 1;
    reconnectTimer = setTimeout(function () { reconnectTimer = null; connect(); }, delay);
  }

  /* a frame is a JSON array of messages (batch=true: the events of one short server tick) */
  function onMessage(raw) {
    var data;
    try { data = JSON.parse(raw.data); } catch (e) { return; }
    var messages = Array.isArray(data) ? data : [data];
    for (var i = 0; i < messages.length; i += 1) {
      if (!applyMessage(messages[i])) { return; }
    }
  }

  /* false when a gap closed the socket (the reconnect resumes from state.seq) */
  function applyMessage(message) {
    if (!message || typeof message !== "object") { return true; }
    noteServerTime(message.server_time);
    if (message.type === "snapshot") {
      retry = 0;
      /* the events after our seq follow the snapshot; it is applied only when none are missing */
      if (message.seq === state.seq) {
        applySnapshot(message);
        renderStatus();
        renderPrice();
      }
      return true;
    }
    if (typeof message.seq !== "number") { return true; }
    if (message.seq <= state.seq) { return true; }
    if (message.seq !== state.seq + 1) {
      if (socket) { socket.close(); }
      return false;
    }
    state.seq = message.seq;
    applyEvent(message);
    return true;
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + "/ws/auctions/" + auctionId + "?batch=true&after_seq=" + state.seq;
    try {
      socket = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket.addEventListener("open", function () { setConnection("open"); });
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", function () { socket = null; scheduleReconnect(); });
    socket.addEventListener("error", function () { if (socket) { socket.close(); } });
  }

  window.addEventListener("online", function () { if (!socket) { retry = 0; connect(); } });

  /* ---- bidding ---- */
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function setMessage(text, kind) {
    var box = byId("bid-message");
    if (!box) { return; }
    box.textContent = "";
    if (!text) { return; }
    var p = document.createElement("p");
    p.className = "alert " + (kind === "ok" ? "alert-ok" : "alert-error");
    p.textContent = text;
    box.appendChild(p);
  }

  var pendingAmount = null;

  /* "bid accepted" is stale once someone else bids */
  function clearAccepted() {
    var box = byId("bid-message");
    if (box && box.querySelector(".alert-ok")) { box.textContent = ""; }
  }

  /* an accepted bid proves the deposit is held: the pending transfer details are done with */
  function depositHeld() {
    var mine = byId("my-registration");
    if (!mine) { return; }
    mine.setAttribute("data-deposit-status", "held");
    mine.removeAttribute("hx-trigger");
    var held = mine.querySelector("[data-deposit-held]");
    var pending = mine.querySelector("[data-deposit-pending]");
    if (held) { held.hidden = false; }
    if (pending) { pending.hidden = true; }
  }

  function sendBid(amount) {
    var submit = byId("bid-submit");
    if (submit) { submit.disabled = true; }
    setMessage("", "");
    fetch("/api/auctions/" + auctionId + "/bids", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrfToken(),
        "Idempotency-Key": newKey()
      },
      body: '{"amount":' + amount.toString() + "}"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok) {
          setMessage(t("room.bid_accepted", { amount: formatMoney(body.amount) }), "ok");
          depositHeld();
          var input = byId("bid-amount");
          if (input) { input.value = ""; }
        } else {
          var code = body.code || "internal_error";
          var text = errorText(code, body.detail);
          var problem = byId("bid-message");
          setMessage(text, "error");
          if (problem && problem.firstChild) { problem.firstChild.setAttribute("data-code", code); }
        }
      });
    }).catch(function () {
      setMessage(errorText("network", ""), "error");
    }).then(function () {
      if (submit) { submit.disabled = state.status !== "open"; }
    });
  }

  function isLargeJump(amount) {
    var base = state.currentPrice === null ? state.startingPrice : state.currentPrice;
    return amount - base > LARGE_JUMP_STEPS * state.increment;
  }

  function askConfirmation(amount) {
    var base = state.currentPrice === null ? state.startingPrice : state.currentPrice;
    pendingAmount = amount;
    setText("bid-confirm-text", t("room.confirm_large", { amount: formatMoney(amount), jump: formatMoney(amount - base) }));
    show("bid-confirm", true);
    var yes = byId("bid-confirm-yes");
    if (yes) { yes.focus(); }
  }

  var form = byId("bid-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = byId("bid-amount");
      var amount = parseYuan(input ? input.value : "");
      if (amount === null || amount <= 0n) {
        setMessage(errorText("bad_amount", ""), "error");
        return;
      }
      if (isLargeJump(amount)) {
        askConfirmation(amount);
        return;
      }
      sendBid(amount);
    });
    document.querySelectorAll("#quick-bids button[data-step]").forEach(function (button) {
      button.addEventListener("click", function () {
        var amount = BigInt(button.getAttribute("data-amount") || "0");
        var input = byId("bid-amount");
        if (input) { input.value = plainYuan(amount); input.focus(); }
      });
    });
    var yes = byId("bid-confirm-yes");
    var no = byId("bid-confirm-no");
    if (yes) {
      yes.addEventListener("click", function () {
        show("bid-confirm", false);
        if (pendingAmount !== null) { sendBid(pendingAmount); }
        pendingAmount = null;
      });
    }
    if (no) {
      no.addEventListener("click", function () {
        show("bid-confirm", false);
        pendingAmount = null;
        var input = byId("bid-amount");
        if (input) { input.focus(); }
      });
    }
  }

  /* the registration fragment (htmx) tells us our bidder code */
  document.body.addEventListener("htmx:afterSwap", function () {
    var mine = byId("my-registration");
    if (mine) {
      state.myCode = mine.getAttribute("data-bidder-code") || state.myCode;
      room.setAttribute("data-my-code", state.myCode);
      renderPrice();
      renderChart();
    }
  });

  window.addEventListener("resize", function () { renderChart(); });

  renderStatus();
  renderPrice();
  renderChart();
  renderClock();
  setInterval(renderClock, 250);
  connect();
}());
