// Region re-sampling on the painting page (models with per-pixel noise, e.g. OASIS): mark a region
// on the photo, then draw new noise there only. The server composites the new render inside the
// region onto the photo shown, so pixels outside it stay exactly as they were. Talks to app.js
// only through window.paintscapePage (labelPNG(), seed()), which app.js sets once it is ready.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const region = { W: 0, H: 0, mask: null, drawing: false, last: null, busy: false, count: 0, urls: [] };
  window.paintscapeRegion = region; // tests read the mask

  function brush() {
    return Math.max(2, Math.round(region.W / 12));
  }

  function paintDisc(cx, cy) {
    const r = brush() / 2;
    for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(region.H - 1, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(region.W - 1, Math.ceil(cx + r)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) region.mask[y * region.W + x] = 1;
      }
    }
  }

  function drawOverlay() {
    const overlay = $("region-canvas");
    const context = overlay.getContext("2d");
    const image = context.createImageData(region.W, region.H);
    for (let i = 0; i < region.mask.length; i++) {
      if (region.mask[i]) image.data.set([236, 72, 153, 110], i * 4);
    }
    context.putImageData(image, 0, 0);
    $("region-resample").disabled = region.busy || !region.mask.some((v) => v) || !$("photo").getAttribute("src");
  }

  function point(event) {
    const box = $("region-canvas").getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * region.W - 0.5, ((event.clientY - box.top) / box.height) * region.H - 0.5];
  }

  function strokeTo([x, y]) {
    const [x0, y0] = region.last || [x, y];
    const steps = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0)));
    for (let i = 0; i <= steps; i++) paintDisc(x0 + ((x - x0) * i) / steps, y0 + ((y - y0) * i) / steps);
    region.last = [x, y];
    drawOverlay();
  }

  function setMarking(on) {
    $("region-canvas").classList.toggle("marking", on);
    $("region-mark").classList.toggle("active", on);
  }

  async function toBase64(blob) {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }

  // The photo shown, as PNG bytes (drawn, not fetched: the page's content policy allows no fetch of blob: URLs).
  function photoPNG() {
    const photo = $("photo");
    const scratch = document.createElement("canvas");
    scratch.width = photo.naturalWidth;
    scratch.height = photo.naturalHeight;
    scratch.getContext("2d").drawImage(photo, 0, 0);
    return new Promise((resolve) => scratch.toBlob(resolve, "image/png"));
  }

  function maskPNG() {
    const scratch = document.createElement("canvas");
    scratch.width = region.W;
    scratch.height = region.H;
    const context = scratch.getContext("2d");
    const image = context.createImageData(region.W, region.H);
    for (let i = 0; i < region.mask.length; i++) {
      const v = region.mask[i] ? 255 : 0;
      image.data.set([v, v, v, 255], i * 4);
    }
    context.putImageData(image, 0, 0);
    return new Promise((resolve) => scratch.toBlob(resolve, "image/png"));
  }

  async function resample() {
    const photo = $("photo");
    if (region.busy || !photo.getAttribute("src")) return;
    region.busy = true;
    drawOverlay();
    const page = window.paintscapePage;
    const regionSeed = Math.floor(Math.random() * 2147483647);
    try {
      const body = {
        label: await toBase64(await page.labelPNG()),
        mask: await toBase64(await maskPNG()),
        base: await toBase64(await photoPNG()),
        seed: page.seed(),
        region_seed: regionSeed,
      };
      const response = await fetch("/api/resample", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        let message = `${response.status} ${response.statusText}`;
        try {
          message = (await response.json()).error || message;
        } catch (_) {}
        throw new Error(message);
      }
      const url = URL.createObjectURL(await response.blob());
      await new Promise((resolve, reject) => {
        photo.onload = resolve;
        photo.onerror = () => reject(new Error("the re-sampled photo could not be shown"));
        photo.src = url;
      });
      region.urls.push(url);
      region.count += 1;
      photo.dataset.resamples = String(region.count);
      photo.dataset.regionSeed = String(regionSeed);
      const link = $("download-photo");
      link.href = url;
      $("status").textContent = `region re-sampled (noise seed ${regionSeed}) · ${response.headers.get("X-Render-Seconds")} s`;
      $("error").hidden = true;
    } catch (error) {
      $("error").textContent = error.message || String(error);
      $("error").hidden = false;
    } finally {
      region.busy = false;
      drawOverlay();
    }
  }

  function build(info) {
    region.W = info.width;
    region.H = info.height;
    region.mask = new Uint8Array(region.W * region.H);
    const overlay = document.createElement("canvas");
    overlay.id = "region-canvas";
    overlay.width = region.W;
    overlay.height = region.H;
    overlay.setAttribute("aria-label", "region to re-sample");
    $("photo-wrap").appendChild(overlay);
    const group = document.createElement("div");
    group.className = "group region-group";
    group.innerHTML =
      '<button id="region-mark" title="Mark a region on the photo to re-sample">Mark region</button>' +
      '<button id="region-resample" title="New noise inside the marked region; the rest stays" disabled>Re-sample region</button>' +
      '<button id="region-clear" title="Unmark the region">Clear region</button>';
    $("photo-wrap").parentElement.querySelector(".toolbar").appendChild(group);
    $("region-mark").addEventListener("click", () => setMarking(!overlay.classList.contains("marking")));
    $("region-resample").addEventListener("click", () => resample());
    $("region-clear").addEventListener("click", () => {
      region.mask.fill(0);
      drawOverlay();
    });
    overlay.addEventListener("pointerdown", (event) => {
      if (!overlay.classList.contains("marking")) return;
      overlay.setPointerCapture(event.pointerId);
      region.drawing = true;
      region.last = null;
      strokeTo(point(event));
    });
    overlay.addEventListener("pointermove", (event) => region.drawing && strokeTo(point(event)));
    for (const name of ["pointerup", "pointercancel"]) overlay.addEventListener(name, () => (region.drawing = false));
    $("photo").addEventListener("load", () => drawOverlay());
    drawOverlay();
  }

  async function init() {
    // app.js announces itself when the page is ready; only models with per-pixel noise get the tools.
    await new Promise((resolve) => {
      if (window.paintscapePage) resolve();
      else document.addEventListener("paintscape:ready", resolve, { once: true });
    });
    const info = window.paintscapePage.info;
    if (info.can_resample) build(info);
  }

  init();
})();
