// ClearSight console: small hand-written vanilla JS, no libraries, no eval, no inline script.
// Image pages post the AWS JSON request to /console/api/<Operation> and draw the answer as SVG.
"use strict";
(() => {
  const main = document.getElementById("main");
  if (!main) return;
  const csrf = main.dataset.csrf;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  function el(tag, attrs = {}, ...kids) {
    const svg = ["svg", "rect", "circle", "text", "g", "title"].includes(tag);
    const node = svg ? document.createElementNS(SVG, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return node;
  }

  async function api(operation, payload, purpose) {
    const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
    if (purpose) headers["X-ClearSight-Purpose"] = purpose;
    const response = await fetch(`/console/api/${operation}`, {
      method: "POST", headers, body: JSON.stringify(payload), credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) throw Object.assign(new Error(body.message || response.statusText), { code: body.__type });
    return body;
  }

  const base64 = (file) => new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });

  const pct = (x, digits = 1) => `${Number(x).toFixed(digits)}%`;
  const snake = (s) => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
  const kebab = (s) => snake(s).replace(/_/g, "-");

  // --- errors, drops, stages ------------------------------------------------------------
  function showError(form, error) {
    const box = $("[data-error]", form.closest("main"));
    if (!box) return;
    if (!error) { box.hidden = true; box.textContent = ""; return; }
    box.hidden = false;
    box.replaceChildren(el("strong", {}, error.code || "Error"), " ", error.message);
  }

  for (const zone of $$("[data-drop]")) {
    const input = $("input[type=file]", zone);
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault(); zone.classList.remove("over");
      if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; input.dispatchEvent(new Event("change")); }
    });
  }

  // show an image in a stage; resolves to {frame, svg} sized to the image's own pixels
  function stage(name, file) {
    const fig = $(`[data-stage="${name}"]`);
    const img = el("img", { alt: `The ${name} image (${file.name}), with what was found outlined` });
    const frame = el("div", { class: "frame" }, img);
    fig.replaceChildren(frame);
    return new Promise((resolve, reject) => {
      img.onload = () => {
        const svg = el("svg", { viewBox: `0 0 ${img.naturalWidth} ${img.naturalHeight}`, preserveAspectRatio: "none",
          role: "group", "aria-label": `Boxes over the ${name} image` });
        frame.append(svg);
        resolve({ frame, svg, w: img.naturalWidth, h: img.naturalHeight });
      };
      img.onerror = () => reject(new Error("the browser cannot show this file as an image"));
      img.src = URL.createObjectURL(file);
    });
  }

  function box(view, b, { label, cls = "", onselect, tag } = {}) {
    const r = el("rect", { class: `box ${cls}`, x: b.Left * view.w, y: b.Top * view.h, width: b.Width * view.w,
      height: b.Height * view.h, tabindex: onselect ? 0 : null, role: onselect ? "button" : null,
      "aria-label": label, "data-box": "" }, el("title", {}, label));
    if (onselect) {
      r.addEventListener("click", onselect);
      r.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onselect(); } });
    }
    view.svg.append(r);
    if (tag) view.svg.append(el("text", { class: "tag-text", x: b.Left * view.w + 4,
      y: Math.max(14, b.Top * view.h - 5) }, tag));
    return r;
  }

  // --- "copy as boto3 / aws cli" ----------------------------------------------------------
  const py = (v, indent = "") => {
    if (v === null || v === undefined) return "None";
    if (v === true) return "True";
    if (v === false) return "False";
    if (typeof v === "number") return String(v);
    if (typeof v === "string") return v.startsWith("@raw:") ? v.slice(5) : JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map((x) => py(x, indent)).join(", ")}]`;
    const inner = indent + "    ";
    return `{${Object.entries(v).map(([k, x]) => `\n${inner}${JSON.stringify(k)}: ${py(x, inner)}`).join(",")}\n${indent}}`;
  };

  function snippets(operation, payload, files, purpose, response) {
    const endpoint = `${location.protocol}//${location.host}`;
    const args = {};
    const cli = [`aws rekognition ${kebab(operation)} --endpoint-url ${endpoint} --region us-east-1`];
    const rest = {};
    for (const [k, v] of Object.entries(payload)) {
      if (files[k]) {
        args[k] = `@raw:{"Bytes": open(${JSON.stringify(files[k])}, "rb").read()}`;
        cli.push(`--${kebab(k)}-bytes fileb://${files[k]}`);
      } else { args[k] = v; rest[k] = v; }
    }
    const lines = ["import boto3", "", `client = boto3.client("rekognition", endpoint_url=${JSON.stringify(endpoint)}, ` +
      `region_name="us-east-1")`];
    if (purpose) {
      lines.push(`client.meta.events.register("before-sign.rekognition.*", lambda request, **_: ` +
        `request.headers.__setitem__("X-ClearSight-Purpose", ${JSON.stringify(purpose)}))`);
    }
    lines.push(`response = client.${snake(operation)}(`);
    for (const [k, v] of Object.entries(args)) lines.push(`    ${k}=${py(v, "    ")},`);
    lines.push(")");
    if (Object.keys(rest).length) cli.push(`--cli-input-json '${JSON.stringify(rest)}'`);
    const cliText = cli.join(" \\\n    ") + (purpose ? "\n# the aws cli sends no X-ClearSight-Purpose: use a key " +
      "created with --purpose" : "");
    const set = (name, text) => { const pre = $(`[data-snippet="${name}"]`); if (pre) pre.textContent = text; };
    set("boto3", lines.join("\n"));
    set("cli", cliText);
    set("json", JSON.stringify(response, null, 2));
  }

  function busy(form, on) { for (const b of $$("button", form)) b.disabled = on; }

  function fileOf(form, slot) {
    const input = $(`[data-file="${slot}"]`, form);
    const file = input && input.files && input.files[0];
    if (!file) throw Object.assign(new Error(`choose the ${slot} image first`), { code: "Missing image" });
    return file;
  }

  function onSubmit(name, handler) {
    const form = $(`[data-form="${name}"]`);
    if (!form) return;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(form, null);
      busy(form, true);
      try { await handler(form); } catch (error) { showError(form, error); } finally { busy(form, false); }
    });
  }

  // --- Analyze ----------------------------------------------------------------------------
  function analyzeItems(operation, out) {
    if (operation === "DetectFaces") {
      return (out.FaceDetails || []).map((f, i) => ({ label: `Face ${i + 1}`, detail: pct(f.Confidence),
        box: f.BoundingBox, points: f.Landmarks || [], json: f, cls: "" }));
    }
    if (operation === "DetectText") {
      return (out.TextDetections || []).filter((t) => t.Type === "LINE").map((t) => ({ label: t.DetectedText,
        detail: pct(t.Confidence), box: t.Geometry.BoundingBox, points: [], json: t, cls: "text" }));
    }
    const items = [];
    for (const l of out.Labels || []) {
      const inst = l.Instances || [];
      if (!inst.length) items.push({ label: l.Name, detail: pct(l.Confidence), box: null, points: [], json: l });
      inst.forEach((x, i) => items.push({ label: `${l.Name} ${i + 1}`, detail: pct(x.Confidence), box: x.BoundingBox,
        points: [], json: { Name: l.Name, ...x }, cls: "label" }));
    }
    return items;
  }

  onSubmit("analyze", async (form) => {
    const file = fileOf(form, "image");
    const operation = $("input[name=operation]:checked", form).value;
    const view = await stage("image", file);
    const payload = { Image: { Bytes: await base64(file) } };
    if (operation === "DetectFaces") payload.Attributes = ["DEFAULT"];
    const out = await api(operation, payload);
    snippets(operation, payload, { Image: file.name }, null, out);
    const items = analyzeItems(operation, out);
    const list = $("[data-items]");
    const selected = $("[data-selected]");
    $("[data-count]").textContent = `${items.length} ${operation === "DetectFaces" ? "face" : "item"}` +
      (items.length === 1 ? "" : "s");
    list.replaceChildren();
    const rects = [];
    const buttons = [];
    const select = (i) => {
      rects.forEach((r, j) => r && r.classList.toggle("selected", j === i));
      buttons.forEach((b, j) => b.setAttribute("aria-pressed", String(j === i)));
      selected.textContent = JSON.stringify(items[i].json, null, 2);
    };
    items.forEach((item, i) => {
      rects.push(item.box ? box(view, item.box, { label: `${item.label}, confidence ${item.detail}`, cls: item.cls,
        onselect: () => select(i) }) : null);
      for (const p of item.points) view.svg.append(el("circle", { class: "mark", cx: p.X * view.w, cy: p.Y * view.h,
        r: Math.max(2, view.w / 300) }));
      const b = el("button", { type: "button", "aria-pressed": "false", onclick: () => select(i) },
        el("span", {}, item.label), el("span", { class: "muted" }, item.detail));
      buttons.push(b);
      list.append(el("li", {}, b));
    });
    main.dataset.found = String(items.length);
    if (items.length) select(0); else selected.textContent = "Nothing found.";
  });

  // --- Compare ----------------------------------------------------------------------------
  const thresholdCard = $("[data-calibration]");
  let lastCompare = null;
  function meaning(t) {
    const table = JSON.parse(thresholdCard.dataset.calibration);
    const sims = table.map((r) => r[0]);
    const interp = (x, ys) => {
      if (x <= sims[0]) return ys[0];
      for (let i = 1; i < sims.length; i++) {
        if (x <= sims[i]) { const f = (x - sims[i - 1]) / (sims[i] - sims[i - 1]); return ys[i - 1] + f * (ys[i] - ys[i - 1]); }
      }
      return ys[ys.length - 1];
    };
    const fmr = 10 ** interp(t, table.map((r) => Math.log10(Math.max(r[1], 1e-9))));
    const fnmr = interp(t, table.map((r) => r[2]));
    return { fmr, fnmr };
  }
  function renderThreshold() {
    const input = $("#threshold");
    const t = Number(input.value);
    $("[data-threshold-value]").textContent = t.toFixed(1);
    const { fmr, fnmr } = meaning(t);
    const oneIn = fmr > 0 ? Math.round(1 / fmr).toLocaleString("en") : "-";
    $("[data-threshold-meaning]").textContent = `At ${t.toFixed(1)}: about 1 false match in ${oneIn} comparisons of ` +
      `different people (false-match rate ${fmr.toExponential(1)}), and ${pct(100 * fnmr)} of same-person pairs ` +
      `missed. Measured on LFW for ${thresholdCard.dataset.model}.`;
    if (lastCompare) renderMatches(lastCompare, t);
  }
  function renderMatches({ out, view }, t) {
    const rows = [...(out.FaceMatches || []).map((m) => ({ sim: m.Similarity, face: m.Face })),
      ...(out.UnmatchedFaces || []).map((f) => ({ sim: null, face: f }))].sort((a, b) => (b.sim ?? -1) - (a.sim ?? -1));
    view.svg.replaceChildren();
    const body = $("[data-matches]");
    body.replaceChildren();
    rows.forEach((r, i) => {
      const match = r.sim !== null && r.sim >= t;
      box(view, r.face.BoundingBox, { label: `Target face ${i + 1}: similarity ${r.sim === null ? "-" : pct(r.sim)}`,
        cls: match ? "match" : "", tag: r.sim === null ? "-" : pct(r.sim) });
      body.append(el("tr", { class: match ? "matched" : "" }, el("td", {}, `Face ${i + 1}`),
        el("td", { class: "num", "data-similarity": r.sim ?? "" }, r.sim === null ? "-" : pct(r.sim, 2)),
        el("td", {}, match ? "match" : "no match")));
    });
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No face in the target image.")));
  }
  if (thresholdCard) {
    $("#threshold").addEventListener("input", renderThreshold);
    renderThreshold();
  }
  onSubmit("compare", async (form) => {
    const source = fileOf(form, "source");
    const target = fileOf(form, "target");
    const [sview, tview] = await Promise.all([stage("source", source), stage("target", target)]);
    const payload = { SourceImage: { Bytes: await base64(source) }, TargetImage: { Bytes: await base64(target) },
      SimilarityThreshold: 0 };
    const out = await api("CompareFaces", payload);
    snippets("CompareFaces", payload, { SourceImage: source.name, TargetImage: target.name }, null, out);
    if (out.SourceImageFace) box(sview, out.SourceImageFace.BoundingBox, { label: "The source face", cls: "match" });
    lastCompare = { out, view: tview };
    renderThreshold();
  });

  // --- Search -----------------------------------------------------------------------------
  const collection = $("select[data-collection]");
  function purposeRule() {
    const opt = collection.selectedOptions[0];
    const required = opt && opt.dataset.requirePurpose === "true";
    $("[data-purpose]").required = required;
    $("[data-purpose-note]").textContent = required ? `${opt.value} requires a purpose: searches without one are ` +
      "refused (and the refusal is recorded)." : "State why you search: the purpose is recorded with the search.";
  }
  if (collection) { collection.addEventListener("change", purposeRule); purposeRule(); }
  onSubmit("search", async (form) => {
    const file = fileOf(form, "image");
    const view = await stage("image", file);
    const purpose = $("[data-purpose]", form).value.trim();
    const payload = { CollectionId: collection.value, Image: { Bytes: await base64(file) },
      FaceMatchThreshold: Number($("[data-search-threshold]", form).value), MaxFaces: Number($("[data-max-faces]", form).value) };
    const facts = $("[data-accountability]");
    const body = $("[data-candidates]");
    let out;
    try {
      out = await api("SearchFacesByImage", payload, purpose);
    } catch (error) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "Refused: no search was run.")));
      facts.replaceChildren(el("dt", {}, "Outcome"), el("dd", { "data-outcome": "refused" }, "refused, and recorded " +
        "in the audit trail"));
      throw error;
    } finally { snippets("SearchFacesByImage", payload, { Image: file.name }, purpose, out || {}); }
    if (out.SearchedFaceBoundingBox) box(view, out.SearchedFaceBoundingBox, { label: "The face searched with" });
    body.replaceChildren();
    for (const m of out.FaceMatches || []) {
      body.append(el("tr", {}, el("td", {}, el("code", {}, m.Face.FaceId)), el("td", {}, m.Face.ExternalImageId || "-"),
        el("td", {}, m.Face.UserId || "-"), el("td", { class: "num" }, pct(m.Similarity, 2))));
    }
    if (!(out.FaceMatches || []).length) {
      body.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No candidate at this threshold.")));
    }
    const a = out.ClearSightAccountability || {};
    const fact = (k, v) => [el("dt", {}, k), el("dd", {}, v)];
    facts.replaceChildren(...fact("Summary", a.Summary || "-"), ...fact("Purpose", a.Purpose || "(none stated)"),
      ...fact("Gallery", String(a.GallerySize ?? "-")), ...fact("False-match rate",
        a.FalseMatchRatePerComparison === undefined ? "-" : `${Number(a.FalseMatchRatePerComparison).toExponential(1)} per comparison`),
      ...fact("Request id", a.RequestId || "-"));
    main.dataset.found = String((out.FaceMatches || []).length);
  });

  // --- Index faces (collection page) ------------------------------------------------------
  onSubmit("index", async (form) => {
    const file = fileOf(form, "image");
    const payload = { CollectionId: form.dataset.indexCollection, Image: { Bytes: await base64(file) }, MaxFaces: 10 };
    const ext = $("[data-external-id]", form).value.trim();
    if (ext) payload.ExternalImageId = ext;
    const out = await api("IndexFaces", payload);
    $("[data-result]").textContent = `Indexed ${(out.FaceRecords || []).length} face(s); ` +
      `${(out.UnindexedFaces || []).length} not indexed. Reloading the face table...`;
    location.reload();
  });
})();

// --- Video: poll a running job; seek from the time axis; boxes follow the playhead ----------
(() => {
  const main = document.getElementById("main");
  if (!main) return;
  if (document.querySelector("[data-poll]")) setTimeout(() => location.reload(), 1500);
  const video = document.querySelector("video[data-video]");
  if (!video) return;
  const SVG = "http://www.w3.org/2000/svg";
  const boxes = JSON.parse(video.dataset.boxes || "[]");
  const half = Number(video.dataset.sample || 200) * 0.75;
  const timeline = document.querySelector(".timeline");
  const duration = Number(timeline.dataset.duration);
  for (const seg of document.querySelectorAll(".seg")) {
    seg.style.left = `${seg.dataset.from}%`;
    seg.style.width = `${seg.dataset.width}%`;
    seg.addEventListener("click", () => {
      video.pause();
      video.currentTime = Number(seg.dataset.seek) / 1000;
      main.dataset.seekedTo = seg.dataset.seek;
    });
  }
  const cursor = document.createElement("div");
  cursor.className = "cursor";
  timeline.append(cursor);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("aria-hidden", "true");
  video.after(svg);
  const draw = () => {
    const ms = video.currentTime * 1000;
    const w = video.videoWidth || 1;
    const h = video.videoHeight || 1;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.replaceChildren();
    let shown = 0;
    for (const [t, left, top, bw, bh, index] of boxes) {
      if (Math.abs(t - ms) > half) continue;
      const r = document.createElementNS(SVG, "rect");
      r.setAttribute("class", "box");
      r.setAttribute("x", left * w); r.setAttribute("y", top * h);
      r.setAttribute("width", bw * w); r.setAttribute("height", bh * h);
      svg.append(r);
      if (index !== null && index !== undefined) {
        const label = document.createElementNS(SVG, "text");
        label.setAttribute("class", "tag-text"); label.setAttribute("x", left * w + 4);
        label.setAttribute("y", Math.max(14, top * h - 5)); label.textContent = `Person ${index}`;
        svg.append(label);
      }
      shown++;
    }
    cursor.style.left = `${Math.min(100, (100 * ms) / duration)}%`;
    main.dataset.boxesShown = String(shown);
    const p = document.querySelector("[data-playhead]");
    if (p) p.textContent = `${(ms / 1000).toFixed(2)} s · ${shown} face box${shown === 1 ? "" : "es"}`;
  };
  for (const e of ["timeupdate", "seeked", "loadedmetadata"]) video.addEventListener(e, draw);
})();
