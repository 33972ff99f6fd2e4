// lstmkit explore: the page. Vanilla JS and SVG/canvas, no libraries, works offline.
// The data (one run per cell choice) is in <script id="explore-data">; a live page (served
// by `lstmkit explore`) asks its server for new runs: POST /api/run {input, variant, weights,
// layer, direction}. An exported page's runs are keyed by the cell choice ("" = this model),
// and "CHOICE@LAYER:DIRECTION" for the other layers and directions of a stacked or
// bidirectional model.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("explore-data").textContent);
  const $ = (id) => document.getElementById(id);
  const SVGNS = "http://www.w3.org/2000/svg";
  const UNIT_GATES0 = new Set(["i", "f", "o", "r", "z"]); // sigmoids: values in [0, 1] (older runs)
  const COLORS = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00"];
  const NAMES = {x: "input x"};
  let runs = DATA.runs, key = DATA.initial, run = runs[key], t = 0, unit = 0, weights = null;
  const unitGate = (g) => (run.unit_range ? run.unit_range.indexOf(g) >= 0 : UNIT_GATES0.has(g));
  const rowsOf = (g) => (g === "x" ? run.I : (run.gate_rows && run.gate_rows[g] !== undefined ? run.gate_rows[g] : run.H));
  // the row of a map that belongs to unit u: the unit itself, or its head (mLSTM), or the one row
  const rowOf = (g, u) => { const n = rowsOf(g); return n === run.H ? u : (n === 1 ? 0 : Math.floor(u * n / run.H)); };
  const backward = () => run.direction === "backward";
  const variantOf = (k) => k.split("@")[0];

  function fmt(v, d) { return (v === undefined || v === null) ? "" : Number(v).toFixed(d === undefined ? 4 : d); }
  function el(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function html(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function color(g, v, scale) {
    if (unitGate(g)) {
      const a = Math.max(0, Math.min(1, v));
      return `rgb(${Math.round(255 - 228 * a)},${Math.round(255 - 161 * a)},${Math.round(255 - 223 * a)})`;
    }
    const a = Math.max(-1, Math.min(1, scale > 0 ? v / scale : 0));
    return a >= 0 ? `rgb(255,${Math.round(255 - 200 * a)},${Math.round(255 - 200 * a)})`
                  : `rgb(${Math.round(255 + 200 * a)},${Math.round(255 + 200 * a)},255)`;
  }
  function label(step) {
    const s = run.steps[step];
    return s.length > 24 ? s.slice(0, 22) + "\u2026" : s;
  }
  function value(g, step, u) {
    if (g === "x") return run.x[step][u];
    const m = run.gates[g];
    return m && u < rowsOf(g) ? m[step][u] : undefined;
  }

  // ---- controls -------------------------------------------------------------------------
  function setup() {
    $("title").textContent = run.title;
    $("mode").textContent = DATA.live ? "live: served by lstmkit explore" :
      "exported page: the cells below were run on this input when it was written; to try other inputs or weights, run lstmkit explore";
    const vs = $("variant");
    vs.innerHTML = "";
    const base = runs[""] || runs[DATA.initial];
    vs.appendChild(html("option", {value: ""}, base.source === "variant" ? base.describe : "this model: " + base.describe));
    for (const n of base.switcher) {
      if (!DATA.live && !(n in runs)) continue;
      vs.appendChild(html("option", {value: n}, n === base.name && base.source === "variant" ? n + " (same)" : "untrained " + n));
    }
    vs.value = variantOf(key);
    const ss = $("samples");
    ss.innerHTML = "";
    base.samples.forEach((s, k) => ss.appendChild(html("option", {value: k}, s.length > 60 ? s.slice(0, 57) + "..." : s)));
    $("input").value = run.input_text;
    for (const id of ["input", "samples", "run"]) $(id).disabled = !DATA.live;
    $("samples").parentNode.hidden = !DATA.live;
  }

  function show(newRun, newKey) {
    run = newRun; key = newKey;
    t = Math.min(t, run.T - 1);
    unit = run.memory ? run.memory.unit : Math.min(unit, run.H - 1);
    const us = $("unit");
    us.innerHTML = "";
    for (let u = 0; u < run.H; u++) us.appendChild(html("option", {value: u}, String(u)));
    us.value = unit;
    $("slider").max = run.T - 1;
    $("title").textContent = run.title;
    $("gfstate").textContent = run.gradient_flow.state;
    const ls = $("layer");
    ls.innerHTML = "";
    const nl = run.num_layers || 1, nd = run.num_directions || 1;
    for (let l = 0; l < nl; l++) for (let d = 0; d < nd; d++) {
      const dn = ["forward", "backward"][d];
      ls.appendChild(html("option", {value: l + ":" + d}, "layer " + l + (nd > 1 ? ", " + dn : "")));
    }
    ls.value = (run.layer || 0) + ":" + (backward() ? 1 : 0);
    $("layerbox").hidden = nl * nd === 1;
    const notes = [];
    if (run.layer > 0) notes.push("layer " + run.layer + " reads the outputs of layer " + (run.layer - 1) +
      (nd > 1 ? " (both directions)" : "") + ", computed from this input with the same reference step; the input x shown is the model's");
    if (backward()) notes.push("backward direction: it runs from the last step to the first; the state before step t is the one after step t+1");
    $("dirnote").textContent = notes.join(". ");
    const steps = $("steps");
    steps.innerHTML = "";
    run.steps.forEach((s, k) => {
      const sp = html("span", {id: "s-" + k, title: "step " + k + ": " + s}, run.kind === "symbols" ? s : String(k));
      sp.onclick = () => go(k);
      steps.appendChild(sp);
    });
    const mem = $("memory");
    mem.textContent = run.memory ? run.memory.text : "";
    buildWeights();
    drawGradient();
    update();
  }

  function go(k) { t = Math.max(0, Math.min(run.T - 1, k)); update(); }

  function update() {
    $("slider").value = t;
    $("stepinfo").textContent = `t = ${t} of ${run.T - 1}, input ${label(t)}`;
    document.querySelectorAll("#steps span").forEach((s, k) => s.className = k === t ? "cur" : "");
    $("readout").textContent = run.readout && run.readout[t] ? "read-out at this step: " + run.readout[t] : "";
    drawMaps();
    drawFeatureMaps();
    drawTable();
    drawDiagram();
    drawGradientMarker();
  }

  // ---- heat maps ------------------------------------------------------------------------
  function drawMaps() {
    const box = $("maps");
    box.innerHTML = "";
    const order = ["x"].concat(run.gate_order);
    const cw = Math.max(3, Math.min(24, Math.floor(860 / run.T)));
    for (const g of order) {
      const rows = rowsOf(g);
      const ch = g === "x" ? Math.max(2, Math.min(14, Math.floor(60 / rows))) : Math.max(2, Math.min(14, Math.floor(240 / rows)));
      let scale = 0;
      for (let s = 0; s < run.T; s++) for (let u = 0; u < rows; u++) scale = Math.max(scale, Math.abs(value(g, s, u)));
      const div = html("div", {class: "map"});
      const label = g === "x" ? NAMES.x : (run.gate_titles[g] || g);
      div.appendChild(html("div", {class: "label"}, unitGate(g) ? label : `${label} (|max| ${fmt(scale, 3)})`));
      const cv = html("canvas", {id: "map-" + g, width: run.T * cw, height: rows * ch});
      const ctx = cv.getContext("2d");
      for (let s = 0; s < run.T; s++) for (let u = 0; u < rows; u++) {
        ctx.fillStyle = color(g, value(g, s, u), scale);
        ctx.fillRect(s * cw, u * ch, cw, ch);
      }
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
      ctx.strokeRect(t * cw + 1, 1, cw - 2, rows * ch - 2);
      if (g !== "x") { ctx.strokeStyle = "#1565c0"; ctx.lineWidth = 1; ctx.strokeRect(0.5, rowOf(g, unit) * ch + 0.5, run.T * cw - 1, ch - 1); }
      if (run.memory && g === "c") { ctx.strokeStyle = "#ef6c00"; ctx.lineWidth = 2; ctx.strokeRect(1, run.memory.unit * ch + 1, run.T * cw - 2, ch - 2); }
      cv.onclick = (e) => {
        const r = cv.getBoundingClientRect();
        const s = Math.floor((e.clientX - r.left) * cv.width / r.width / cw);
        const u = Math.floor((e.clientY - r.top) * cv.height / r.height / ch);
        if (g !== "x" && rowsOf(g) === run.H) { unit = Math.max(0, Math.min(run.H - 1, u)); $("unit").value = unit; }
        go(s);
      };
      div.appendChild(cv);
      box.appendChild(div);
    }
  }

  // ---- a ConvLSTM's feature maps at this step --------------------------------------------------
  function drawFeatureMaps() {
    const sec = $("fmsec"), box = $("fmaps");
    box.innerHTML = "";
    if (!run.maps) { sec.hidden = true; return; }
    sec.hidden = false;
    for (const g of ["x"].concat(run.gate_order)) {
      const m = run.maps[g];
      if (!m) continue;
      let scale = 0;
      for (const frame of m) for (const ch of frame) for (const row of ch) for (const v of row) scale = Math.max(scale, Math.abs(v));
      const div = html("div", {class: "map"});
      const name = g === "x" ? NAMES.x : (run.gate_titles[g] || g).replace(" (spatial mean)", "");
      div.appendChild(html("div", {class: "label"}, unitGate(g) ? name : `${name} (|max| ${fmt(scale, 3)})`));
      m[t].forEach((ch, k) => {
        const hgt = ch.length, wdt = ch[0].length, px = Math.max(4, Math.floor(96 / Math.max(hgt, wdt)));
        const cv = html("canvas", {id: `fm-${g}-${k}`, width: wdt * px, height: hgt * px, title: `${name}, channel ${k}, step ${t}`,
          "data-values": JSON.stringify(ch), "data-px": px, class: g !== "x" && k === unit ? "fm sel" : "fm"});
        const ctx = cv.getContext("2d");
        for (let r = 0; r < hgt; r++) for (let c = 0; c < wdt; c++) {
          ctx.fillStyle = color(g, ch[r][c], scale);
          ctx.fillRect(c * px, r * px, px, px);
        }
        if (g !== "x") cv.onclick = () => { unit = k; $("unit").value = k; update(); };
        div.appendChild(cv);
      });
      box.appendChild(div);
    }
  }

  // ---- the table of this step's values ------------------------------------------------------
  function drawTable() {
    const tab = $("vals");
    tab.innerHTML = "";
    const head = html("tr");
    head.appendChild(html("th", {}, "unit"));
    for (const g of run.gate_order) head.appendChild(html("th", {title: run.gate_titles[g] || g}, g));
    tab.appendChild(head);
    for (let u = 0; u < run.H; u++) {
      const cls = (run.memory && run.memory.unit === u ? "mem " : "") + (u === unit ? "sel" : "");
      const tr = html("tr", {class: cls});
      tr.appendChild(html("td", {}, String(u)));
      for (const g of run.gate_order) {
        const v = value(g, t, u);
        // a per-head value (mLSTM) has a row per head, a time decay one row: blank below them
        tr.appendChild(v === undefined ? html("td", {class: "none"}, "") : html("td", {id: `v-${g}-${u}`, "data-value": String(v)}, fmt(v)));
      }
      tr.onclick = () => { unit = u; $("unit").value = u; update(); };
      tab.appendChild(tr);
    }
  }

  // ---- the cell diagram --------------------------------------------------------------------
  function drawDiagram() {
    const svg = $("diagram");
    svg.innerHTML = "";
    const d = run.diagram;
    const v = (g, s) => value(g, s === undefined ? t : s, rowOf(g, unit));
    // the state before this step: after step t-1 (forward) or t+1 (backward); 0 at the start
    const before = backward() ? t + 1 : t - 1;
    const prev = (g) => (before >= 0 && before < run.T ? v(g, before) : 0);
    const add = (e) => { svg.appendChild(e); return e; };
    const line = (pts, on, extra) => add(el("polyline", Object.assign({points: pts.map((p) => p.join(",")).join(" "),
      fill: "none", stroke: "#333", "stroke-width": 2, class: on === false ? "off" : "", "marker-end": "url(#arr)"}, extra || {})));
    const box = (x, y, w, label, on, id) => {
      add(el("rect", {x: x - w / 2, y: y - 14, width: w, height: 28, rx: 5, fill: on === false ? "#f5f5f5" : "#fff3cd",
        stroke: on === false ? "#bbb" : "#333", class: on === false ? "off" : "", id: id || ""}));
      add(el("text", {x: x, y: y + 4, "text-anchor": "middle", class: on === false ? "offtext" : ""}, label));
    };
    const op = (x, y, sym, on) => {
      add(el("circle", {cx: x, cy: y, r: 11, fill: "#fff", stroke: on === false ? "#bbb" : "#333", class: on === false ? "off" : ""}));
      add(el("text", {x: x, y: y + 5, "text-anchor": "middle", class: on === false ? "offtext" : ""}, sym));
    };
    const val = (x, y, text, id, anchor) => add(el("text", {x: x, y: y, class: "val", id: id, "text-anchor": anchor || "start"}, text));
    const defs = add(el("defs", {}));
    const mk = el("marker", {id: "arr", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse"});
    mk.appendChild(el("path", {d: "M0,0 L10,5 L0,10 z", fill: "#333"}));
    defs.appendChild(mk);
    const notes = [];
    if (d.kind === "lstm") {
      const yc = 50, yg = 230, yh = 295;
      // cell state: the conveyor belt
      line([[20, yc], [139, yc]]);
      op(150, yc, "\u00d7", d.forget_gate);
      line([[161, yc], [289, yc]]);
      op(300, yc, "+");
      line([[311, yc], [545, yc]]);
      add(el("text", {x: 20, y: yc - 12}, "c(t-1)")); val(20, yc + 18, "c=" + fmt(prev("c"), 3), "d-cprev");
      add(el("text", {x: 500, y: yc - 12}, "c(t)")); val(545, yc + 18, "c=" + fmt(v("c"), 3), "d-c", "end");
      // gates
      const fl = d.coupled ? "f = 1 \u2212 i" : (d.forget_gate ? "\u03c3  f" : "f = 1 (none)");
      box(150, yg, 90, fl, d.forget_gate && !d.coupled ? true : (d.coupled ? true : false), "d-fbox");
      line([[150, yg - 14], [150, yc + 12]], d.forget_gate);
      val(156, 150, "f=" + fmt(v("f"), 3), "d-f");
      box(235, yg, 70, d.input_gate ? "\u03c3  i" : "i = 1 (none)", d.input_gate, "d-ibox");
      box(320, yg, 70, d.input_activation === "tanh" ? "tanh  g" : "g (no tanh)", true, "d-gbox");
      line([[235, yg - 14], [235, 140], [258, 140]], d.input_gate);
      line([[320, yg - 14], [320, 140], [282, 140]]);
      op(270, 140, "\u00d7", d.input_gate);
      line([[270, 129], [270, 90], [300, 90], [300, yc + 12]]);
      val(241, 200, "i=" + fmt(v("i"), 3), "d-i");
      val(326, 200, "g=" + fmt(v("g"), 3), "d-g");
      if (d.coupled) line([[200, yg], [195, yg]], true);
      box(420, yg, 70, d.output_gate ? "\u03c3  o" : "o = 1 (none)", d.output_gate, "d-obox");
      // output path: c -> act -> x o -> h
      box(480, 110, 70, d.output_activation === "tanh" ? "tanh" : "identity", d.output_activation === "tanh", "d-actbox");
      line([[480, yc], [480, 96]]);
      line([[480, 124], [480, 158]]);
      line([[420, yg - 14], [420, 170], [468, 170]], d.output_gate);
      op(480, 170, "\u00d7", d.output_gate);
      line([[480, 181], [480, yh], [545, yh]]);
      val(426, 200, "o=" + fmt(v("o"), 3), "d-o");
      add(el("text", {x: 500, y: yh - 8}, "h(t)")); val(545, yh + 16, "h=" + fmt(v("h"), 3), "d-h", "end");
      // inputs
      add(el("text", {x: 20, y: yh - 8}, "h(t-1), x(t)"));
      val(20, yh + 16, "h=" + fmt(prev("h"), 3) + "  x=" + label(t), "d-hprev");
      line([[20, yh], [420, yh]], true, {"marker-end": ""});
      for (const [x, on] of [[150, d.forget_gate && !d.coupled], [235, d.input_gate], [320, true], [420, d.output_gate]]) line([[x, yh], [x, yg + 14]], on);
      // peepholes
      for (const g of d.peepholes || []) {
        const x = {i: 235, f: 150, o: 420}[g];
        const from = g === "o" ? [[470, yc + 4], [455, yg - 20], [x + 20, yg - 14]] : [[x - 30, yc], [x - 30, yg - 20], [x - 15, yg - 14]];
        line(from, true, {"stroke-dasharray": "2 3", stroke: "#6a1b9a"});
      }
      if (d.peepholes && d.peepholes.length) notes.push("dotted: peephole connections from the cell state to the gates " + d.peepholes.join(", "));
      else notes.push("no peepholes");
      if (d.full_gate_recurrence) notes.push("full gate recurrence: the previous step's gate activations feed the gates (not drawn)");
      if (d.layer_norm) notes.push("layer norm on Wx, Rh and c");
      if (!d.input_gate) notes.push("no input gate (i = 1)");
      if (!d.forget_gate) notes.push("no forget gate (f = 1: the 1997 constant error carousel)");
      if (d.coupled) notes.push("coupled input and forget gate: f = 1 - i");
      if (!d.output_gate) notes.push("no output gate (o = 1)");
      if (d.input_activation !== "tanh") notes.push("no input activation");
      if (d.output_activation !== "tanh") notes.push("no output activation");
      notes.unshift("LSTM (" + d.variant + "): c(t) = f c(t-1) + i g; h(t) = o tanh(c(t))");
    } else if (d.kind === "gru") {
      const yh = 50, yg = 240;
      line([[20, yh], [339, yh]]);
      op(350, yh, "\u00d7");
      line([[361, yh], [439, yh]]);
      op(450, yh, "+");
      line([[461, yh], [545, yh]]);
      add(el("text", {x: 20, y: yh - 12}, "h(t-1)")); val(20, yh + 18, "h=" + fmt(prev("h"), 3), "d-hprev");
      add(el("text", {x: 500, y: yh - 12}, "h(t)")); val(545, yh + 18, "h=" + fmt(v("h"), 3), "d-h", "end");
      box(170, yg, 70, "\u03c3  r", true, "d-rbox"); val(176, 200, "r=" + fmt(v("r"), 3), "d-r");
      box(350, yg, 70, "\u03c3  z", true, "d-zbox"); val(356, 200, "z=" + fmt(v("z"), 3), "d-z");
      box(280, 150, 80, "tanh  n", true, "d-nbox"); val(250, 124, "n=" + fmt(v("n"), 3), "d-n");
      line([[100, yh], [100, 150], [159, 150]]);            // h(t-1) into r * (R h(t-1))
      op(170, 150, "\u00d7");
      line([[170, yg - 14], [170, 162]]);                   // r
      line([[181, 150], [239, 150]]);                       // into n
      line([[350, yg - 14], [350, yh + 12]]);               // z keeps h(t-1)
      line([[320, 150], [439, 150]]);                       // n
      op(450, 150, "\u00d7");
      line([[450, 139], [450, yh + 12]]);
      line([[385, yg], [450, yg], [450, 162]]);             // 1 - z
      add(el("text", {x: 456, y: 200}, "1 \u2212 z"));
      add(el("text", {x: 20, y: 300}, "x(t) = " + label(t) + " enters r, z and n"));
      notes.push("GRU: h(t) = (1 - z) n + z h(t-1); n = tanh(W x + r (R h(t-1))): no cell state, no output gate");
    } else if (d.kind === "elman") {
      line([[20, 160], [229, 160]]);
      box(270, 160, 80, d.nonlinearity, true, "d-actbox");
      line([[310, 160], [545, 160]]);
      add(el("text", {x: 20, y: 148}, "h(t-1), x(t)")); val(20, 180, "h=" + fmt(prev("h"), 3) + "  x=" + label(t), "d-hprev");
      add(el("text", {x: 500, y: 148}, "h(t)")); val(545, 180, "h=" + fmt(v("h"), 3), "d-h", "end");
      notes.push("Elman net: h(t) = " + d.nonlinearity + "(W x + R h(t-1) + b): no gates, no cell state");
    } else {
      let y = 30;
      const gated = d.equations ? "gates and states" : "state entries";
      add(el("text", {x: 20, y: y}, run.describe + ": " + gated + " at this step (unit " + unit + ")"));
      for (const g of run.gate_order) {
        y += 20;
        const r = rowOf(g, unit), n = rowsOf(g);
        const where = n === run.H ? "" : (n === 1 ? " (one value)" : " (head " + r + ")");
        val(40, y, g + " = " + fmt(v(g), 4) + "   " + (run.gate_titles[g] || "") + where, "d-" + g);
      }
      if (d.equations) notes.push(d.equations);
      else notes.push("no diagram for this family; its state entries are shown");
    }
    $("diagnote").textContent = notes.join("; ");
  }

  // ---- gradient flow ---------------------------------------------------------------------------
  function drawGradient() {
    const svg = $("gradflow");
    svg.innerHTML = "";
    const curves = run.gradient_flow.curves;
    const W = 900, H = 260, L = 60, R = 300, Tp = 14, B = 36;
    let lo = Infinity, hi = -Infinity;
    for (const k in curves) for (const v of curves[k]) if (v > 0) { lo = Math.min(lo, Math.log10(v)); hi = Math.max(hi, Math.log10(v)); }
    if (!isFinite(lo)) { lo = -1; hi = 1; }
    lo = Math.floor(lo); hi = Math.ceil(hi + 0.01);
    const X = (s) => L + (run.T > 1 ? s / (run.T - 1) : 0) * (W - L - R);
    const Y = (lv) => Tp + (hi - lv) / (hi - lo) * (H - Tp - B);
    svg.appendChild(el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#333"}));
    svg.appendChild(el("line", {x1: L, y1: Tp, x2: L, y2: H - B, stroke: "#333"}));
    const every = Math.max(1, Math.ceil((hi - lo) / 8));
    for (let e = lo; e <= hi; e += every) {
      svg.appendChild(el("line", {x1: L - 4, y1: Y(e), x2: W - R, y2: Y(e), stroke: "#eee"}));
      svg.appendChild(el("text", {x: L - 6, y: Y(e) + 4, "text-anchor": "end"}, "1e" + e));
    }
    const tick = Math.max(1, Math.ceil(run.T / 10));
    for (let s = 0; s < run.T; s += tick) svg.appendChild(el("text", {x: X(s), y: H - B + 16, "text-anchor": "middle"}, String(s)));
    const end = run.gradient_flow.end === undefined ? run.T - 1 : run.gradient_flow.end;
    svg.appendChild(el("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle"},
      "step t (the loss is read at step " + end + (backward() ? ", where the backward direction ends)" : ", the last)")));
    let k = 0, ly = Tp + 10;
    const lines = [];
    for (const name in curves) {
      const pts = curves[name].map((v, s) => v > 0 ? [X(s), Y(Math.log10(v))] : null).filter((p) => p);
      const c = COLORS[k % COLORS.length];
      lines.push(el("polyline", {points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: c, "stroke-width": 2, id: "gf-" + k}));
      svg.appendChild(el("line", {x1: W - R + 14, y1: ly - 4, x2: W - R + 34, y2: ly - 4, stroke: c, "stroke-width": 3}));
      svg.appendChild(el("text", {x: W - R + 40, y: ly}, name));
      ly += 20; k++;
    }
    lines.reverse().forEach((l) => svg.appendChild(l)); // this cell's curve on top
    svg.appendChild(el("line", {id: "gf-marker", x1: X(t), y1: Tp, x2: X(t), y2: H - B, stroke: "#999", "stroke-dasharray": "3 3"}));
    svg.dataset.x0 = X(0); svg.dataset.x1 = X(Math.max(0, run.T - 1));
  }
  function drawGradientMarker() {
    const m = $("gf-marker");
    if (!m) return;
    const svg = $("gradflow"), x0 = +svg.dataset.x0, x1 = +svg.dataset.x1;
    const x = run.T > 1 ? x0 + (x1 - x0) * t / (run.T - 1) : x0;
    m.setAttribute("x1", x); m.setAttribute("x2", x);
  }

  // ---- the weights editor -----------------------------------------------------------------------
  function buildWeights() {
    const sec = $("weightsec"), box = $("weights");
    box.innerHTML = "";
    weights = null;
    if (!DATA.live || !run.editable || !run.weights) { sec.hidden = true; return; }
    sec.hidden = false;
    weights = {};
    for (const name in run.weights) {
      const w = run.weights[name];
      weights[name] = JSON.parse(JSON.stringify(w.values));
      const tab = html("table");
      tab.appendChild(html("caption", {}, `${name} ${JSON.stringify(w.shape)}`));
      const rows = w.shape.length === 1 ? [null] : weights[name].map((_, k) => k);
      rows.forEach((r) => {
        const tr = html("tr");
        tr.appendChild(html("th", {}, r === null ? "" : (w.rows ? w.rows[r] + (r % run.H) : String(r))));
        const vals = r === null ? weights[name] : weights[name][r];
        vals.forEach((x, c) => {
          const td = html("td"), inp = html("input", {type: "number", step: "0.1", value: fmt(x, 4), id: `w-${name}-${r === null ? c : r + "-" + c}`});
          inp.onchange = () => { const y = parseFloat(inp.value); if (isFinite(y)) { if (r === null) weights[name][c] = y; else weights[name][r][c] = y; } };
          td.appendChild(inp); tr.appendChild(td);
        });
        tab.appendChild(tr);
      });
      box.appendChild(tab);
    }
  }

  // ---- talking to the server ----------------------------------------------------------------------
  async function request(variant, withWeights, where) {
    $("error").textContent = "";
    const body = {input: $("input").value, variant: variant};
    if (where) { body.layer = where[0]; body.direction = where[1]; }
    if (withWeights && weights) body.weights = weights;
    try {
      const r = await fetch("api/run", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      const j = await r.json();
      if (!r.ok) { $("error").textContent = j.error || ("server said " + r.status); return; }
      const k = variant + "@" + j.layer + ":" + (j.direction === "backward" ? 1 : 0);
      runs[k] = j;
      show(j, k);
      $("variant").value = variant;
    } catch (e) { $("error").textContent = "no answer from the server (" + e + ")"; }
  }

  $("back").onclick = () => go(t - 1);
  $("fwd").onclick = () => go(t + 1);
  $("slider").oninput = () => go(parseInt($("slider").value, 10));
  $("unit").onchange = () => { unit = parseInt($("unit").value, 10); update(); };
  $("variant").onchange = () => {
    const n = $("variant").value;
    if (DATA.live) request(n, false);
    else if (n in runs) show(runs[n], n);
  };
  $("layer").onchange = () => {
    const [l, d] = $("layer").value.split(":").map((v) => parseInt(v, 10));
    const n = variantOf(key);
    if (DATA.live) { request(n, false, [l, d]); return; }
    const k = n + "@" + l + ":" + d, first = runs[n];
    if (k in runs) show(runs[k], k);
    else if (first && first.layer === l && (first.direction === "backward" ? 1 : 0) === d) show(first, n);
  };
  const here = () => [run.layer || 0, backward() ? 1 : 0];
  $("samples").onchange = () => { $("input").value = runs[""].samples[+$("samples").value]; request($("variant").value, false, here()); };
  $("run").onclick = () => request($("variant").value, false, here());
  $("apply").onclick = () => request($("variant").value, true, here());
  document.addEventListener("keydown", (e) => {
    if (e.target && (e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT" || e.target.tagName === "SELECT")) return;
    if (e.key === "ArrowRight") go(t + 1);
    if (e.key === "ArrowLeft") go(t - 1);
  });
  setup();
  show(run, key);
  document.body.dataset.ready = "1";
})();
