// The digit page: a drawing canvas (mouse, pen and touch through Pointer Events), an upload
// alternative, and a result view that shows what the model saw and how sure it was.

import { ApiError, CorrectionForm, el, formatPercent, LatestRequest, loadModelCards, modelAccuracy, recognizeImage, showError } from './common.js';

const TASK = 'digit';

// Logical canvas sizes (CSS pixels at full size). The image sent to the API is rendered at
// exactly this size, whatever the screen's pixel ratio, so the boxes the API returns are in
// these units and the same drawing gives the same upload (and a cache hit) on every screen.
const SIZES = {
  wide: { width: 560, height: 280 },
  square: { width: 280, height: 280 },
};
// The pen follows the canvas: one MNIST pixel of the canvas's shorter side taken as MNIST's 28 px
// frame (10 px on a 280 px canvas), so a digit that fills the canvas has about MNIST's stroke and
// a small one is still open. A fixed 16 px pen filled a small digit's loops: a 3 or 5 drawn 45 px
// tall came out as a blot read "1".
const PEN_PER_CANVAS = 1 / 28;
const MIN_PEN_WIDTH = 4;
const INK = '#000000';
const PAPER = '#ffffff';
const MAX_PREVIEW_SIDE = 900;

const $ = (id) => document.getElementById(id);
const canvas = $('canvas');
const overlay = $('overlay');
const frame = $('canvas-frame');
const hint = $('canvas-hint');
const modelSelect = $('model');
const modelInfo = $('model-info');
const recognizeButton = $('recognize');
const undoButton = $('undo');
const clearButton = $('clear');
const uploadInput = $('upload');
const errorBox = $('error');
const resultBox = $('result');

const ctx = canvas.getContext('2d');
const overlayCtx = overlay.getContext('2d');

let size = SIZES.wide;
let pixelRatio = 1;
/** @type {{x: number, y: number}[][]} strokes in logical pixels, oldest first */
let strokes = [];
let activePointer = null;
let drawingVersion = 0; // bumped on every change to the drawing, so stale boxes are not drawn
let modelCards = new Map();
const requests = new LatestRequest(setBusy); // one recognize request at a time
const correction = new CorrectionForm($('correction'), TASK);

// ---------------------------------------------------------------- drawing

function setupCanvas() {
  pixelRatio = Math.min(Math.max(window.devicePixelRatio || 1, 1), 3);
  for (const target of [canvas, overlay]) {
    target.width = Math.round(size.width * pixelRatio);
    target.height = Math.round(size.height * pixelRatio);
  }
  ctx.setTransform(pixelRatio, 0, 0, pixelRatio, 0, 0);
  overlayCtx.setTransform(pixelRatio, 0, 0, pixelRatio, 0, 0);
  renderStrokes(ctx, strokes);
  clearOverlay();
}

/** The pen's width in logical pixels for the current canvas size. */
function penWidth() {
  return Math.max(MIN_PEN_WIDTH, Math.round(Math.min(size.width, size.height) * PEN_PER_CANVAS));
}

function applyPen(target) {
  target.strokeStyle = INK;
  target.fillStyle = INK;
  target.lineWidth = penWidth();
  target.lineCap = 'round';
  target.lineJoin = 'round';
}

/** Paint the paper and every stroke onto a 2D context whose units are logical pixels. */
function renderStrokes(target, list) {
  target.save();
  target.fillStyle = PAPER;
  target.fillRect(0, 0, size.width, size.height);
  applyPen(target);
  for (const stroke of list) {
    if (stroke.length === 1) {
      dot(target, stroke[0]);
      continue;
    }
    target.beginPath();
    target.moveTo(stroke[0].x, stroke[0].y);
    for (const point of stroke.slice(1)) target.lineTo(point.x, point.y);
    target.stroke();
  }
  target.restore();
}

function dot(target, point) {
  target.beginPath();
  target.arc(point.x, point.y, penWidth() / 2, 0, Math.PI * 2);
  target.fill();
}

function toLogical(event) {
  const rect = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) / rect.width) * size.width,
    y: ((event.clientY - rect.top) / rect.height) * size.height,
  };
}

function onPointerDown(event) {
  if (!event.isPrimary) return;
  if (activePointer !== null && activePointer !== event.pointerId && canvas.hasPointerCapture?.(activePointer)) return;
  if (event.pointerType === 'mouse' && event.button !== 0) return;
  event.preventDefault();
  activePointer = event.pointerId;
  canvas.setPointerCapture?.(event.pointerId);
  const point = toLogical(event);
  strokes.push([point]);
  ctx.save();
  applyPen(ctx);
  dot(ctx, point);
  ctx.restore();
  clearOverlay();
  updateDrawingState();
}

function onPointerMove(event) {
  if (event.pointerId !== activePointer) return;
  event.preventDefault();
  const stroke = strokes[strokes.length - 1];
  const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : [];
  ctx.save();
  applyPen(ctx);
  ctx.beginPath();
  let last = stroke[stroke.length - 1];
  ctx.moveTo(last.x, last.y);
  for (const sample of events.length ? events : [event]) {
    const point = toLogical(sample);
    if (Math.abs(point.x - last.x) < 0.5 && Math.abs(point.y - last.y) < 0.5) continue;
    stroke.push(point);
    ctx.lineTo(point.x, point.y);
    last = point;
  }
  ctx.stroke();
  ctx.restore();
}

function onPointerEnd(event) {
  if (event.pointerId !== activePointer) return;
  activePointer = null;
  if (canvas.hasPointerCapture?.(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
}

function updateDrawingState() {
  drawingVersion += 1;
  const empty = strokes.length === 0;
  hint.hidden = !empty;
  undoButton.disabled = empty;
}

function clearOverlay() {
  overlayCtx.clearRect(0, 0, size.width, size.height);
}

/**
 * Outline the digits the API found, labelled with what was read. `scale` maps the API's box
 * coordinates to the target's pixels; `unit` is how many target pixels one CSS pixel shows.
 */
function drawBoxes(target, digits, { scale = 1, unit = 1 } = {}) {
  const accent = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#2563eb';
  const danger = getComputedStyle(document.documentElement).getPropertyValue('--danger').trim() || '#dc2626';
  target.save();
  target.lineWidth = 1.5 * unit;
  target.font = `600 ${Math.round(13 * unit)}px system-ui, sans-serif`;
  target.textBaseline = 'bottom';
  for (const digit of digits) {
    if (!Array.isArray(digit.box) || digit.box.length !== 4) continue;
    const [x0, y0, x1, y1] = digit.box.map((v) => v * scale);
    const colour = digit.rejected ? danger : accent;
    target.strokeStyle = colour;
    target.setLineDash([6 * unit, 4 * unit]);
    target.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const label = digit.rejected ? `${digit.digit}?` : String(digit.digit);
    const width = target.measureText(label).width + 8 * unit;
    const height = 17 * unit;
    const top = Math.max(0, y0 - height);
    target.setLineDash([]);
    target.fillStyle = colour;
    target.fillRect(x0, top, width, height);
    target.fillStyle = '#ffffff';
    target.fillText(label, x0 + 4 * unit, top + height - 2 * unit);
  }
  target.restore();
}

function exportDrawing() {
  const exportCanvas = document.createElement('canvas');
  exportCanvas.width = size.width;
  exportCanvas.height = size.height;
  renderStrokes(exportCanvas.getContext('2d'), strokes);
  return new Promise((resolve, reject) => {
    exportCanvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('Could not export the drawing.'))), 'image/png');
  });
}

function clearDrawing() {
  strokes = [];
  activePointer = null;
  renderStrokes(ctx, strokes);
  clearOverlay();
  updateDrawingState();
}

function undo() {
  strokes.pop();
  renderStrokes(ctx, strokes);
  clearOverlay();
  updateDrawingState();
}

function setCanvasSize(name) {
  const next = SIZES[name] || SIZES.wide;
  if (next === size) return;
  size = next;
  frame.classList.toggle('is-wide', name === 'wide');
  frame.classList.toggle('is-square', name !== 'wide');
  strokes = [];
  setupCanvas();
  updateDrawingState();
}

// ---------------------------------------------------------------- recognition

async function recognize(blob, filename, source) {
  const version = drawingVersion;
  clearOverlay();
  const started = performance.now();
  try {
    await requests.run(async (signal) => {
      const data = await recognizeImage(TASK, blob, filename, { model: modelSelect.value, signal });
      if (signal.aborted) return;
      showError(errorBox, null);
      renderResult(data, source, performance.now() - started);
      correction.show(blob, filename, data);
      if (source.kind === 'canvas') {
        if (version === drawingVersion) drawBoxes(overlayCtx, data.result?.digits || []);
      } else {
        await showUploadPreview(source.file, data.result?.digits || [], signal);
      }
    });
  } catch (err) {
    resetResult();
    const hintText =
      err instanceof ApiError && err.code === 'empty_image' && source.kind === 'canvas'
        ? 'Draw a digit on the canvas first.'
        : '';
    showError(errorBox, err, hintText);
  }
}

async function recognizeDrawing() {
  let blob;
  try {
    blob = await exportDrawing();
  } catch (err) {
    showError(errorBox, err);
    return;
  }
  await recognize(blob, 'drawing.png', { kind: 'canvas', label: 'drawing' });
}

async function recognizeFile(file) {
  if (!file) return;
  await recognize(file, file.name || 'upload', { kind: 'upload', label: file.name || 'uploaded image', file });
}

function setBusy(busy) {
  resultBox.setAttribute('aria-busy', String(busy));
  recognizeButton.disabled = busy;
  recognizeButton.textContent = busy ? 'Recognizing…' : 'Recognize';
  document.body.classList.toggle('is-busy', busy);
}

function resetResult() {
  correction.hide();
  clearTimeout(announceTimer);
  $('result-announce').textContent = '';
  $('result-placeholder').hidden = false;
  $('result-main').hidden = true;
  $('upload-preview').hidden = true;
  $('digits-heading').hidden = true;
  $('digits').replaceChildren();
  $('result-text').textContent = '';
  $('result-confidence').textContent = '';
}

function renderResult(data, source, roundTripMs) {
  const result = data.result || {};
  const digits = Array.isArray(result.digits) ? result.digits : [];
  const rejected = Boolean(result.rejected);

  $('result-placeholder').hidden = true;
  $('result-main').hidden = false;
  $('result-main').classList.toggle('is-rejected', rejected);

  const status = $('result-status');
  const text = $('result-text');
  const confidence = $('result-confidence');
  const reason = $('result-reason');
  if (rejected) {
    status.hidden = false;
    status.textContent = 'Unreadable';
    text.textContent = result.text ? markUnsure(digits, result.text) : '?';
    confidence.textContent = `Only a guess: ${formatPercent(result.confidence)} confidence`;
    reason.hidden = false;
    reason.textContent = result.reject_reason ? `Why: ${result.reject_reason}.` : 'The model is not sure enough of this reading.';
  } else {
    status.hidden = true;
    text.textContent = result.text ?? '';
    confidence.textContent = `${formatPercent(result.confidence)} confidence`;
    reason.hidden = true;
  }

  const model = data.model || {};
  $('result-model').textContent = [model.name, model.version ? `v${model.version}` : ''].filter(Boolean).join(' ');
  $('result-cached').textContent = data.cached ? 'yes' : 'no';
  const elapsed = typeof data.elapsed_ms === 'number' ? `${data.elapsed_ms.toFixed(1)} ms` : '–';
  $('result-elapsed').textContent = elapsed;
  $('result-elapsed').title = `Server time ${elapsed}; round trip ${Math.round(roundTripMs)} ms`;
  $('result-source').textContent = source.label;

  $('upload-preview').hidden = true;
  $('digits-heading').hidden = digits.length === 0;
  $('digits').replaceChildren(...digits.map((digit, index) => digitCard(digit, index, digits.length)));

  // One short sentence for screen readers, not the whole result with its charts.
  announce(
    rejected
      ? `Unreadable. Best guess ${result.text || 'none'}, ${formatPercent(result.confidence)} confidence. ${result.reject_reason || ''}`
      : `Read ${result.text}, ${formatPercent(result.confidence)} confidence, model ${model.name || 'default'}.`,
  );
}

let announceTimer = 0;

function announce(message) {
  const region = $('result-announce');
  region.textContent = '';
  clearTimeout(announceTimer);
  // Set after a tick, so screen readers also repeat a message identical to the last one.
  announceTimer = setTimeout(() => {
    region.textContent = message;
  }, 50);
}

/** The text with each rejected digit followed by "?", e.g. "20?24". */
function markUnsure(digits, fallback) {
  if (!digits.length) return fallback;
  return digits.map((digit) => (digit.rejected ? `${digit.digit}?` : String(digit.digit))).join('');
}

function digitCard(digit, index, count) {
  const probabilities = Array.isArray(digit.probabilities) ? digit.probabilities : [];
  const winner = probabilities.length ? probabilities.indexOf(Math.max(...probabilities)) : digit.digit;
  const position = count > 1 ? `Digit ${index + 1}` : 'Digit';

  const bars = probabilities.map((probability, label) => {
    const fill = el('span', { class: 'prob-fill' });
    fill.style.height = `${Math.max(0, Math.min(1, probability)) * 100}%`;
    return el(
      'li',
      { class: label === winner ? 'prob-bar is-winner' : 'prob-bar', dataset: { class: String(label), probability: String(probability) }, title: `${label}: ${formatPercent(probability)}` },
      el('span', { class: 'prob-track', 'aria-hidden': 'true' }, fill),
      el('span', { class: 'prob-label', 'aria-hidden': 'true', text: String(label) }),
      el('span', { class: 'visually-hidden', text: `${label}: ${formatPercent(probability)}` }),
    );
  });

  const image = digit.image_png_base64
    ? el('img', {
        class: 'digit-image',
        src: `data:image/png;base64,${digit.image_png_base64}`,
        width: '28',
        height: '28',
        alt: `The 28 by 28 pixel image the model saw for ${position.toLowerCase()}`,
      })
    : null;

  return el(
    'li',
    { class: digit.rejected ? 'digit-card is-rejected' : 'digit-card', dataset: { testid: 'digit-card', digit: String(digit.digit), index: String(index) } },
    el(
      'div',
      { class: 'digit-card-head' },
      el('span', { class: 'digit-position', text: position }),
      digit.rejected ? el('span', { class: 'badge badge-bad', text: 'unsure' }) : null,
    ),
    el(
      'div',
      { class: 'digit-card-main' },
      image ? el('figure', { class: 'digit-input' }, image, el('figcaption', { class: 'visually-hidden', text: 'Model input, 28×28' })) : null,
      el(
        'div',
        { class: 'digit-reading' },
        el('span', { class: 'digit-value', text: String(digit.digit) }),
        el('span', { class: 'digit-confidence', text: formatPercent(digit.confidence) }),
      ),
    ),
    el('ol', { class: 'prob-chart', 'aria-label': 'Probability of each digit 0 to 9' }, ...bars),
  );
}

async function showUploadPreview(file, digits, signal) {
  const figure = $('upload-preview');
  const preview = $('upload-canvas');
  if (!file || typeof createImageBitmap !== 'function') return;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return; // a format the browser cannot show (e.g. TIFF): the result stands without a preview
  }
  if (signal?.aborted) {
    bitmap.close?.();
    return;
  }
  const scale = Math.min(1, MAX_PREVIEW_SIDE / Math.max(bitmap.width, bitmap.height));
  preview.width = Math.max(1, Math.round(bitmap.width * scale));
  preview.height = Math.max(1, Math.round(bitmap.height * scale));
  const target = preview.getContext('2d');
  target.drawImage(bitmap, 0, 0, preview.width, preview.height);
  bitmap.close?.();
  figure.hidden = false; // shown first, so its displayed size is known
  const shown = preview.getBoundingClientRect().width || preview.width;
  drawBoxes(target, digits, { scale, unit: Math.max(1, preview.width / shown) });
}

// ---------------------------------------------------------------- models

function describeSelectedModel() {
  const card = modelCards.get(modelSelect.value);
  if (!card) {
    modelInfo.textContent = '';
    return;
  }
  const accuracy = modelAccuracy(card);
  const samples = card.metrics?.test_samples;
  const measured = accuracy
    ? `Accuracy ${formatPercent(accuracy[1], 2)}${accuracy[0] ? ` on ${accuracy[0]}` : ''}${typeof samples === 'number' ? ` (${samples.toLocaleString('en')} images)` : ''}.`
    : 'No measured accuracy yet.';
  modelInfo.textContent = [card.description?.replace(/\.?$/, '.'), measured].filter(Boolean).join(' ');
}

async function loadModels() {
  await loadModelCards(modelSelect, TASK, {
    errorBox,
    info: modelInfo,
    unavailable: 'The digit recognizer is unavailable at the moment; recognition may fail.',
    describe: (loaded) => {
      modelCards = loaded;
      describeSelectedModel();
    },
  });
}

// ---------------------------------------------------------------- wiring

canvas.addEventListener('pointerdown', onPointerDown);
canvas.addEventListener('pointermove', onPointerMove);
canvas.addEventListener('pointerup', onPointerEnd);
canvas.addEventListener('pointercancel', onPointerEnd);
canvas.addEventListener('lostpointercapture', onPointerEnd);
canvas.addEventListener('contextmenu', (event) => event.preventDefault());

recognizeButton.addEventListener('click', recognizeDrawing);
undoButton.addEventListener('click', undo);
clearButton.addEventListener('click', () => {
  requests.cancel();
  clearDrawing();
  resetResult();
  showError(errorBox, null);
});
uploadInput.addEventListener('change', () => {
  const file = uploadInput.files?.[0];
  uploadInput.value = ''; // choosing the same file again should recognize it again
  recognizeFile(file);
});
modelSelect.addEventListener('change', describeSelectedModel);

for (const radio of document.querySelectorAll('input[name="canvas-size"]')) {
  radio.addEventListener('change', () => radio.checked && setCanvasSize(radio.value));
}

// Dropping an image file on the drawing area recognizes it like an upload.
frame.addEventListener('dragover', (event) => {
  if ([...(event.dataTransfer?.types || [])].includes('Files')) {
    event.preventDefault();
    frame.classList.add('is-dragover');
  }
});
frame.addEventListener('dragleave', () => frame.classList.remove('is-dragover'));
frame.addEventListener('drop', (event) => {
  event.preventDefault();
  frame.classList.remove('is-dragover');
  recognizeFile(event.dataTransfer?.files?.[0]);
});

// Ctrl/Cmd+Enter recognizes, Ctrl/Cmd+Z undoes the last stroke (outside text fields).
document.addEventListener('keydown', (event) => {
  if (!(event.ctrlKey || event.metaKey)) return;
  if (event.key === 'Enter') {
    event.preventDefault();
    recognizeDrawing();
  } else if (event.key.toLowerCase() === 'z' && !event.shiftKey && !(event.target instanceof HTMLInputElement)) {
    event.preventDefault();
    if (strokes.length) undo();
  }
});

// A new pixel ratio (browser zoom, moving to another screen) needs a new backing store.
window.addEventListener('resize', () => {
  if (Math.min(Math.max(window.devicePixelRatio || 1, 1), 3) !== pixelRatio) setupCanvas();
});

// On a phone a 2:1 canvas is too short to write on comfortably: start with the square one there.
if (window.matchMedia?.('(max-width: 480px)').matches) {
  $('size-square').checked = true;
  setCanvasSize('square');
}
setupCanvas();
updateDrawingState();
loadModels();
