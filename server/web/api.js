// api.js: the public HTTP API of duro server (docs/http-api.md) for the
// web UI and the food app, plus a few DOM helpers. No framework, no build.
'use strict';
const Duro = (() => {
  // NAMESPACE: the page's namespace, from ?namespace= (default "default");
  // the UI's links carry it on (nsHref) so a namespace's pages stay in it.
  const NAMESPACE = new URLSearchParams(location.search).get('namespace') || 'default';
  const NS = '/api/v1/namespaces/' + encodeURIComponent(NAMESPACE);
  const TOKEN_KEY = 'duroToken';

  // el builds an element: attrs are properties (class via className, on*
  // handlers as functions, dataset via data-*); children are nodes or text.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k.startsWith('data-') || k === 'for' || k === 'aria-label') e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // askToken shows a bar asking for the API token (servers started with
  // --api-token-file answer 401 without one); it is kept in localStorage.
  function askToken() {
    if (document.getElementById('tokenbar')) return;
    const input = el('input', { type: 'password', placeholder: 'API token', className: 'grow', id: 'token-input' });
    const bar = el('div', { id: 'tokenbar', className: 'tokenbar row' },
      'This server wants an API token:', input,
      el('button', { onclick: () => { localStorage.setItem(TOKEN_KEY, input.value.trim()); location.reload(); } }, 'Use it'));
    document.body.prepend(bar);
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function call(method, path, body) {
    const headers = {};
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try { r = await fetch(NS + path, init); }
    catch (e) { throw new ApiError(0, 'UNAVAILABLE', 'the server cannot be reached'); }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401) askToken();
    if (!r.ok) throw new ApiError(r.status, data && data.code, (data && data.message) || 'HTTP ' + r.status);
    return data;
  }

  const enc = encodeURIComponent;
  const wf = (id) => '/workflows/' + enc(id);
  const api = {
    list: (query, pageSize, token) => {
      const q = new URLSearchParams();
      if (query) q.set('query', query);
      if (pageSize) q.set('pageSize', pageSize);
      if (token) q.set('nextPageToken', token);
      return call('GET', '/workflows?' + q);
    },
    describe: (id, runId) => call('GET', wf(id) + (runId ? '?runId=' + enc(runId) : '')),
    history: (id, token, pageSize, runId) => {
      const q = new URLSearchParams({ pageSize: pageSize || 1000 });
      if (runId) q.set('runId', runId);
      if (token) q.set('nextPageToken', token);
      return call('GET', wf(id) + '/history?' + q);
    },
    start: (id, body) => call('POST', wf(id), body),
    signal: (id, name, input) => call('POST', wf(id) + '/signal/' + enc(name), input === undefined ? {} : { input }),
    query: (id, name, input) => call('POST', wf(id) + '/query/' + enc(name), input === undefined ? {} : { input }),
    cancel: (id, reason) => call('POST', wf(id) + '/cancel', { reason }),
    terminate: (id, reason) => call('POST', wf(id) + '/terminate', { reason }),
    taskQueue: (name) => call('GET', '/task-queues/' + enc(name)),
  };

  // every runs fn now and then every ms (not while the tab is hidden);
  // returns a function that stops it. A run never overlaps the previous.
  function every(ms, fn) {
    let stopped = false, timer = null;
    const tick = async () => {
      timer = null;
      if (stopped) return;
      if (!document.hidden) { try { await fn(); } catch (e) { console.error(e); } }
      if (!stopped) timer = setTimeout(tick, ms);
    };
    tick();
    return () => { stopped = true; if (timer) clearTimeout(timer); };
  }

  function fmtTime(t) {
    if (!t) return '';
    const d = new Date(t);
    return isNaN(d) ? String(t) : d.toLocaleString();
  }
  function json(v) { return JSON.stringify(v, null, 2); }
  function failureText(f) {
    if (f === undefined || f === null) return '';
    if (typeof f === 'string') return f;
    return f.message || f.type || json(f); // a terminate without a reason: "Terminated"
  }
  function param(name) { return new URLSearchParams(location.search).get(name); }
  // nsHref: a UI address with its parameters, plus ?namespace= when the
  // page is not in the default namespace.
  function nsHref(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
    if (NAMESPACE !== 'default') q.set('namespace', NAMESPACE);
    const s = q.toString();
    return s ? path + '?' + s : path;
  }
  function showError(box, e) {
    box.textContent = e ? String(e.message || e) : '';
    box.classList.toggle('hidden', !e);
  }

  return { api, el, every, fmtTime, json, failureText, param, showError, ApiError, NAMESPACE, nsHref };
})();
