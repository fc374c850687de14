// The entrex operators' dashboard. Plain JavaScript, no library, no build
// step: it fetches GET /v1/status (operator role) every few seconds and
// GET /v1/report/breakdown (analyst role) every minute, with the token the
// operator gave, and draws what they say as text and SVG charts.
//
// The token comes from the address's fragment (/dashboard#token=..., which a
// browser never sends to a server; it is removed from the address bar at
// once) or from the sign-in field, and is kept in this tab's session storage.
// Text from the hub is always put in with textContent, never parsed as HTML.

'use strict';

(function () {
  const STATUS_EVERY_MS = 5000;
  const BREAKDOWN_EVERY_MS = 60000;
  const TOKEN_KEY = 'entrex-dashboard-token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const PORTS_SHOWN = 10;

  const state = {
    token: null,
    status: null,
    statusError: null,
    breakdown: null,
    breakdownError: null,
    timers: [],
    // Bumped to abandon the pollers started before (sign-out, new token).
    generation: 0,
    // Bumped when the period changes, to abandon the breakdown poller.
    breakdownRun: 0,
  };

  // ---- small helpers -----------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function html(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) node.setAttribute(k, String(v));
    }
  }

  function append(node, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
    }
  }

  const NUMBER = new Intl.NumberFormat('en-US');
  const num = (n) => NUMBER.format(n);
  const percent = (rate) => (rate === null || rate === undefined ? '–' : (rate * 100).toFixed(1) + '%');
  const range = (b) => '#' + num(b.first_seq) + '–#' + num(b.last_seq);

  const pad = (n) => String(n).padStart(2, '0');
  function utc(seconds) {
    const d = new Date(seconds * 1000);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) +
      ' ' + pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + ' UTC';
  }
  function ago(seconds) {
    const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
    if (s < 90) return s + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' days ago';
  }
  function when(seconds) {
    if (seconds === null || seconds === undefined) return html('span', { class: 'muted' }, 'time not recorded');
    return html('time', { datetime: new Date(seconds * 1000).toISOString(), title: utc(seconds) },
      utc(seconds) + ' (' + ago(seconds) + ')');
  }

  // ---- the token -----------------------------------------------------------

  function tokenFromFragment() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!match) return null;
    // Out of the address bar (and the tab's history) at once.
    history.replaceState(null, '', location.pathname + location.search);
    try {
      return decodeURIComponent(match[1]);
    } catch (e) {
      return null;
    }
  }

  function signIn(token) {
    state.token = token;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch (e) {
      // Storage refused (private mode): the token lasts as long as the page.
    }
    $('login').hidden = true;
    $('main').hidden = false;
    $('forget').hidden = false;
    start();
  }

  function signOut(message) {
    stop();
    state.token = null;
    state.status = null;
    state.breakdown = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // Nothing kept.
    }
    $('main').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    const error = $('login-error');
    error.hidden = !message;
    error.textContent = message || '';
    connection(message ? 'Signed out: ' + message : 'Not signed in', !!message);
    document.body.dataset.state = 'signed-out';
    $('token').focus();
  }

  // ---- fetching --------------------------------------------------------------

  async function get(path) {
    const response = await fetch(path, {
      headers: { Authorization: 'Bearer ' + state.token, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const error = new Error((body && body.error) || 'HTTP ' + response.status);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function schedule(fn, ms, generation) {
    state.timers.push(setTimeout(() => {
      if (generation === state.generation) fn(generation);
    }, ms));
  }

  function start() {
    stop();
    const generation = state.generation;
    connection('Connecting…', false);
    pollStatus(generation);
    pollBreakdown(generation, state.breakdownRun);
  }

  function stop() {
    state.generation += 1;
    state.timers.forEach(clearTimeout);
    state.timers = [];
  }

  async function pollStatus(generation) {
    try {
      state.status = await get('/v1/status');
      state.statusError = null;
      connection('Live · updated ' + utc(Date.now() / 1000).slice(11), false);
    } catch (e) {
      if (generation !== state.generation) return;
      if (e.status === 401) return signOut(e.message);
      state.statusError = e;
      connection('Status unavailable: ' + e.message, true);
    }
    if (generation !== state.generation) return;
    render();
    schedule(pollStatus, STATUS_EVERY_MS, generation);
  }

  function breakdownQuery() {
    const now = Date.now() / 1000;
    const choice = $('period').value;
    const by = { '24h': [3600, 24], '7d': [86400, 7], '30d': [86400, 30] }[choice];
    if (!by) return '';
    const [step, periods] = by;
    const to = Math.ceil(now / step) * step;
    return '?from=' + (to - step * periods) + '&to=' + to + '&step=' + step;
  }

  async function pollBreakdown(generation, run) {
    const current = () => generation === state.generation && run === state.breakdownRun;
    let breakdown = null;
    let error = null;
    try {
      breakdown = await get('/v1/report/breakdown' + breakdownQuery());
    } catch (e) {
      error = e;
    }
    if (!current()) return;
    if (error && error.status === 401) return signOut(error.message);
    state.breakdown = breakdown;
    state.breakdownError = error;
    render();
    schedule((g) => pollBreakdown(g, run), BREAKDOWN_EVERY_MS, generation);
  }

  function connection(text, isError) {
    const node = $('connection');
    node.textContent = text;
    node.classList.toggle('error', isError);
  }

  // ---- rendering --------------------------------------------------------------

  function render() {
    const s = state.status;
    if (s) {
      $('hub-id').textContent = s.hub;
      document.title = 'entrex hub ' + s.hub + ' · dashboard';
      renderTotals(s);
      renderPartners(s);
      renderThroughput(s);
      renderQueue(s);
    }
    renderReconciliation();
    renderPorts();
    const statusDone = s || state.statusError;
    const breakdownDone = state.breakdown || state.breakdownError;
    if (statusDone && breakdownDone) document.body.dataset.state = 'ready';
  }

  function renderTotals(s) {
    const tiles = [
      ['accepted', 'Accepted', s.accepted],
      ['rejected', 'Rejected', s.rejected],
      ['duplicates', 'Duplicates', s.duplicates],
      ['shared', 'Shared', s.shared],
      ['withheld', 'Withheld', s.withheld],
      ['quarantined', 'Quarantined', s.quarantined],
      ['audit', 'Audit entries', s.audit ? s.audit.entries : '–'],
    ];
    $('totals').replaceChildren(...tiles.map(([field, label, value]) =>
      html('div', { class: field === 'quarantined' && value > 0 ? 'tile warn' : 'tile', 'data-field': field },
        html('dt', {}, label),
        html('dd', {}, typeof value === 'number' ? num(value) : value))));
  }

  function partnerReconciliation(partner) {
    const b = state.breakdown;
    return b ? b.partners.find((p) => p.partner === partner) : undefined;
  }

  function renderPartners(s) {
    $('partners').replaceChildren(...s.partners.map((p) => {
      const stopped = p.refused_bundle && p.refused_bundle.alarm;
      const trouble = stopped || p.delivery_error ? 'bad' : p.queue_alarm ? 'warn' : null;
      const badge = stopped ? 'stream stopped' : p.delivery_error ? 'delivery failing'
        : p.queue_alarm ? 'queue alarm' : p.backlog > 0 ? 'sending' : 'up to date';
      const sent = p.last_bundle_sent;
      const received = p.last_bundle_received;
      const rec = partnerReconciliation(p.partner);
      const fill = Math.min(100, p.queue_fill_percent || 0);
      const facts = [
        ['Backlog', [html('span', { class: 'num', 'data-field': 'backlog' }, num(p.backlog)), ' records',
          svg('svg', { class: 'fill', width: 80, height: 8, viewBox: '0 0 80 8', role: 'img',
            'aria-label': 'queue ' + fill.toFixed(1) + '% full' },
          svg('rect', { class: 'track', width: 80, height: 8, rx: 2 }),
          svg('rect', { class: 'level' + (trouble ? ' ' + trouble : ''), width: Math.max(fill * 0.8, fill > 0 ? 1 : 0), height: 8, rx: 2 })),
          html('span', { class: 'muted' }, ' ' + (fill > 0 && fill < 0.1 ? 'under 0.1' : fill.toFixed(1)) + '% full')]],
        ['Queued / acknowledged', [html('span', { 'data-field': 'queued-upto' }, '#' + num(p.queued_upto)), ' / ',
          html('span', { 'data-field': 'sent-upto' }, '#' + num(p.sent_upto))]],
        ['Last bundle sent', sent
          ? [html('span', { class: 'num', 'data-field': 'last-sent-range' }, range(sent)),
            html('span', { class: 'muted' }, ' (' + num(sent.last_seq - sent.first_seq + 1) + ' records)')]
          : html('span', { class: 'muted', 'data-field': 'last-sent-range' }, 'none yet')],
        ['Sealed', sent ? when(sent.at) : '–'],
        ['Receipt', sent ? (sent.acknowledged_at ? when(sent.acknowledged_at)
          : html('span', { class: 'muted', 'data-field': 'awaiting-receipt' }, 'awaiting the partner\'s receipt')) : '–'],
        ['Bundles sent', html('span', { 'data-field': 'bundles-sent' }, num(p.bundles_sent))],
        ['Last bundle received', received
          ? [html('span', { class: 'num', 'data-field': 'last-received-range' }, range(received)),
            html('span', { class: 'muted' }, ' (' + num(received.last_seq - received.first_seq + 1) + ' records)')]
          : html('span', { class: 'muted', 'data-field': 'last-received-range' }, 'none yet')],
        ['Received', received ? when(received.at) : '–'],
        ['Matched / review', [html('span', { 'data-field': 'matched' }, num(p.matched)), ' / ',
          html('span', { 'data-field': 'review' }, num(p.review)),
          html('span', { class: 'muted' }, p.received_upto > p.match_cursor
            ? ' (' + num(p.received_upto - p.match_cursor) + ' to match)' : '')]],
        ['Reconciliation', rec
          ? [html('span', { class: 'num', 'data-field': 'reconciliation-rate' }, percent(rec.reconciliation_rate)),
            html('span', { class: 'muted' }, ' of ' + num(rec.exit_records_received) + ' exit records')]
          : html('span', { class: 'muted', 'data-field': 'reconciliation-rate' },
            state.breakdownError ? 'unavailable' : '…')],
      ];
      return html('article', { class: 'partner', 'data-partner': p.partner, 'aria-label': 'Partner ' + p.partner },
        html('header', {},
          html('h3', {}, 'Partner ', html('span', { class: 'partner-name' }, p.partner)),
          html('span', { class: 'badge' + (trouble ? ' ' + trouble : '') }, badge),
          html('span', { class: 'muted' }, 'bundles received ' + num(p.bundles_received))),
        html('dl', { class: 'facts' }, facts.map(([label, value]) => [html('dt', {}, label), html('dd', {}, value)])),
        stopped ? html('p', { class: 'alert', role: 'alert', 'data-field': 'refused-alarm' }, stopped) : null,
        p.queue_alarm ? html('p', { class: 'alert warn', role: 'alert', 'data-field': 'queue-alarm' }, p.queue_alarm) : null,
        p.delivery_error ? html('p', { class: 'alert', role: 'alert', 'data-field': 'delivery-error' },
          'Last delivery failed: ' + p.delivery_error) : null);
    }));
  }

  // Per interval between successive samples: records per second.
  function rates(samples, field) {
    const points = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      const seconds = (b.at_ms - a.at_ms) / 1000;
      if (seconds <= 0) continue;
      points.push([b.at_ms / 1000, Math.max(0, b[field] - a[field]) / seconds]);
    }
    return points;
  }

  function renderThroughput(s) {
    const samples = s.throughput ? s.throughput.samples : [];
    const series = [
      { name: 'accepted from sources', field: 'accepted' },
      { name: 'delivered to partners', field: 'delivered' },
      { name: 'received from partners', field: 'received' },
      { name: 'matched', field: 'matched' },
    ].map((x, i) => ({ name: x.name, cls: 's' + i, points: rates(samples, x.field) }));
    const intervals = series[0].points.length;
    lineChart('chart-throughput', 'legend-throughput', {
      label: 'Throughput, records per second',
      series,
      count: intervals,
      empty: 'Collecting samples (one every ' + Math.round((s.throughput ? s.throughput.interval_ms : 5000) / 1000) + ' s)…',
      y: { format: (v) => (v === 0 ? '0' : v >= 100 ? num(Math.round(v)) : v.toFixed(v >= 10 ? 0 : 1)), unit: '/s' },
      x: { time: true },
      dots: false,
    });
  }

  function renderQueue(s) {
    const samples = s.throughput ? s.throughput.samples : [];
    const points = samples.map((x) => [x.at_ms / 1000, Math.max(0, x.queued - x.delivered)]);
    lineChart('chart-queue', 'legend-queue', {
      label: 'Records waiting for a receipt',
      series: [{ name: 'backlog, all partners', cls: 's0', points }],
      count: points.length,
      empty: 'Collecting samples…',
      y: { format: (v) => num(Math.round(v)), unit: '', integer: true },
      x: { time: true },
      dots: false,
      area: true,
    });
  }

  function breakdownEmpty() {
    if (state.breakdownError) {
      return state.breakdownError.status === 403
        ? 'Needs the analyst role: ' + state.breakdownError.message
        : 'Unavailable: ' + state.breakdownError.message;
    }
    return state.breakdown ? 'No exit records received in this period.' : 'Loading…';
  }

  function renderReconciliation() {
    const b = state.breakdown;
    const note = $('breakdown-note');
    note.textContent = b && b.from !== null
      ? utc(b.from).slice(0, 16) + ' to ' + utc(b.to).slice(0, 16) + ' UTC, by ' + (b.step === 3600 ? 'hour' : b.step === 86400 ? 'day' : b.step / 3600 + ' hours')
      : '';
    const series = (b ? b.partners : []).map((p, i) => ({
      name: 'from ' + p.partner,
      cls: 's' + (i % 4),
      points: p.periods
        .filter((x) => x.reconciliation_rate !== null)
        .map((x) => [x.from, x.reconciliation_rate * 100, x]),
    }));
    const count = series.reduce((n, x) => n + x.points.length, 0);
    lineChart('chart-reconciliation', 'legend-reconciliation', {
      label: 'Reconciliation rate per ' + (b && b.step === 3600 ? 'hour' : 'period'),
      series,
      count,
      empty: breakdownEmpty(),
      y: { format: (v) => v.toFixed(0), unit: '%', max: 100 },
      x: { time: true, domain: b && b.from !== null ? [b.from, b.to - b.step] : null, days: b && b.step >= 86400 },
      dots: true,
      title: (series, point) => utc(point[0]).slice(0, b.step >= 86400 ? 10 : 16) + ' · ' + series.name + ': ' +
        point[1].toFixed(1) + '% of ' + num(point[2].exit_records_received) + ' exit records',
    });
  }

  function renderPorts() {
    const b = state.breakdown;
    const container = $('chart-ports');
    const several = b && b.partners.length > 1;
    const rows = (b ? b.partners : []).flatMap((p, i) => p.ports.map((port) => ({
      label: several ? p.partner + ' ' + port.port_code : port.port_code,
      cls: 's' + (i % 4),
      figures: port,
    })));
    rows.sort((a, b2) => b2.figures.exit_records_received - a.figures.exit_records_received);
    const shown = rows.slice(0, PORTS_SHOWN);
    if (shown.length === 0) {
      container.replaceChildren(html('p', { class: 'empty' }, breakdownEmpty()));
      container.dataset.points = '0';
      return;
    }
    const width = 600;
    const rowHeight = 16;
    const left = 70;
    const right = 150;
    const height = shown.length * rowHeight + 20;
    const scale = (rate) => Math.round((rate || 0) * (width - left - right) * 10) / 10;
    const chart = svg('svg', {
      viewBox: '0 0 ' + width + ' ' + height, role: 'img', id: 'svg-ports',
      'aria-label': 'Reconciliation rate per port, ' + shown.length + ' busiest ports: ' +
        shown.map((r) => r.label + ' ' + percent(r.figures.reconciliation_rate)).join(', '),
    });
    const axis = svg('g', { class: 'axis' });
    for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
      const x = left + scale(tick);
      axis.append(svg('line', { x1: x, x2: x, y1: 0, y2: height - 16 }),
        svg('text', { x, y: height - 3, 'text-anchor': 'middle' }, (tick * 100) + '%'));
    }
    chart.append(axis);
    shown.forEach((r, i) => {
      const y = i * rowHeight + 2;
      const f = r.figures;
      const text = percent(f.reconciliation_rate) + ' of ' + num(f.exit_records_received) +
        (f.exits_in_review ? ' · ' + num(f.exits_in_review) + ' review' : '');
      chart.append(svg('g', { class: 'port', 'data-port': r.label },
        svg('title', {}, 'Port ' + r.label + ': ' + num(f.exits_reconciled) + ' of ' + num(f.exit_records_received) +
          ' exit records linked (' + percent(f.reconciliation_rate) + '), ' + num(f.exits_in_review) + ' in review'),
        svg('text', { class: 'bar-label', x: left - 8, y: y + 10, 'text-anchor': 'end' }, r.label),
        svg('rect', { class: 'bar-track', x: left, y, width: scale(1), height: rowHeight - 4, rx: 2 }),
        svg('rect', { class: 'bar ' + r.cls, x: left, y, width: scale(f.reconciliation_rate), height: rowHeight - 4, rx: 2 }),
        svg('text', { class: 'bar-value', x: left + scale(1) + 6, y: y + 10 }, text)));
    });
    container.replaceChildren(chart);
    container.dataset.points = String(shown.length);
    if (rows.length > shown.length) {
      container.append(html('p', { class: 'muted more' }, (rows.length - shown.length) + ' more ports not shown'));
    }
  }

  // ---- a line chart in SVG ------------------------------------------------------

  function niceCeiling(v) {
    if (!(v > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * power) return m * power;
    return 10 * power;
  }

  const TIME_STEPS = [5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400];
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  function timeTicks(x0, x1, days) {
    const span = Math.max(1, x1 - x0);
    const step = TIME_STEPS.find((s) => span / s <= 6) || TIME_STEPS[TIME_STEPS.length - 1];
    const ticks = [];
    for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) ticks.push(t);
    const label = (t) => {
      const d = new Date(t * 1000);
      if (days || step >= 86400) return MONTHS[d.getUTCMonth()] + ' ' + d.getUTCDate();
      const minutes = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
      return step < 60 ? minutes + ':' + pad(d.getUTCSeconds()) : minutes;
    };
    return ticks.map((t) => [t, label(t)]);
  }

  function lineChart(containerId, legendId, o) {
    const container = $(containerId);
    const legend = $(legendId);
    container.dataset.points = String(o.count);
    legend.replaceChildren(...o.series.map((s) => html('li', { class: s.cls }, s.name)));
    const all = o.series.flatMap((s) => s.points);
    if (all.length === 0) {
      container.replaceChildren(html('p', { class: 'empty' }, o.empty));
      return;
    }
    const width = 600;
    const height = 165;
    const m = { left: 48, right: 14, top: 8, bottom: 20 };
    let [x0, x1] = o.x.domain || [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    if (x1 <= x0) {
      x0 -= 1;
      x1 += 1;
    }
    const yMax = o.y.max || niceCeiling(Math.max(...all.map((p) => p[1])));
    const X = (x) => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
    const Y = (y) => height - m.bottom - (y / yMax) * (height - m.top - m.bottom);
    const latest = o.series.map((s) => s.points.length
      ? s.name + ' ' + o.y.format(s.points[s.points.length - 1][1]) + o.y.unit
      : s.name + ' no data').join('; ');
    const chart = svg('svg', {
      viewBox: '0 0 ' + width + ' ' + height, role: 'img', id: 'svg-' + containerId.replace(/^chart-/, ''),
      'aria-label': o.label + ', ' + o.count + ' points. Latest: ' + latest + '.',
    });
    const grid = svg('g', { class: 'grid' });
    const axis = svg('g', { class: 'axis' });
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      if (o.y.integer && v !== Math.round(v)) continue;
      grid.append(svg('line', { x1: m.left, x2: width - m.right, y1: Y(v), y2: Y(v) }));
      axis.append(svg('text', { x: m.left - 6, y: Y(v) + 4, 'text-anchor': 'end' }, o.y.format(v) + o.y.unit));
    }
    axis.append(svg('line', { x1: m.left, x2: width - m.right, y1: Y(0), y2: Y(0) }));
    for (const [t, label] of timeTicks(x0, x1, o.x.days)) {
      const x = X(t).toFixed(1);
      axis.append(svg('line', { x1: x, x2: x, y1: Y(0), y2: Y(0) + 4 }),
        svg('text', { x, y: height - 6, 'text-anchor': 'middle' }, label));
    }
    chart.append(grid, axis);
    for (const s of o.series) {
      if (s.points.length === 0) continue;
      const coords = s.points.map((p) => X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1));
      if (o.area) {
        chart.append(svg('polygon', {
          class: 'area',
          points: X(s.points[0][0]).toFixed(1) + ',' + Y(0) + ' ' + coords.join(' ') + ' ' +
            X(s.points[s.points.length - 1][0]).toFixed(1) + ',' + Y(0),
        }));
      }
      chart.append(svg('polyline', { class: 'series ' + s.cls, points: coords.join(' '), 'data-series': s.name },
        svg('title', {}, s.name)));
      if (o.dots || s.points.length === 1) {
        for (const p of s.points) {
          chart.append(svg('circle', { class: 'dot ' + s.cls, cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: 3.5 },
            svg('title', {}, o.title ? o.title(s, p) : s.name + ': ' + o.y.format(p[1]) + o.y.unit)));
        }
      }
    }
    container.replaceChildren(chart);
  }

  // ---- start ---------------------------------------------------------------------

  function init() {
    $('login').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      $('token').value = '';
      if (token) signIn(token);
    });
    $('forget').addEventListener('click', () => signOut(null));
    $('period').addEventListener('change', () => {
      // Abandon the poller for the old period and start one for the new.
      state.breakdownRun += 1;
      state.breakdown = null;
      state.breakdownError = null;
      render();
      if (state.token) pollBreakdown(state.generation, state.breakdownRun);
    });
    let token = tokenFromFragment();
    if (!token) {
      try {
        token = sessionStorage.getItem(TOKEN_KEY);
      } catch (e) {
        token = null;
      }
    }
    if (token) {
      signIn(token);
    } else {
      signOut(null);
    }
  }

  init();
})();
