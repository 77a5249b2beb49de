// paintscape painting page. The label map lives in `ids` (one class id per pixel, a Uint8Array);
// the tools change `ids` only, and the coloured canvas is drawn from it. Ids are never read back
// from canvas pixels, so what the model receives is exactly what was painted.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const UNDO_LEVELS = 40;
  const LIVE_DELAY_MS = 250;
  const PROGRESS_POLL_MS = 300; // how often the page asks a diffusion model's sampling step
  const LONG_TABLE = 40; // classes above which the palette scrolls and gets a search box

  const state = {
    info: null,
    W: 0,
    H: 0,
    ids: null, // Uint8Array(W * H) of class ids
    image: null, // ImageData, the coloured view of ids
    lut: new Uint8Array(256 * 3),
    cls: 5, // class painted with
    tool: "brush",
    size: 16, // brush diameter, label pixels
    undo: [],
    redo: [],
    stroke: null, // {x, y} last point while the pointer is down
    revision: 0, // bumped on every change of ids
    styleFile: null,
    styleURL: null,
    busy: false,
    pending: false,
    pendingQuality: "preview", // what the queued render is: "full" when Render was pressed meanwhile
    liveTimer: null,
    photoURL: null,
    renders: 0,
  };

  const canvas = $("label-canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: false });
  const cursor = $("cursor-canvas");
  const cursorCtx = cursor.getContext("2d");

  // ---- errors and status -----------------------------------------------------------------------

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
  }
  function hideError() {
    $("error").hidden = true;
  }
  function setStatus(text) {
    $("status").textContent = text;
  }
  function updateActivity() {
    // "idle" = nothing rendering, nothing queued: tests and scripts wait for it.
    const idle = !state.busy && !state.pending && state.liveTimer === null;
    document.body.dataset.state = idle ? "idle" : "busy";
    document.body.dataset.revision = String(state.revision);
    $("busy").hidden = !state.busy;
  }

  async function errorMessage(response) {
    try {
      const payload = await response.json();
      if (payload && payload.error) return payload.error;
    } catch (e) {
      /* not JSON */
    }
    return `${response.status} ${response.statusText}`;
  }

  // ---- drawing the colour view from ids ---------------------------------------------------------

  function redraw(x0 = 0, y0 = 0, x1 = state.W, y1 = state.H) {
    x0 = Math.max(0, Math.floor(x0));
    y0 = Math.max(0, Math.floor(y0));
    x1 = Math.min(state.W, Math.ceil(x1));
    y1 = Math.min(state.H, Math.ceil(y1));
    if (x1 <= x0 || y1 <= y0) return;
    const { ids, lut, W } = state;
    const data = state.image.data;
    for (let y = y0; y < y1; y++) {
      let p = y * W + x0;
      let q = p * 4;
      for (let x = x0; x < x1; x++, p++, q += 4) {
        const c = ids[p] * 3;
        data[q] = lut[c];
        data[q + 1] = lut[c + 1];
        data[q + 2] = lut[c + 2];
        data[q + 3] = 255;
      }
    }
    ctx.putImageData(state.image, 0, 0, x0, y0, x1 - x0, y1 - y0);
  }

  function changed() {
    state.revision += 1;
    updateActivity();
  }

  // ---- undo ------------------------------------------------------------------------------------

  function pushUndo() {
    state.undo.push(state.ids.slice());
    if (state.undo.length > UNDO_LEVELS) state.undo.shift();
    state.redo = [];
    updateUndoButtons();
  }
  function restore(from, to) {
    if (!from.length) return;
    to.push(state.ids);
    state.ids = from.pop();
    redraw();
    changed();
    updateUndoButtons();
    scheduleLive();
  }
  function updateUndoButtons() {
    $("undo").disabled = state.undo.length === 0;
    $("redo").disabled = state.redo.length === 0;
  }

  // ---- tools -----------------------------------------------------------------------------------

  // A filled disc of the brush diameter around pixel (px, py); hard edges, no antialiasing.
  function stamp(px, py) {
    const { W, H, ids, cls } = state;
    const r = state.size / 2;
    const r2 = r * r;
    const reach = Math.floor(r);
    for (let dy = -reach; dy <= reach; dy++) {
      const y = py + dy;
      if (y < 0 || y >= H) continue;
      for (let dx = -reach; dx <= reach; dx++) {
        const x = px + dx;
        if (x < 0 || x >= W || dx * dx + dy * dy > r2) continue;
        ids[y * W + x] = cls;
      }
    }
    redraw(px - reach, py - reach, px + reach + 1, py + reach + 1);
  }

  function strokeTo(x, y) {
    const last = state.stroke;
    const dx = x - last.x;
    const dy = y - last.y;
    const distance = Math.hypot(dx, dy);
    const step = Math.max(0.5, state.size / 4);
    const n = Math.max(1, Math.ceil(distance / step));
    for (let i = 1; i <= n; i++) {
      stamp(Math.floor(last.x + (dx * i) / n), Math.floor(last.y + (dy * i) / n));
    }
    state.stroke = { x, y };
  }

  // 4-connected flood fill on ids (scanline).
  function floodFill(x0, y0, cls) {
    const { W, H, ids } = state;
    const target = ids[y0 * W + x0];
    if (target === cls) return false;
    const stack = [x0, y0];
    while (stack.length) {
      const y = stack.pop();
      let x = stack.pop();
      let p = y * W + x;
      while (x > 0 && ids[p - 1] === target) {
        x -= 1;
        p -= 1;
      }
      let up = false;
      let down = false;
      for (; x < W && ids[p] === target; x++, p++) {
        ids[p] = cls;
        if (y > 0) {
          const above = ids[p - W] === target;
          if (above && !up) stack.push(x, y - 1);
          up = above;
        }
        if (y < H - 1) {
          const below = ids[p + W] === target;
          if (below && !down) stack.push(x, y + 1);
          down = below;
        }
      }
    }
    return true;
  }

  function eventPoint(event) {
    const rect = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * state.W) / rect.width,
      y: ((event.clientY - rect.top) * state.H) / rect.height,
    };
  }

  function inside(point) {
    return point.x >= 0 && point.y >= 0 && point.x < state.W && point.y < state.H;
  }

  function onPointerDown(event) {
    if (event.button !== 0 || !state.ids) return;
    event.preventDefault();
    const point = eventPoint(event);
    if (!inside(point)) return;
    const px = Math.floor(point.x);
    const py = Math.floor(point.y);
    if (state.tool === "pick" || event.altKey) {
      selectClass(state.ids[py * state.W + px]);
      return;
    }
    if (state.tool === "fill") {
      state.undo.push(state.ids.slice());
      if (floodFill(px, py, state.cls)) {
        if (state.undo.length > UNDO_LEVELS) state.undo.shift();
        state.redo = [];
        updateUndoButtons();
        redraw();
        changed();
        scheduleLive();
      } else {
        state.undo.pop();
      }
      return;
    }
    pushUndo();
    canvas.setPointerCapture(event.pointerId);
    state.stroke = point;
    stamp(px, py);
    changed();
  }

  function onPointerMove(event) {
    drawCursor(event);
    if (!state.stroke) return;
    const point = eventPoint(event);
    strokeTo(point.x, point.y);
    // With a fast preview model the photo follows the brush: one render at a time, the newest
    // ids queued behind it (render() coalesces).
    if ($("live").checked && state.info.preview) render("preview");
  }

  function onPointerUp(event) {
    if (!state.stroke) return;
    state.stroke = null;
    if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
    changed();
    scheduleLive();
  }

  // The brush outline under the mouse, on a transparent overlay at screen resolution.
  function drawCursor(event) {
    const rect = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(rect.width * ratio);
    const height = Math.round(rect.height * ratio);
    if (cursor.width !== width || cursor.height !== height) {
      cursor.width = width;
      cursor.height = height;
    }
    cursorCtx.clearRect(0, 0, width, height);
    if (!event || state.tool !== "brush") return;
    const scale = (rect.width / state.W) * ratio;
    const x = (Math.floor(((event.clientX - rect.left) * state.W) / rect.width) + 0.5) * scale;
    const y = (Math.floor(((event.clientY - rect.top) * state.H) / rect.height) + 0.5) * scale;
    const radius = Math.max(1.5, (state.size / 2) * scale);
    cursorCtx.lineWidth = 1.5 * ratio;
    cursorCtx.strokeStyle = "rgba(0, 0, 0, 0.7)";
    cursorCtx.beginPath();
    cursorCtx.arc(x, y, radius, 0, 2 * Math.PI);
    cursorCtx.stroke();
    cursorCtx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    cursorCtx.lineWidth = 0.75 * ratio;
    cursorCtx.stroke();
  }

  function setTool(tool) {
    state.tool = tool;
    for (const button of document.querySelectorAll("button.tool")) {
      button.classList.toggle("active", button.dataset.tool === tool);
    }
    canvas.style.cursor = tool === "brush" ? "none" : "crosshair";
    drawCursor(null);
  }

  function setBrushSize(size) {
    state.size = Math.max(1, Math.min(96, Math.round(size)));
    $("brush-size").value = String(state.size);
    $("brush-size-value").textContent = String(state.size);
  }

  function selectClass(id) {
    const info = state.info.classes[id];
    if (!info) return;
    state.cls = id;
    for (const button of $("palette").children) {
      const selected = Number(button.dataset.class) === id;
      button.classList.toggle("selected", selected);
      button.setAttribute("aria-selected", String(selected));
    }
    $("current-name").textContent = info.name;
    $("current-swatch").style.background = rgb(info.color);
    const button = $("palette").querySelector(`button[data-class='${id}']`);
    if (button && !button.hidden) button.scrollIntoView({ block: "nearest" });
  }

  // A long class table (ADE20K's 150, COCO-Stuff's 182): the list scrolls and a search box filters it
  // by name or id; Enter in the box takes the first class shown.
  function filterPalette(query) {
    const text = query.trim().toLowerCase();
    let shown = 0;
    for (const button of $("palette").children) {
      const c = state.info.classes[Number(button.dataset.class)];
      const match = !text || c.name.toLowerCase().includes(text) || String(c.id) === text;
      button.hidden = !match;
      if (match) shown += 1;
    }
    $("class-search-none").hidden = shown > 0;
    return shown;
  }

  function setupClassSearch(classes) {
    if (classes.length <= LONG_TABLE) return;
    $("palette").classList.add("long");
    $("palette").closest(".palette-panel").classList.add("long"); // room for the scrollbar and long names
    const search = $("class-search");
    search.hidden = false;
    search.placeholder = `Find one of ${classes.length} classes…`;
    search.addEventListener("input", () => filterPalette(search.value));
    search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        const first = [...$("palette").children].find((button) => !button.hidden);
        if (first) selectClass(Number(first.dataset.class));
      } else if (event.key === "Escape") {
        search.value = "";
        filterPalette("");
      }
    });
  }

  function clearTo(id) {
    pushUndo();
    state.ids.fill(id);
    redraw();
    changed();
    scheduleLive();
  }

  function rgb(color) {
    return `rgb(${color[0]}, ${color[1]}, ${color[2]})`;
  }

  // ---- label map files -------------------------------------------------------------------------

  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    let c = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 255] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  function adler32(bytes) {
    let a = 1;
    let b = 0;
    for (let i = 0; i < bytes.length; i += 4096) {
      const end = Math.min(bytes.length, i + 4096);
      for (let j = i; j < end; j++) {
        a += bytes[j];
        b += a;
      }
      a %= 65521;
      b %= 65521;
    }
    return ((b << 16) | a) >>> 0;
  }

  async function zlibCompress(raw) {
    if (typeof CompressionStream === "function") {
      try {
        const stream = new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate"));
        return new Uint8Array(await new Response(stream).arrayBuffer());
      } catch (e) {
        /* fall back to stored blocks */
      }
    }
    const blocks = Math.max(1, Math.ceil(raw.length / 65535));
    const out = new Uint8Array(2 + raw.length + blocks * 5 + 4);
    out[0] = 0x78;
    out[1] = 0x01;
    let o = 2;
    for (let i = 0; i < blocks; i++) {
      const start = i * 65535;
      const length = Math.min(65535, raw.length - start);
      out[o++] = i === blocks - 1 ? 1 : 0;
      out[o++] = length & 255;
      out[o++] = length >>> 8;
      out[o++] = ~length & 255;
      out[o++] = (~length >>> 8) & 255;
      out.set(raw.subarray(start, start + length), o);
      o += length;
    }
    const sum = adler32(raw);
    out[o++] = sum >>> 24;
    out[o++] = (sum >>> 16) & 255;
    out[o++] = (sum >>> 8) & 255;
    out[o++] = sum & 255;
    return out;
  }

  function pngChunk(type, data) {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
    out.set(data, 8);
    view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  }

  // ids -> an 8-bit grayscale PNG whose pixel values are the class ids.
  async function encodeLabelPNG() {
    const { W, H, ids } = state;
    const raw = new Uint8Array((W + 1) * H); // each row: filter byte 0, then the ids
    for (let y = 0; y < H; y++) raw.set(ids.subarray(y * W, (y + 1) * W), y * (W + 1) + 1);
    const header = new Uint8Array(13);
    const view = new DataView(header.buffer);
    view.setUint32(0, W);
    view.setUint32(4, H);
    header[8] = 8; // bit depth
    header[9] = 0; // colour type: grayscale
    const parts = [
      new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
      pngChunk("IHDR", header),
      pngChunk("IDAT", await zlibCompress(raw)),
      pngChunk("IEND", new Uint8Array(0)),
    ];
    return new Blob(parts, { type: "image/png" });
  }

  function tooLarge(file) {
    const limit = state.info.max_upload_bytes;
    if (file.size <= limit) return null;
    return `${file.name}: ${(file.size / 1048576).toFixed(1)} MB is too large; the limit is ${(limit / 1048576).toFixed(1)} MB`;
  }

  async function uploadLabel(file) {
    const problem = tooLarge(file);
    if (problem) return showError(problem);
    setStatus(`reading ${file.name}…`);
    try {
      const response = await fetch(`/api/decode-label?name=${encodeURIComponent(file.name)}`, {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: file,
      });
      if (!response.ok) throw new Error(await errorMessage(response));
      const payload = await response.json();
      const bytes = Uint8Array.from(atob(payload.ids), (c) => c.charCodeAt(0));
      if (bytes.length !== state.W * state.H) throw new Error("the server returned a label map of the wrong size");
      pushUndo();
      state.ids = bytes;
      redraw();
      changed();
      hideError();
      const [h, w] = payload.source_size;
      setStatus(payload.resized ? `loaded ${file.name} (${w}×${h}, resized to ${state.W}×${state.H})` : `loaded ${file.name}`);
      scheduleLive();
    } catch (error) {
      setStatus("");
      showError(error.message);
    }
  }

  async function downloadLabel() {
    const blob = await encodeLabelPNG();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "label.png";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  // ---- style photo -----------------------------------------------------------------------------

  function setStyle(file) {
    if (state.styleURL) URL.revokeObjectURL(state.styleURL);
    state.styleFile = file;
    state.styleURL = file ? URL.createObjectURL(file) : null;
    const thumb = $("style-thumb");
    if (file) thumb.src = state.styleURL;
    else thumb.removeAttribute("src");
    thumb.hidden = !file;
    $("style-clear").hidden = !file;
    $("style-file").value = "";
  }

  // ---- rendering -------------------------------------------------------------------------------

  function scheduleLive() {
    if (!$("live").checked) return;
    if (state.liveTimer !== null) clearTimeout(state.liveTimer);
    state.liveTimer = setTimeout(() => {
      state.liveTimer = null;
      render("preview");
    }, LIVE_DELAY_MS);
    updateActivity();
  }

  // quality "preview": the live render while painting, by the preview model (a distilled student)
  // when the server has one; "full": the Render button, by the full model.
  async function render(quality = "full") {
    if (state.liveTimer !== null) {
      clearTimeout(state.liveTimer);
      state.liveTimer = null;
    }
    if (!state.ids) return;
    if (state.busy) {
      if (!state.pending) state.pendingQuality = quality;
      else if (quality === "full") state.pendingQuality = "full";
      state.pending = true; // render again with the newest ids once this one is back
      updateActivity();
      return;
    }
    if (state.info.uses_style && !state.styleFile) {
      showError("This model needs a style photo: choose one under “Style photo”.");
      updateActivity();
      return;
    }
    state.busy = true;
    state.pending = false;
    updateActivity();
    const revision = state.revision;
    const seed = readSeed();
    const started = performance.now();
    try {
      const form = new FormData();
      form.append("label", await encodeLabelPNG(), "label.png");
      if (state.styleFile) form.append("style", state.styleFile, state.styleFile.name);
      form.append("seed", String(seed));
      form.append("quality", quality);
      const stopWatching = watchSampling(form, quality === "preview"); // a diffusion model samples live renders in fewer steps
      const response = await fetch("/api/render", { method: "POST", body: form }).finally(stopWatching);
      if (!response.ok) throw new Error(await errorMessage(response));
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const photo = $("photo");
      await new Promise((resolve, reject) => {
        photo.onload = resolve;
        photo.onerror = () => reject(new Error("the server's photo could not be shown"));
        photo.src = url;
      });
      if (state.photoURL) URL.revokeObjectURL(state.photoURL);
      state.photoURL = url;
      state.renders += 1;
      photo.dataset.renders = String(state.renders);
      photo.dataset.revision = String(revision);
      photo.dataset.seed = String(seed);
      const used = response.headers.get("X-Render-Quality") || "full";
      photo.dataset.quality = used;
      $("photo-empty").hidden = true;
      const link = $("download-photo");
      link.href = url;
      link.download = `paintscape-seed${seed}.png`;
      link.classList.remove("disabled");
      const model = Number(response.headers.get("X-Render-Seconds") || 0);
      const total = (performance.now() - started) / 1000;
      photo.dataset.seconds = String(model);
      const which = used === "preview" ? "preview (student)" : state.info.preview ? "full model" : "model";
      setStatus(`seed ${seed} · ${which} ${model.toFixed(2)} s · round trip ${total.toFixed(2)} s`);
      hideError();
    } catch (error) {
      showError(error.message || String(error));
      setStatus("");
    } finally {
      state.busy = false;
      if (state.pending) {
        state.pending = false;
        render(state.pendingQuality);
      } else {
        updateActivity();
      }
    }
  }

  // ---- diffusion models: live renders in fewer steps, the sampling step while a render runs ------

  function watchSampling(form, live) {
    const sampler = state.info.sampler;
    if (!sampler) return () => {};
    form.append("steps", String(live ? sampler.live_steps : sampler.steps));
    const text = $("busy-progress");
    let stopped = false;
    async function poll() {
      if (stopped) return;
      try {
        const progress = await (await fetch("/api/progress")).json();
        if (!stopped && progress.rendering) text.textContent = ` step ${progress.step}/${progress.total}`;
      } catch (e) {
        /* the render's own request reports errors */
      }
      if (!stopped) setTimeout(poll, PROGRESS_POLL_MS);
    }
    setTimeout(poll, PROGRESS_POLL_MS);
    return () => {
      stopped = true;
      text.textContent = "";
    };
  }

  function readSeed() {
    const input = $("seed");
    let seed = Number.parseInt(input.value, 10);
    if (!Number.isFinite(seed) || seed < 0) seed = 0;
    seed = Math.min(seed, 2147483647);
    input.value = String(seed);
    return seed;
  }

  // ---- set-up ----------------------------------------------------------------------------------

  function buildPalette(classes) {
    const palette = $("palette");
    const clearSelect = $("clear-class");
    for (const c of classes) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.class = String(c.id);
      button.setAttribute("role", "option");
      button.title = `${c.name} (id ${c.id})`;
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.style.background = rgb(c.color);
      const name = document.createElement("span");
      name.textContent = c.name;
      const id = document.createElement("span");
      id.className = "id";
      id.textContent = String(c.id);
      button.append(chip, name, id);
      button.addEventListener("click", () => selectClass(c.id));
      palette.appendChild(button);
      const option = document.createElement("option");
      option.value = String(c.id);
      option.textContent = c.name;
      clearSelect.appendChild(option);
    }
  }

  function setupStyleBox(info) {
    const box = $("style-box");
    const note = $("style-note");
    if (info.uses_style) {
      box.classList.add("required");
      note.textContent = "this model paints in the style of a reference photo";
    } else if (info.has_encoder) {
      note.textContent = "optional: steers colours and mood";
    } else {
      box.classList.add("unused");
      note.textContent = "this model takes no style photo";
      $("style-button").classList.add("disabled");
      $("style-file").disabled = true;
    }
  }

  function bind() {
    canvas.addEventListener("pointerdown", onPointerDown);
    canvas.addEventListener("pointermove", onPointerMove);
    canvas.addEventListener("pointerup", onPointerUp);
    canvas.addEventListener("pointercancel", onPointerUp);
    canvas.addEventListener("pointerleave", () => drawCursor(null));
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    for (const button of document.querySelectorAll("button.tool")) {
      button.addEventListener("click", () => setTool(button.dataset.tool));
    }
    $("brush-size").addEventListener("input", (e) => setBrushSize(Number(e.target.value)));
    $("undo").addEventListener("click", () => restore(state.undo, state.redo));
    $("redo").addEventListener("click", () => restore(state.redo, state.undo));
    $("clear").addEventListener("click", () => clearTo(Number($("clear-class").value)));
    $("render").addEventListener("click", () => render());
    $("another").addEventListener("click", () => {
      $("seed").value = String(Math.floor(Math.random() * 2147483647));
      render();
    });
    $("seed").addEventListener("change", () => scheduleLive());
    $("label-file").addEventListener("change", (e) => {
      const file = e.target.files[0];
      e.target.value = "";
      if (file) uploadLabel(file);
    });
    $("download-label").addEventListener("click", () => downloadLabel());
    $("style-file").addEventListener("change", (e) => {
      const file = e.target.files[0];
      if (!file) return;
      const problem = tooLarge(file);
      if (problem) {
        e.target.value = "";
        return showError(problem);
      }
      setStyle(file);
      hideError();
      scheduleLive();
    });
    $("style-clear").addEventListener("click", () => {
      setStyle(null);
      scheduleLive();
    });
    window.addEventListener("resize", () => drawCursor(null));
    document.addEventListener("keydown", onKey);
  }

  function onKey(event) {
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) {
      if (!(target.type === "checkbox" || target.type === "range")) return;
    }
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z") {
      event.preventDefault();
      if (event.shiftKey) restore(state.redo, state.undo);
      else restore(state.undo, state.redo);
    } else if ((event.ctrlKey || event.metaKey) && key === "y") {
      event.preventDefault();
      restore(state.redo, state.undo);
    } else if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    } else if (key === "b") setTool("brush");
    else if (key === "f") setTool("fill");
    else if (key === "i") setTool("pick");
    else if (key === "[") setBrushSize(state.size - Math.max(1, Math.round(state.size / 6)));
    else if (key === "]") setBrushSize(state.size + Math.max(1, Math.round(state.size / 6)));
    else if (key === "enter" && target.tagName !== "BUTTON") render();
  }

  async function init() {
    updateActivity();
    let info;
    try {
      const response = await fetch("/api/info");
      if (!response.ok) throw new Error(await errorMessage(response));
      info = await response.json();
    } catch (error) {
      $("model-info").textContent = "no model";
      showError(`Cannot reach the paintscape server: ${error.message}`);
      return;
    }
    state.info = info;
    state.W = info.width;
    state.H = info.height;
    for (const c of info.classes) state.lut.set(c.color, c.id * 3);
    canvas.width = state.W;
    canvas.height = state.H;
    // Shown at an integer zoom when the model is small; the CSS keeps it inside its panel.
    const zoom = Math.max(1, Math.floor(512 / state.W));
    for (const wrap of [$("canvas-wrap"), $("photo-wrap")]) {
      wrap.style.aspectRatio = `${state.W} / ${state.H}`;
      wrap.style.maxWidth = `${state.W * zoom}px`;
    }
    state.image = ctx.createImageData(state.W, state.H);
    const sky = info.classes.findIndex((c) => c.name === "sky");
    const fill = sky >= 0 ? sky : 0;
    state.ids = new Uint8Array(state.W * state.H).fill(fill);
    buildPalette(info.classes);
    setupClassSearch(info.classes);
    $("clear-class").value = String(fill);
    setupStyleBox(info);
    selectClass(info.classes.findIndex((c) => c.name === "mountain") >= 0 ? info.classes.findIndex((c) => c.name === "mountain") : 0);
    setBrushSize(Math.max(2, Math.round(state.W / 24)));
    setTool("brush");
    redraw();
    bind();
    updateUndoButtons();
    const style = info.uses_style ? "needs a style photo" : info.has_encoder ? "style photo optional" : "no style photo";
    $("model-info").textContent = `${info.model} · ${info.width}×${info.height} · ${info.device} · ${style}`;
    if (info.z_dim === 0 && !info.has_encoder) $("another").title = "This model draws no random latent: other seeds may look the same";
    window.paintscapePage = { info, labelPNG: encodeLabelPNG, seed: readSeed }; // what resample.js uses
    document.dispatchEvent(new Event("paintscape:ready"));
    document.body.dataset.ready = "1";
    updateActivity();
  }

  init();
})();
