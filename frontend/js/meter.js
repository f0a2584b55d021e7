// The water-meter page: a photo (upload or drag and drop) read by the meter task, shown with the
// counter window the service found outlined on it, the straightened window, the reading in large
// type and every wheel with its confidence; a wheel caught between two digits is shown rolling.

import { apiResponse, CorrectionForm, el, formatPercent, LatestRequest, loadModelCards, modelAccuracy, recognizeImage, showError } from './common.js';

const TASK = 'meter';

const $ = (id) => document.getElementById(id);
const modelSelect = $('model');
const modelInfo = $('model-info');
const wheelsSelect = $('wheels');
const recognizeButton = $('recognize');
const uploadInput = $('upload');
const dropZone = $('drop-zone');
const photo = $('photo');
const outline = $('outline');
const errorBox = $('error');
const resultBox = $('result');
const demoLink = $('demo-link');
// The service's messages name its API options; the page names its own controls instead.
const PAGE_WORDS = [
  [/mode=window/g, '"Counter only"'],
  [/mode=photo/g, '"Whole meter"'],
  [/previous_value/g, 'the previous reading'],
  [/previous_time/g, "the previous reading's time"],
  [/max_rate/g, 'the most per hour'],
];

/** A service message in the page's words: "with mode=window" -> 'with "Counter only"'. */
export function pageWords(text) {
  return PAGE_WORDS.reduce((words, [api, page]) => words.replace(api, page), String(text));
}

function showPageError(err) {
  if (err instanceof Error) err.message = pageWords(err.message);
  showError(errorBox, err);
}

const previousValue = $('previous-value');
const previousTime = $('previous-time');
const maxRate = $('max-rate');

/** The photo on screen: the file (what is sent) and its object URL (what is shown). */
let current = null;
let cards = new Map();
const requests = new LatestRequest(setBusy); // one recognize request at a time
const correction = new CorrectionForm($('correction'), TASK);
const DROP_HINT = $('drop-hint').textContent;

// ---------------------------------------------------------------- input

function selectedMode() {
  return document.querySelector('input[name="mode"]:checked')?.value || 'auto';
}

/** The request's options: only those set, as the API's field names. */
function readingOptions() {
  const chosen = { mode: selectedMode() };
  if (wheelsSelect.value) chosen.wheels = wheelsSelect.value;
  if (previousValue.value.trim()) chosen.previous_value = previousValue.value.trim();
  if (previousTime.value) {
    const when = new Date(previousTime.value); // the browser's local time, sent as UTC
    if (!Number.isNaN(when.getTime())) {
      chosen.previous_time = when.toISOString();
      // The rate is judged up to this photo's time. Sent rather than left to the server's "now",
      // which a cached answer would keep; to the minute, so reading again soon is still cached.
      const now = new Date();
      now.setSeconds(0, 0);
      chosen.time = now.toISOString();
    }
  }
  if (maxRate.value.trim()) chosen.max_rate = maxRate.value.trim();
  return chosen;
}

function setBusy(busy) {
  resultBox.setAttribute('aria-busy', String(busy));
  recognizeButton.disabled = busy || !current;
}

function showPhoto(file) {
  if (current?.url) URL.revokeObjectURL(current.url);
  current = { file, url: URL.createObjectURL(file), name: file.name || 'photo.jpg' };
  clearOutline();
  $('stage').hidden = false;
  $('drop-hint').hidden = true;
  $('drop-hint').textContent = DROP_HINT;
  photo.src = current.url;
  const caption = $('photo-caption');
  caption.textContent = `${current.name} · ${formatBytes(file.size)}`;
  caption.hidden = false;
}

function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

function upload(file) {
  if (!file) return;
  showPhoto(file);
  recognize();
}

// ---------------------------------------------------------------- request

async function recognize() {
  if (!current) return;
  const shown = current;
  showError(errorBox, null);
  try {
    await requests.run(async (signal) => {
      const options = { model: modelSelect.value, fields: readingOptions(), signal, timeoutMs: 60000 };
      const answer = await recognizeImage(TASK, shown.file, shown.name, options);
      if (!signal.aborted && current === shown) { // not if another photo was chosen meanwhile
        renderResult(answer);
        correction.show(shown.file, shown.name, answer);
      }
    });
  } catch (err) {
    clearResult();
    showPageError(err);
  }
}

// ---------------------------------------------------------------- result

function clearResult() {
  correction.hide();
  $('result-main').hidden = true;
  $('result-meta').hidden = true;
  $('result-placeholder').hidden = false;
  $('wheels-heading').hidden = true;
  $('wheel-list').replaceChildren();
  resultBox.classList.remove('is-rejected');
  clearOutline();
}

/** The wheels of a result: `digits` in the API, leftmost first. */
function wheelsOf(result) {
  return result.digits || [];
}

function renderResult(answer) {
  const { result, model } = answer;
  const wheels = wheelsOf(result);
  $('result-placeholder').hidden = true;
  $('result-main').hidden = false;
  $('result-meta').hidden = false;
  resultBox.classList.toggle('is-rejected', Boolean(result.rejected));

  const status = $('result-status');
  status.hidden = !result.rejected;
  status.textContent = result.rejected ? 'Rejected' : '';
  $('result-text').textContent = result.text || '(nothing read)';
  $('result-value').textContent = typeof result.value === 'number' ? `Value ${formatValue(result.value)}` : '';
  $('result-confidence').textContent = result.rejected
    ? `Only a guess: ${formatPercent(result.confidence)} confidence`
    : `${formatPercent(result.confidence)} confidence`;
  const reason = $('result-reason');
  reason.hidden = !result.reject_reason;
  reason.textContent = result.reject_reason ? `Why: ${result.reject_reason}` : '';
  renderPlausibility(result.plausibility);

  const crop = $('crop');
  if (result.crop_png_base64) {
    crop.src = `data:image/png;base64,${result.crop_png_base64}`;
    $('crop-figure').hidden = false;
  } else {
    crop.removeAttribute('src');
    $('crop-figure').hidden = true;
  }

  $('result-model').textContent = `${model.name} v${model.version}`;
  $('result-mode').textContent = describeMode(result);
  $('result-cached').textContent = answer.cached ? 'yes' : 'no';
  $('result-elapsed').textContent = `${answer.elapsed_ms} ms`;

  $('wheels-heading').hidden = !wheels.length;
  $('wheel-list').replaceChildren(...wheels.map((wheel, index) => renderWheel(wheel, index, wheels.length)));
  if (result.crop_png_base64) drawWheelCells(crop, wheels.length);
  drawOutline(result.corners, wheels.length, Boolean(result.rejected));

  $('result-announce').textContent = result.rejected
    ? `Rejected. Best guess ${result.text || 'nothing'}. ${result.reject_reason || ''}`
    : `Read ${result.text}, value ${formatValue(result.value)}, ${formatPercent(result.confidence)} confidence.`;
}

function formatValue(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en', { minimumFractionDigits: 1, maximumFractionDigits: 3, useGrouping: false });
}

function describeMode(result) {
  if (result.mode === 'window') return 'counter window (no search)';
  if (result.mode === 'photo') {
    const score = typeof result.window_score === 'number' ? `, window found ${formatPercent(result.window_score, 0)}` : '';
    return `whole meter${score}`;
  }
  return result.mode || '–';
}

function renderPlausibility(verdict) {
  const box = $('plausibility');
  box.classList.remove('is-ok', 'is-bad');
  if (!verdict) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  const reasons = (verdict.reasons || []).map(pageWords).join('; ');
  let text;
  if (verdict.plausible === true) {
    const delta = typeof verdict.delta === 'number' ? ` +${formatValue(verdict.delta)} since the previous reading` : '';
    const rate = typeof verdict.rate_per_hour === 'number' ? ` (${formatValue(verdict.rate_per_hour)} an hour)` : '';
    text = `Plausible:${delta}${rate}.${reasons ? ` ${reasons}.` : ''}`;
    box.classList.add('is-ok');
  } else if (verdict.plausible === false) {
    text = `Implausible: ${reasons || 'does not fit the previous reading'}.`;
    box.classList.add('is-bad');
  } else {
    text = `Not checked: ${reasons || 'nothing to compare with'}.`;
  }
  box.dataset.plausible = String(verdict.plausible);
  box.textContent = text;
  box.hidden = false;
}

function renderWheel(wheel, index, count) {
  const confidence = typeof wheel.confidence === 'number' ? wheel.confidence : 0;
  const unsure = confidence < 0.5;
  const rolling = Boolean(wheel.rolling) && wheel.next_digit !== null && wheel.next_digit !== undefined;
  const digitText = rolling ? `${wheel.digit}→${wheel.next_digit}` : String(wheel.digit);
  const detail = rolling
    ? `${digitText}, ${formatPercent(wheel.fraction, 0)}`
    : formatPercent(confidence);
  const label = rolling
    ? `Wheel ${index + 1}: rolling from ${wheel.digit} to ${wheel.next_digit}, ${formatPercent(wheel.fraction, 0)} of the way; ${formatPercent(confidence)} confidence`
    : `Wheel ${index + 1}: ${wheel.digit}, ${formatPercent(confidence)} confidence`;
  const classes = ['digit-card', 'wheel-card'];
  if (unsure) classes.push('is-rejected');
  if (rolling) classes.push('is-rolling');
  const cell = el('canvas', { class: 'wheel-cell', width: 20, height: 32, 'aria-hidden': 'true', dataset: { index: String(index), of: String(count) } });
  return el(
    'li',
    {
      class: classes.join(' '),
      'aria-label': label,
      dataset: { testid: 'wheel-card', digit: String(wheel.digit), rolling: String(rolling) },
    },
    el('div', { class: 'digit-card-head' },
      el('span', { class: 'digit-position', text: `#${index + 1}` }),
      rolling ? el('span', { class: 'wheel-state', text: 'rolling' }) : null,
      unsure ? el('span', { class: 'wheel-state is-bad', text: 'unsure' }) : null),
    el('div', { class: 'digit-card-main' }, cell, el('span', { class: 'digit-value', text: digitText })),
    el('div', { class: 'digit-reading' },
      el('span', { class: 'digit-confidence wheel-detail', text: detail }),
      rolling ? el('span', { class: 'digit-confidence', text: `${formatPercent(confidence, 0)} sure` }) : null),
  );
}

/** Each wheel card shows its own cell of the straightened window, once the crop has loaded. */
function drawWheelCells(crop, count) {
  const paint = () => {
    if (!crop.naturalWidth || !count) return;
    const width = crop.naturalWidth / count;
    for (const cell of document.querySelectorAll('#wheel-list canvas.wheel-cell')) {
      const index = Number(cell.dataset.index);
      const context = cell.getContext('2d');
      context.imageSmoothingEnabled = false;
      context.drawImage(crop, index * width, 0, width, crop.naturalHeight, 0, 0, cell.width, cell.height);
    }
  };
  if (crop.complete && crop.naturalWidth) paint();
  else crop.addEventListener('load', paint, { once: true });
}

// ---------------------------------------------------------------- outline

function clearOutline() {
  const context = outline.getContext('2d');
  context.clearRect(0, 0, outline.width, outline.height);
  delete outline.dataset.corners;
}

/**
 * The window's quadrilateral (TL, TR, BR, BL in the photo's own pixels) over the photo, with the
 * boundaries between wheels. The canvas has the photo's pixel size and is stretched with it, so
 * the corners need no scaling; only line widths are scaled to stay visible on large photos.
 */
function drawOutline(corners, wheels, rejected) {
  clearOutline();
  if (!Array.isArray(corners) || corners.length !== 4) return;
  const paint = () => {
    outline.width = photo.naturalWidth;
    outline.height = photo.naturalHeight;
    const context = outline.getContext('2d');
    const unit = Math.max(1, photo.naturalWidth / (photo.getBoundingClientRect().width || photo.naturalWidth));
    const style = getComputedStyle(document.documentElement);
    const colour = (rejected ? style.getPropertyValue('--danger') : style.getPropertyValue('--ok')).trim() || '#16a34a';
    const [tl, tr, br, bl] = corners;
    context.lineJoin = 'round';
    context.strokeStyle = 'rgb(0 0 0 / 0.55)';
    context.lineWidth = 5 * unit;
    polygon(context, corners);
    context.strokeStyle = colour;
    context.lineWidth = 3 * unit;
    polygon(context, corners);
    context.lineWidth = 1.5 * unit;
    context.setLineDash([4 * unit, 3 * unit]);
    for (let i = 1; i < wheels; i += 1) {
      const t = i / wheels;
      context.beginPath();
      context.moveTo(tl[0] + (tr[0] - tl[0]) * t, tl[1] + (tr[1] - tl[1]) * t);
      context.lineTo(bl[0] + (br[0] - bl[0]) * t, bl[1] + (br[1] - bl[1]) * t);
      context.stroke();
    }
    outline.dataset.corners = JSON.stringify(corners);
  };
  if (photo.complete && photo.naturalWidth) paint();
  else photo.addEventListener('load', paint, { once: true });
}

function polygon(context, points) {
  context.beginPath();
  points.forEach(([x, y], index) => (index ? context.lineTo(x, y) : context.moveTo(x, y)));
  context.closePath();
  context.stroke();
}

// ---------------------------------------------------------------- models and demo

function describeCard(name) {
  const card = cards.get(name);
  if (!card) {
    modelInfo.textContent = '';
    return;
  }
  const accuracy = modelAccuracy(card);
  const measured = accuracy ? `${formatPercent(accuracy[1], 2)} ${accuracy[0] || ''} accuracy.`.replace(/\s+/g, ' ') : '';
  const wheels = 'Counts 4 to 8 wheels by itself unless told.';
  modelInfo.textContent = [card.description?.replace(/\.?$/, '.'), wheels, measured].filter(Boolean).join(' ');
}

async function loadModels() {
  await loadModelCards(modelSelect, TASK, {
    errorBox,
    info: modelInfo,
    unavailable: 'The meter recognizer is unavailable at the moment; reading may fail.',
    describe: (loaded) => {
      cards = loaded;
      describeCard(modelSelect.value);
    },
  });
}

/**
 * The demo link is a plain download link; with JavaScript it is fetched first, so that a
 * recognizer that is down shows its error here instead of saving the error as a "zip".
 */
async function downloadDemo(event) {
  event.preventDefault();
  showError(errorBox, null);
  demoLink.setAttribute('aria-busy', 'true');
  try {
    const response = await apiResponse('api/v1/meter/demo', { timeoutMs: 60000 });
    const url = URL.createObjectURL(await response.blob());
    const save = el('a', { href: url, download: demoLink.getAttribute('download') || 'meter-demo.zip', hidden: true });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showError(errorBox, err);
  } finally {
    demoLink.removeAttribute('aria-busy');
  }
}

// ---------------------------------------------------------------- wiring

uploadInput.addEventListener('change', () => {
  upload(uploadInput.files?.[0]);
  uploadInput.value = ''; // choosing the same file again reads it again
});
recognizeButton.addEventListener('click', recognize);
demoLink.addEventListener('click', downloadDemo);
modelSelect.addEventListener('change', () => {
  describeCard(modelSelect.value);
  if (current) recognize();
});
for (const control of [...document.querySelectorAll('input[name="mode"]'), wheelsSelect]) {
  control.addEventListener('change', () => current && recognize());
}
for (const field of [previousValue, previousTime, maxRate]) {
  field.addEventListener('change', () => current && recognize());
}

// Dropping an image file anywhere on the photo area reads it like an upload.
dropZone.addEventListener('dragover', (event) => {
  if ([...(event.dataTransfer?.types || [])].includes('Files')) {
    event.preventDefault();
    dropZone.classList.add('is-dragover');
  }
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('is-dragover'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('is-dragover');
  upload(event.dataTransfer?.files?.[0]);
});
// A file the browser cannot show (a TIFF, or no image at all) is still sent: the server judges it.
photo.addEventListener('error', () => {
  if (!current) return;
  $('stage').hidden = true;
  $('drop-hint').hidden = false;
  $('drop-hint').textContent = 'No preview: this browser cannot show the file.';
});

loadModels();
