// food.js: the food-delivery example's pages (menu, order, driver), on the
// public HTTP API only: start `order` workflows, poll their getStatus
// query, send the pickedUp / delivered signals.
'use strict';
(() => {
  const { api, el, every, failureText, param, showError } = Duro;
  const TASK_QUEUE = 'durable-food';
  // CATALOGUE: examples/food-delivery/catalogue.c (the worker prices the
  // order from its own copy: this one is for display).
  const CATALOGUE = [
    { id: 1, name: 'Crispy Chicken Sandwich', priceCents: 1099 },
    { id: 2, name: 'Margherita Pizza', priceCents: 1450 },
    { id: 3, name: 'Pad Thai', priceCents: 1275 },
    { id: 4, name: 'Veggie Burrito', priceCents: 950 },
    { id: 5, name: 'Caesar Salad', priceCents: 875 },
    { id: 6, name: 'Ramen Bowl', priceCents: 1325 },
  ];
  // the order's timeouts, passed through from the menu page's address
  // (e.g. ?pickupTimeout=10s for a demo or a test); the worker's defaults
  // (a minute each) otherwise.
  const TIMEOUTS = ['pickupTimeout', 'deliveryTimeout', 'ratingDelay'];
  const errorBox = () => document.getElementById('error');
  const price = (c) => '$' + (c / 100).toFixed(2);
  const product = (id) => CATALOGUE.find((p) => p.id === id);
  const productName = (id) => (product(id) ? product(id).name : 'Product ' + id);

  function newOrderId() {
    const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
    return 'order-' + Date.now().toString(36) + '-' + rand;
  }

  async function order(p, button) {
    button.disabled = true;
    const input = { productId: p.id };
    for (const t of TIMEOUTS) if (param(t)) input[t] = param(t);
    const id = newOrderId();
    try {
      await api.start(id, { workflowType: 'order', taskQueue: TASK_QUEUE, input });
      location.href = 'order.html?id=' + encodeURIComponent(id);
    } catch (e) {
      showError(errorBox(), e);
      button.disabled = false;
    }
  }

  function menuPage() {
    const menu = document.getElementById('menu');
    for (const p of CATALOGUE) {
      const b = el('button', { className: 'order', 'data-product': p.id }, 'Order');
      b.addEventListener('click', () => order(p, b));
      menu.append(el('div', { className: 'card product', 'data-product': p.id },
        el('div', { className: 'name' }, p.name),
        el('div', { className: 'price' }, price(p.priceCents)), b));
    }
  }

  function orderPage() {
    const id = param('id');
    const $ = (x) => document.getElementById(x);
    if (!id) { showError(errorBox(), new Error('no order id in the address (?id=...)')); return; }
    $('title').textContent = 'Order ' + id;
    $('ui-link').href = '/workflow.html?id=' + encodeURIComponent(id);
    let closedPolls = 0;
    const stop = every(1000, async () => {
      let d;
      try { d = await api.describe(id); showError(errorBox(), null); }
      catch (e) { showError(errorBox(), e); return; }
      const status = $('status');
      status.textContent = d.status;
      status.className = 'status ' + d.status;
      try {
        const s = (await api.query(id, 'getStatus')).result;
        $('state').textContent = s.state;
        $('product').textContent = productName(s.productId);
        $('delivered-at').textContent = s.deliveredAt ? 'Delivered at ' + new Date(s.deliveredAt).toLocaleString() : '';
      } catch (e) {
        if (d.status === 'RUNNING') showError(errorBox(), e);
      }
      const failed = d.status !== 'RUNNING' && d.status !== 'COMPLETED';
      $('failure').textContent = failed ? 'Order failed: ' + (failureText(d.failure) || d.status) : '';
      $('failure').classList.toggle('hidden', !failed);
      $('done').textContent = d.status === 'COMPLETED' ? 'Order complete. Enjoy your meal!' : '';
      $('done').classList.toggle('hidden', d.status !== 'COMPLETED');
      if (d.status !== 'RUNNING' && ++closedPolls >= 2) stop();
    });
  }

  // ---- Driver ----

  const q = (s) => s.replace(/'/g, "''"); // the query language doubles quotes
  async function listAll(query) {
    const rows = [];
    let token = '';
    for (let page = 0; page < 10; page++) {
      const r = await api.list(query, 100, token);
      rows.push(...(r.executions || []));
      token = r.nextPageToken;
      if (!token) break;
    }
    return rows;
  }

  // candidates: the ids of orders that may wait for a driver or be on the
  // way: by the OrderState search attribute where the server has
  // visibility queries, else every running order (a 400 says the query
  // language lacks it).
  async function candidates() {
    const base = "WorkflowType='order' AND ExecutionStatus='RUNNING'";
    try {
      const [paid, picked] = await Promise.all([
        listAll(base + " AND OrderState='" + q('Paid') + "'"),
        listAll(base + " AND OrderState='" + q('Picked up') + "'"),
      ]);
      return { ids: [...paid, ...picked].map((r) => r.workflowId), source: 'search attribute OrderState' };
    } catch (e) {
      if (e.status !== 400) throw e;
      const running = await listAll("WorkflowType='order' AND ExecutionStatus='RUNNING'");
      return { ids: running.map((r) => r.workflowId), source: 'running orders, each asked getStatus' };
    }
  }

  function driverPage() {
    const rows = new Map(); // id -> tr
    const tables = { Paid: document.getElementById('waiting'), 'Picked up': document.getElementById('onway') };
    const action = { Paid: ['Pick up', 'pickedUp'], 'Picked up': ['Deliver', 'delivered'] };
    let refresh = async () => {};

    function row(id, state, productId) {
      const [label, signal] = action[state];
      const b = el('button', { className: 'signal', 'data-order': id }, label);
      b.addEventListener('click', async () => {
        b.disabled = true;
        try { await api.signal(id, signal); showError(errorBox(), null); }
        catch (e) { showError(errorBox(), e); }
        await refresh();
      });
      return el('tr', { 'data-order': id, 'data-state': state },
        el('td', {}, el('a', { href: 'order.html?id=' + encodeURIComponent(id) }, id)),
        el('td', {}, productName(productId)), el('td', {}, b));
    }

    refresh = async () => {
      let found;
      try { found = await candidates(); }
      catch (e) { showError(errorBox(), e); return; }
      const states = await Promise.all(found.ids.map((id) =>
        api.query(id, 'getStatus').then((r) => [id, r.result], () => [id, null])));
      const keep = new Set();
      for (const [id, s] of states) {
        if (!s || !action[s.state]) continue;
        keep.add(id);
        const old = rows.get(id);
        if (old && old.dataset.state === s.state) continue;
        if (old) old.remove();
        const tr = row(id, s.state, s.productId);
        rows.set(id, tr);
        tables[s.state].append(tr);
      }
      for (const [id, tr] of rows) if (!keep.has(id)) { tr.remove(); rows.delete(id); }
      document.getElementById('waiting-none').classList.toggle('hidden', tables.Paid.children.length > 0);
      document.getElementById('onway-none').classList.toggle('hidden', tables['Picked up'].children.length > 0);
      document.getElementById('source').textContent = 'Orders found by ' + found.source + '; refreshed every 2s.';
      showError(errorBox(), null);
    };
    every(2000, () => refresh());
  }

  const pages = { index: menuPage, order: orderPage, driver: driverPage };
  pages[document.body.dataset.page]();
})();
