// Shared by every page: the navigation, API helpers and the model picker.
//
// Importing this module renders the navigation bar into <header id="site-header"> and, on the
// landing page, the list of recognizers into <ul id="page-list">. Both come from PAGES below:
// adding a recognizer page is one line there.

/** The recognizer pages, in navigation order. `task` is the API task the page uses. */
export const PAGES = [
  { id: 'digit', title: 'Digits', href: 'digit.html', task: 'digit', description: 'Draw or upload handwritten digits and read them as a number.' },
  { id: 'captcha', title: 'CAPTCHA', href: 'captcha.html', task: 'captcha', description: 'Read the text of a CAPTCHA image.' },
  { id: 'meter', title: 'Water meter', href: 'meter.html', task: 'meter', description: 'Read the counter of a water-meter photo.' },
];

const SITE_TITLE = 'Recognition Services';
const DOCS_HREF = '/docs';

/** The API's error, with the readable message in `message` and the machine code in `code`. */
export class ApiError extends Error {
  constructor(message, { code = 'error', status = 0 } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }

  /** "message (code, HTTP 422)" for an error box. */
  get detail() {
    return this.status ? `${this.code}, HTTP ${this.status}` : this.code;
  }
}

/** Absolute URL of an API path such as 'api/v1/models' (relative to the site root). */
export function apiUrl(path) {
  return new URL(path.replace(/^\//, ''), new URL('./', document.baseURI)).toString();
}

/**
 * fetch() returning the Response when it is a success, or throwing ApiError with a readable
 * message taken from the API's `{"error": {"code", "message"}}` body (or a sensible one when there
 * is none). For answers that are not JSON (a sample PNG, the demo zip); apiFetch reads JSON.
 */
export async function apiResponse(path, { timeoutMs = 30000, signal, ...options } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('timeout', 'TimeoutError')), timeoutMs);
  const onAbort = () => controller.abort(signal.reason);
  if (signal) {
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  let response;
  try {
    response = await fetch(apiUrl(path), { ...options, signal: controller.signal });
  } catch (err) {
    if (signal?.aborted) throw err; // cancelled by the caller: not an error to show
    if (controller.signal.aborted) {
      throw new ApiError(`The server did not answer within ${Math.round(timeoutMs / 1000)} s.`, { code: 'timeout' });
    }
    throw new ApiError('Cannot reach the server. Check your connection and try again.', { code: 'network_error' });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  if (!response.ok) {
    const error = parseJson(await response.text())?.error;
    const message = error?.message || describeStatus(response.status);
    throw new ApiError(message, { code: error?.code || `http_${response.status}`, status: response.status });
  }
  return response;
}

/** apiResponse() of a JSON API call: the parsed body. */
export async function apiFetch(path, options = {}) {
  const headers = { Accept: 'application/json', ...(options.headers || {}) };
  const response = await apiResponse(path, { ...options, headers });
  const body = parseJson(await response.text());
  if (body === null) {
    throw new ApiError('The server sent an answer that is not JSON.', { code: 'bad_response', status: response.status });
  }
  return body;
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function describeStatus(status) {
  const known = {
    400: 'The request was not understood.',
    404: 'Not found.',
    413: 'The file is too large.',
    415: 'This file type is not supported.',
    422: 'The image could not be processed.',
    429: 'Too many requests; try again in a moment.',
    503: 'The service is temporarily unavailable.',
    504: 'The recognizer took too long to answer.',
  };
  return known[status] || `The server answered with HTTP ${status}.`;
}

let modelsPromise = null;

/** GET /api/v1/models, fetched once per page load. */
export function fetchModels() {
  if (!modelsPromise) {
    modelsPromise = apiFetch('api/v1/models').catch((err) => {
      modelsPromise = null; // let a later call retry
      throw err;
    });
  }
  return modelsPromise;
}

/** "99.62%" for a fraction, with `digits` decimals. */
export function formatPercent(fraction, digits = 1) {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return '–';
  return `${(fraction * 100).toFixed(digits)}%`;
}

/**
 * The headline accuracy of a model card as [label, fraction], or null: a test-set accuracy
 * (e.g. `mnist_test_accuracy` -> "MNIST test") before any other accuracy metric.
 */
export function modelAccuracy(card) {
  const metrics = card?.metrics || {};
  const keys = Object.keys(metrics).filter((key) => /accuracy$/i.test(key) && typeof metrics[key] === 'number');
  const key = keys.find((k) => /test/i.test(k)) || keys.find((k) => !/valid|train/i.test(k)) || keys[0];
  if (!key) return null;
  const words = key.replace(/_?accuracy$/i, '').split('_').filter(Boolean);
  const label = words.map((word) => (/^(mnist|emnist|svhn)$/i.test(word) ? word.toUpperCase() : word)).join(' ');
  return [label, metrics[key]];
}

/** One line describing a model card: "cnn · v1.0.0 · 99.62% on MNIST test". */
export function describeModel(card) {
  const parts = [card.name];
  if (card.version) parts.push(`v${card.version}`);
  const accuracy = modelAccuracy(card);
  if (accuracy) parts.push(`${formatPercent(accuracy[1], 2)}${accuracy[0] ? ` on ${accuracy[0]}` : ' accuracy'}`);
  return parts.join(' · ');
}

/**
 * Fill a <select> with the models of `task` from /api/v1/models, the default one selected.
 * Returns the task's entry ({status, default_model, models, ...}). Throws ApiError when the
 * catalogue cannot be read or the task is unknown; the select then offers the server default.
 */
export async function populateModelPicker(select, task) {
  select.disabled = true;
  select.replaceChildren(new Option('Loading models…', ''));
  try {
    const catalogue = await fetchModels();
    const entry = catalogue?.tasks?.[task];
    if (!entry) throw new ApiError(`The server has no "${task}" recognizer.`, { code: 'unknown_task' });
    const models = Array.isArray(entry.models) ? entry.models : [];
    select.replaceChildren();
    for (const card of models) {
      const isDefault = card.name === entry.default_model;
      const label = describeModel(card) + (isDefault ? ' (default)' : '');
      const option = new Option(label, card.name, isDefault, isDefault);
      if (card.description) option.title = card.description;
      select.append(option);
    }
    if (!models.length) select.append(new Option('Server default', ''));
    select.disabled = false;
    return entry;
  } catch (err) {
    select.replaceChildren(new Option('Server default', ''));
    select.disabled = false;
    throw err;
  }
}

/**
 * A task page's model picker filled in (populateModelPicker) and its cards by name, handed to
 * `describe` before the picker's data-state turns "ready" (tests and styling wait for it). When
 * the task's recognizer is down the page says so (`unavailable`); when the list cannot be had at
 * all, the error is shown, `info` says the server default will be used and null comes back.
 */
export async function loadModelCards(select, task, { errorBox, info, unavailable, describe }) {
  try {
    const entry = await populateModelPicker(select, task);
    const cards = new Map((entry.models || []).map((card) => [card.name, card]));
    describe(cards);
    if (entry.status && entry.status !== 'ok') {
      showError(errorBox, new ApiError(unavailable, { code: 'backend_unavailable' }));
    }
    return cards;
  } catch (err) {
    info.textContent = 'Could not load the model list; the server default will be used.';
    showError(errorBox, err);
    return null;
  } finally {
    select.dataset.state = 'ready';
  }
}

/**
 * A page's recognize requests, one at a time: a new one aborts the one still running, whose
 * answer or error is then never shown. `setBusy(true)` when one starts, `setBusy(false)` when
 * the current one ends or is cancelled.
 */
export class LatestRequest {
  constructor(setBusy) {
    this.setBusy = setBusy;
    this.controller = null;
  }

  /**
   * Runs `work(signal)` as the current request. Resolves to true when it ran to its end still
   * current, false when a newer request or cancel() took over (its error, if any, is dropped);
   * any other error is the caller's.
   */
  async run(work) {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.setBusy(true);
    try {
      await work(controller.signal);
      return this.controller === controller;
    } catch (err) {
      if (controller.signal.aborted) return false;
      throw err;
    } finally {
      if (this.controller === controller) {
        this.controller = null;
        this.setBusy(false);
      }
    }
  }

  /** Abandon the running request, if any. */
  cancel() {
    if (!this.controller) return;
    this.controller.abort();
    this.controller = null;
    this.setBusy(false);
  }
}

/** POST an image to the task's recognize endpoint as a form: the file, the model picked (if any) and `fields`. */
export function recognizeImage(task, file, name, { model = '', fields = {}, signal, timeoutMs = 30000 } = {}) {
  const body = new FormData();
  body.append('file', file, name);
  if (model) body.append('model', model);
  for (const [key, value] of Object.entries(fields)) body.append(key, value);
  return apiFetch(`api/v1/${task}/recognize`, { method: 'POST', body, signal, timeoutMs });
}

/** Build an element: el('div', {class: 'x', text: 'hi'}, child, ...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

/** Show `err` (ApiError or any Error) in an error box, or hide the box when err is null. */
export function showError(box, err, hint = '') {
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const raw = err instanceof ApiError ? err.message : err?.message || String(err);
  // A hint follows as its own sentence: the message ends with a full stop before it.
  const message = hint && !/[.!?]$/.test(raw) ? `${raw}.` : raw;
  const parts = [
    el('strong', { class: 'error-title', text: 'Error: ' }),
    el('span', { class: 'error-message', text: message }),
    hint ? el('span', { class: 'error-hint', text: ` ${hint}` }) : null,
    err instanceof ApiError ? el('span', { class: 'error-code', text: ` (${err.detail})` }) : null,
  ];
  box.replaceChildren(...parts.filter(Boolean));
  box.hidden = false;
}

function renderNav() {
  const header = document.getElementById('site-header');
  if (!header) return;
  const current = document.body.dataset.page || '';
  const link = (href, text, id) =>
    el('a', { href, text, class: 'nav-link', 'aria-current': id && id === current ? 'page' : null });
  const items = PAGES.map((page) => el('li', {}, link(page.href, page.title, page.id)));
  items.push(el('li', {}, el('a', { href: DOCS_HREF, text: 'API docs', class: 'nav-link' })));
  header.replaceChildren(
    el(
      'nav',
      { class: 'site-nav', 'aria-label': 'Main' },
      el('a', { href: 'index.html', class: 'brand', 'aria-current': current === 'home' ? 'page' : null },
        el('span', { class: 'brand-mark', 'aria-hidden': 'true', text: 'R' }),
        el('span', { class: 'brand-text', text: SITE_TITLE })),
      el('ul', { class: 'nav-links' }, ...items),
    ),
  );
}

function renderPageList() {
  const list = document.getElementById('page-list');
  if (!list) return;
  const badges = new Map();
  list.replaceChildren(
    ...PAGES.map((page) => {
      const badge = el('span', { class: 'badge', text: 'checking…' });
      badges.set(page.task, badge);
      return el(
        'li',
        { class: 'card page-card', dataset: { page: page.id } },
        el('h3', {}, el('a', { href: page.href, class: 'stretched-link', text: page.title })),
        el('p', { text: page.description }),
        badge,
      );
    }),
  );
  fetchModels()
    .then((catalogue) => {
      for (const [task, badge] of badges) {
        const entry = catalogue?.tasks?.[task];
        const ok = entry?.status === 'ok';
        const count = entry?.models?.length || 0;
        badge.textContent = ok ? `available · ${count} model${count === 1 ? '' : 's'}` : 'unavailable';
        badge.classList.add(ok ? 'badge-ok' : 'badge-bad');
      }
    })
    .catch(() => {
      for (const badge of badges.values()) {
        badge.textContent = 'status unknown';
        badge.classList.add('badge-bad');
      }
    });
}

renderNav();
renderPageList();

/** What each task's answer looks like, for the correction form's input. */
const CORRECTION_INPUT = {
  digit: { inputmode: 'numeric', pattern: '[0-9]+', hint: 'The digits the image shows.' },
  meter: { inputmode: 'numeric', pattern: '[0-9]{4,8}', hint: 'The digits of every wheel, leading zeros too.' },
  captcha: { hint: 'The characters the image shows.' },
};

/**
 * "Wrong? Correct it" under a result: the user types the right answer and it is sent with the
 * image to POST api/v1/{task}/feedback, for the next retraining. `show(file, name, answer)` after
 * each answer (the input starts as what was read), `hide()` when there is none.
 */
export class CorrectionForm {
  constructor(container, task) {
    this.container = container;
    this.task = task;
    this.subject = null;
    const shape = CORRECTION_INPUT[task] || {};
    this.input = el('input', {
      type: 'text', id: `${task}-correction-text`, class: 'correction-input', autocomplete: 'off',
      spellcheck: 'false', inputmode: shape.inputmode, pattern: shape.pattern, required: true,
      maxlength: '64', dataset: { testid: 'correction-text' },
    });
    this.send = el('button', { type: 'submit', class: 'btn', text: 'Send correction', dataset: { testid: 'correction-send' } });
    this.status = el('p', { class: 'correction-status', role: 'status', 'aria-live': 'polite', dataset: { testid: 'correction-status' } });
    this.form = el('form', { class: 'correction-form', novalidate: true },
      el('label', { for: this.input.id, text: 'The right answer' }),
      el('div', { class: 'correction-row' }, this.input, this.send),
      el('p', { class: 'field-help', text: `${shape.hint || ''} It is kept with the image to retrain the model.` }),
      this.status);
    this.details = el('details', { class: 'correction', dataset: { testid: 'correction' } },
      el('summary', { text: 'Wrong? Correct it' }), this.form);
    container.replaceChildren(this.details);
    container.hidden = true;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  show(file, name, answer) {
    this.subject = { file, name, answer };
    this.input.value = answer?.result?.text || '';
    this.status.textContent = '';
    this.status.classList.remove('is-error');
    this.details.open = false;
    this.container.hidden = false;
  }

  hide() {
    this.subject = null;
    this.container.hidden = true;
  }

  async submit() {
    if (!this.subject) return;
    const text = this.input.value.trim();
    if (!text) {
      this.say('Type the right answer first.', true);
      return;
    }
    const { file, name, answer } = this.subject;
    const body = new FormData();
    body.append('file', file, name);
    body.append('text', text);
    if (answer?.model?.name) body.append('model', answer.model.name);
    if (answer?.request_id) body.append('request_id', answer.request_id);
    this.send.disabled = true;
    try {
      const stored = await apiFetch(`api/v1/${this.task}/feedback`, { method: 'POST', body });
      const count = stored.corrections_for_model;
      const collected = `${count} correction${count === 1 ? '' : 's'} collected for this model`;
      this.say(stored.duplicate ? `Already had this one, thanks: ${collected}.` : `Thanks: ${collected}.`, false);
    } catch (err) {
      this.say(err instanceof ApiError ? err.message : String(err?.message || err), true);
    } finally {
      this.send.disabled = false;
    }
  }

  say(message, isError) {
    this.status.textContent = message;
    this.status.classList.toggle('is-error', isError);
  }
}
