// ui.js: the Duro web UI (workflows, one workflow, task queues) on the
// public HTTP API only (docs/http-api.md).
'use strict';
(() => {
  const { api, el, every, fmtTime, json, failureText, param, showError, NAMESPACE, nsHref } = Duro;
  const $ = (id) => document.getElementById(id);
  const errorBox = () => $('error');
  const status = (s) => el('span', { className: 'status ' + s }, s);
  // wfLink: one run's page (a list has a row per run: older runs of a
  // continue-as-new chain or of a reused id open as themselves)
  const wfLink = (id, runId, text) => el('a', { href: nsHref('/workflow.html', { id, runId }) }, text || id);

  // the header's links stay in the page's namespace, which it names
  for (const a of document.querySelectorAll('header a')) {
    const path = a.getAttribute('href');
    if (path === '/' || path === '/task-queues.html') a.href = nsHref(path);
  }
  if (NAMESPACE !== 'default')
    document.querySelector('header .brand').after(el('span', { className: 'ns', id: 'namespace-name' }, 'namespace ' + NAMESPACE));
  const quote = (s) => '"' + s.replace(/"/g, '""') + '"';

  // ---- Workflows ----

  function workflowsPage() {
    const sp = new URLSearchParams(location.search);
    $('status').value = sp.get('status') || '';
    $('type').value = sp.get('type') || '';
    $('query').value = sp.get('query') || '';
    $('namespace').value = NAMESPACE;
    const size = Math.min(Math.max(parseInt(sp.get('pageSize'), 10) || 50, 1), 1000);
    let pages = ['']; // the token of each page seen, for paging back to the first
    let next = '';

    function query() {
      if ($('query').value.trim()) return $('query').value.trim();
      const parts = [];
      if ($('status').value) parts.push('ExecutionStatus = ' + quote($('status').value));
      if ($('type').value.trim()) parts.push('WorkflowType = ' + quote($('type').value.trim()));
      return parts.join(' AND ');
    }

    async function load() {
      const token = pages[pages.length - 1];
      let r;
      try { r = await api.list(query(), size, token); showError(errorBox(), null); }
      catch (e) { showError(errorBox(), e); return; }
      const rows = (r.executions || []).map((w) => el('tr', { 'data-id': w.workflowId, 'data-run': w.runId },
        el('td', {}, wfLink(w.workflowId, w.runId)), el('td', {}, w.workflowType), el('td', {}, status(w.status)),
        el('td', { className: 'hide-narrow' }, fmtTime(w.startTime)),
        el('td', { className: 'hide-narrow' }, fmtTime(w.closeTime))));
      $('rows').replaceChildren(...rows);
      $('empty').classList.toggle('hidden', rows.length > 0);
      next = r.nextPageToken || '';
      $('next').disabled = !next;
      $('first').disabled = pages.length === 1;
      $('pageinfo').textContent = 'Page ' + pages.length + (next ? '' : ' (last)');
    }

    $('filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const u = new URLSearchParams();
      for (const k of ['status', 'type', 'query']) if ($(k).value.trim()) u.set(k, $(k).value.trim());
      if (sp.get('pageSize')) u.set('pageSize', size);
      const ns = $('namespace').value.trim() || 'default';
      if (ns !== 'default') u.set('namespace', ns);
      if (ns !== NAMESPACE) { location.search = '?' + u; return; } // the API's base changes
      history.replaceState(null, '', '?' + u);
      pages = [''];
      load();
    });
    $('status').addEventListener('change', () => $('filters').requestSubmit());
    $('next').addEventListener('click', () => { if (next) { pages.push(next); load(); } });
    $('first').addEventListener('click', () => { pages = ['']; load(); });
    every(5000, () => ($('auto').checked || !$('rows').children.length ? load() : null));
  }

  // ---- One workflow ----

  async function fullHistory(id, runId) {
    const events = [];
    let token = '';
    for (let page = 0; page < 20; page++) { // 20,000 events at most
      const r = await api.history(id, token, 1000, runId);
      events.push(...r.events);
      if (!r.nextPageToken || !r.events.length) break;
      token = r.nextPageToken;
    }
    return events;
  }

  // spans: the activities and timers of a history, each with its start,
  // end (null while open) and how it ended, for the timeline.
  function spans(events) {
    const open = new Map(), out = [];
    const t = (e) => new Date(e.time).getTime();
    for (const e of events) {
      const seq = e.data && e.data.seq;
      if (e.type === 'ActivityScheduled') {
        const s = { kind: 'activity', label: e.data.name, start: t(e), end: null, how: '' };
        open.set('a' + seq, s); out.push(s);
      } else if (e.type === 'TimerStarted') {
        const s = { kind: 'timer', label: 'timer ' + (e.data.durationMs / 1000) + 's', start: t(e), end: null, how: '' };
        open.set('t' + seq, s); out.push(s);
      } else if (/^Activity(Completed|Failed|TimedOut|Canceled)$/.test(e.type) || /^Timer(Fired|Canceled)$/.test(e.type)) {
        const s = open.get((e.type.startsWith('Timer') ? 't' : 'a') + seq);
        if (s) { s.end = t(e); s.how = e.type.replace(/^(Activity|Timer)/, ''); open.delete(s.kind[0] + seq); }
      }
    }
    return out;
  }

  const MAX_LANES = 200; // a history of thousands of activities: the first ones, and a note

  function drawTimeline(box, events, closed) {
    const all = spans(events);
    const list = all.slice(0, MAX_LANES);
    if (!events.length || !list.length) { box.replaceChildren(el('span', { className: 'note' }, 'No activity or timer yet.')); return; }
    const t0 = new Date(events[0].time).getTime();
    const tEnd = closed ? new Date(events[events.length - 1].time).getTime() : Date.now();
    const span = Math.max(tEnd - t0, 1);
    const lanes = list.map((s) => {
      const end = s.end === null ? tEnd : s.end;
      if (s.end === null && closed) s.how = 'not finished when the run closed';
      const bar = el('div', { className: 'bar ' + s.kind + (/^(Failed|TimedOut)$/.test(s.how) ? ' failed' : s.how === 'Canceled' ? ' canceled' : '') + (s.end === null ? ' open' : ''),
        title: s.label + ': ' + ((end - s.start) / 1000).toFixed(3) + 's ' + (s.how || 'open') }, s.label);
      bar.style.left = ((s.start - t0) / span * 100).toFixed(2) + '%';
      bar.style.width = Math.max((end - s.start) / span * 100, 0.5).toFixed(2) + '%';
      return el('div', {}, el('div', { className: 'label' }, s.label + ' · ' + (s.how || 'open') + ' · ' + ((end - s.start) / 1000).toFixed(2) + 's'),
        el('div', { className: 'lane' }, bar));
    });
    if (all.length > list.length)
      lanes.push(el('p', { className: 'note', id: 'timeline-more' }, 'and ' + (all.length - list.length) + ' more (the history below has every event)'));
    box.replaceChildren(...lanes);
  }

  function summary(d) {
    const items = [['Workflow id', d.workflowId], ['Run id', d.runId], ['Type', d.workflowType],
      ['Task queue', el('a', { href: nsHref('/task-queues.html', { queue: d.taskQueue }) }, d.taskQueue)],
      ['Status', status(d.status)], ['Started', fmtTime(d.startTime)], ['Closed', fmtTime(d.closeTime)],
      ['History events', d.historyLength]];
    if (d.continuedFromRunId) items.push(['Continued from', wfLink(d.workflowId, d.continuedFromRunId, d.continuedFromRunId)]);
    if (d.continuedAsRunId) items.push(['Continued as', wfLink(d.workflowId, d.continuedAsRunId, d.continuedAsRunId)]);
    if (param('runId')) items.push(['Latest run', wfLink(d.workflowId, null, 'the workflow\'s latest run')]);
    if (d.workflowTask && d.workflowTask.pending)
      items.push(['Workflow task', 'pending, attempt ' + d.workflowTask.attempt + (d.workflowTask.lastError ? ', last error: ' + failureText(d.workflowTask.lastError) : '')]);
    $('summary').replaceChildren(...items.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v === undefined || v === null ? '' : v)]));
  }

  function outcome(d) {
    const box = $('outcome');
    if (d.status === 'COMPLETED') box.replaceChildren(el('h2', {}, 'Result'), el('pre', { id: 'result' }, json(d.result === undefined ? null : d.result)));
    else if (d.status === 'CONTINUED_AS_NEW') // not a failure: the chain goes on in the next run
      box.replaceChildren(el('h2', {}, 'Continued as new'), el('p', { className: 'note', id: 'continued' },
        'This run continued as a new run', d.continuedAsRunId ? ': ' : '.', d.continuedAsRunId ? wfLink(d.workflowId, d.continuedAsRunId, d.continuedAsRunId) : ''));
    else if (d.status !== 'RUNNING') // (replaceChildren would show a null as the text "null")
      box.replaceChildren(...[el('h2', {}, 'Failure'), el('div', { className: 'error', id: 'failure' }, failureText(d.failure) || d.status),
        d.failure && typeof d.failure === 'object' ? el('pre', {}, json(d.failure)) : null].filter(Boolean));
    else box.replaceChildren();
  }

  function pending(d) {
    const acts = d.pendingActivities || [];
    $('pending-box').classList.toggle('hidden', !acts.length);
    $('pending').replaceChildren(...acts.map((a) => el('tr', {}, el('td', {}, a.seq), el('td', {}, a.name), el('td', {}, a.state),
      el('td', {}, a.attempt), el('td', { className: 'data' }, failureText(a.lastFailure)))));
  }

  // attrs: search attributes and memo, on servers that describe them
  function attrs(d) {
    const parts = [];
    for (const [key, title] of [['searchAttributes', 'Search attributes'], ['memo', 'Memo']]) {
      const v = d[key];
      if (!v || typeof v !== 'object' || !Object.keys(v).length) continue;
      parts.push(el('h2', {}, title), el('div', { className: 'scroll' }, el('table', {}, el('tbody', { id: key },
        Object.entries(v).map(([k, x]) => el('tr', {}, el('th', {}, k), el('td', { className: 'data' }, typeof x === 'string' ? x : JSON.stringify(x))))))));
    }
    $('attrs').replaceChildren(...parts);
  }

  function historyTable(events) {
    $('history').replaceChildren(...events.map((e) => el('tr', { 'data-type': e.type },
      el('td', {}, e.eventId), el('td', { className: 'hide-narrow' }, fmtTime(e.time)), el('td', {}, e.type),
      el('td', { className: 'data' }, JSON.stringify(e.data)))));
  }

  function parseInput(id) {
    const text = $(id).value.trim();
    if (!text) return undefined;
    try { return JSON.parse(text); }
    catch (e) { throw new Error(id.replace('-', ' ') + ' is not JSON: ' + e.message); }
  }

  function workflowPage() {
    const id = param('id');
    const runId = param('runId') || undefined; // a run of the id; else its latest
    if (!id) { showError(errorBox(), new Error('no workflow id in the address (?id=...)')); return; }
    $('title').textContent = id;
    document.title = id + ' · Duro';
    let lastLen = -1, events = [], closedSeen = false, stop = () => {};
    const refresh = async () => {
      let d;
      try { d = await api.describe(id, runId); showError(errorBox(), null); }
      catch (e) {
        showError(errorBox(), e);
        if (e.status === 404) { // no such workflow or run: nothing to act on, nor to poll for
          for (const b of ['signal', 'cancel', 'terminate']) $(b).disabled = true;
          stop();
        }
        return;
      }
      summary(d); outcome(d); pending(d); attrs(d);
      $('input').textContent = json(d.input === undefined ? null : d.input);
      const closed = d.status !== 'RUNNING';
      for (const b of ['signal', 'cancel', 'terminate']) $(b).disabled = closed;
      if (d.historyLength !== lastLen) { // read it again only when it grew
        events = await fullHistory(id, runId);
        lastLen = d.historyLength;
        historyTable(events);
      }
      drawTimeline($('timeline'), events, closed); // open spans grow with time
      if (closed) { if (closedSeen) stop(); closedSeen = true; }
    };
    stop = every(2000, refresh);

    const act = async (what, fn) => {
      $('action-result').textContent = what + '…';
      try { const r = await fn(); $('action-result').textContent = what + ': done' + (r && Object.keys(r).length ? ' ' + JSON.stringify(r) : ''); }
      catch (e) { $('action-result').textContent = what + ' failed: ' + e.message; }
      closedSeen = false;
      await refresh();
    };
    $('signal').addEventListener('click', () => {
      const name = $('signal-name').value.trim();
      if (!name) { $('action-result').textContent = 'Signal: give the signal name'; return; }
      act('Signal ' + name, () => api.signal(id, name, parseInput('signal-input')));
    });
    $('query').addEventListener('click', async () => {
      const name = $('query-name').value.trim();
      const out = $('query-result');
      out.classList.remove('hidden');
      if (!name) { out.textContent = 'give the query name'; return; }
      try { out.textContent = json((await api.query(id, name, parseInput('query-input'))).result); }
      catch (e) { out.textContent = 'query failed: ' + e.message; }
    });
    const reason = () => $('reason').value.trim() || undefined;
    $('cancel').addEventListener('click', () => {
      if (confirm('Request cancellation of ' + id + '?')) act('Cancel', () => api.cancel(id, reason()));
    });
    $('terminate').addEventListener('click', () => {
      if (confirm('Terminate ' + id + '? It stops at once, without running any cleanup.')) act('Terminate', () => api.terminate(id, reason()));
    });
  }

  // ---- Task queues ----

  function taskQueuesPage() {
    $('queue').value = param('queue') || '';
    // the queues of recent workflows, as suggestions
    api.list('', 100).then((r) => {
      const names = [...new Set((r.executions || []).map((w) => w.taskQueue).filter(Boolean))];
      $('known').replaceChildren(...names.map((n) => el('option', { value: n })));
      if (!$('queue').value && names.length) { $('queue').value = names[0]; load(); }
    }, () => {});

    const statRow = (title, s) => el('tr', {}, el('th', {}, title), el('td', { className: 'backlog' }, s.backlog),
      el('td', { className: 'pending' }, s.pending), el('td', {}, s.consumers), el('td', {}, s.activeConsumers));
    async function load() {
      const name = $('queue').value.trim();
      if (!name) return;
      let r;
      try { r = await api.taskQueue(name); showError(errorBox(), null); }
      catch (e) { showError(errorBox(), e); return; }
      $('stats').replaceChildren(el('h2', {}, r.taskQueue), el('div', { className: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, el('th', {}, 'Tasks'), el('th', {}, 'Backlog'), el('th', {}, 'In flight'), el('th', {}, 'Workers'), el('th', {}, 'Active workers'))),
        el('tbody', {}, statRow('Workflow tasks', r.workflowTasks), statRow('Activity tasks', r.activityTasks)))));
    }
    $('pick').addEventListener('submit', (ev) => {
      ev.preventDefault();
      history.replaceState(null, '', nsHref('/task-queues.html', { queue: $('queue').value.trim() }));
      load();
    });
    every(3000, () => ($('auto').checked ? load() : null));
  }

  const pages = { index: workflowsPage, workflow: workflowPage, 'task-queues': taskQueuesPage };
  pages[document.body.dataset.page]();
})();
