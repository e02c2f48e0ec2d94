// SPDX-License-Identifier: MIT
// prescient's dashboard: a fleet overview (#/) and a workload page (#/workload/ID), both
// read from the aggregator's JSON API (/api/v1) and refreshed every 5 s. Plots use uPlot
// (served from /static, embedded at build time). After a plot is drawn its element carries
// data-points (usage samples), data-forecast-points, data-limit-points and data-detections,
// which the end-to-end test (tests/e2e/test_dashboard.sh) reads from the DOM.
'use strict';

(function () {
	const REFRESH_MS = 5000;
	const API = '/api/v1';
	const RANGES = [
		{ key: 'all', label: 'all', since: null, tier: null },
		{ key: '15m', label: '15 min', since: 900, tier: 'raw' },
		{ key: '1h', label: '1 h', since: 3600, tier: 'raw' },
		{ key: '6h', label: '6 h', since: 6 * 3600, tier: '5m' },
		{ key: '1d', label: '24 h', since: 86400, tier: '5m' },
		{ key: '7d', label: '7 days', since: 7 * 86400, tier: '1h' },
	];
	const COLORS = {
		usage: '#1f6feb',
		forecast: '#8250df',
		band: 'rgba(130, 80, 223, 0.16)',
		limits: ['#cf222e', '#bc4c00', '#9a6700'],
		detection: '#d1242f',
	};

	let timer = null;
	let charts = new Map(); // plot id -> { u, sig }
	let generation = 0; // a view change discards answers to the previous view's requests

	// --- small helpers ---------------------------------------------------------------

	function el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'class')
				e.className = v;
			else if (k === 'text')
				e.textContent = v;
			else
				e.setAttribute(k, v === true ? '' : String(v));
		}
		for (const c of children.flat(Infinity)) {
			if (c === null || c === undefined || c === false)
				continue;
			e.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return e;
	}

	// Reads are open on a loopback --http; elsewhere the API wants the bearer token, which
	// the operator pastes once (kept in this browser's localStorage, sent to this origin only).
	const TOKEN_KEY = 'prescient-api-token';

	function withToken(headers) {
		const token = localStorage.getItem(TOKEN_KEY);
		if (token)
			headers.Authorization = `Bearer ${token}`;
		return headers;
	}

	function tokenWanted(path) {
		const e = new Error(`${API}${path}: this aggregator wants its API token`);
		e.needToken = true;
		return e;
	}

	async function api(path) {
		const r = await fetch(API + path, { cache: 'no-store', headers: withToken({}) });
		if (r.status === 401)
			throw tokenWanted(path);
		if (!r.ok) {
			let msg = `HTTP ${r.status}`;
			try {
				const j = await r.json();
				if (j && j.error)
					msg += `: ${j.error}`;
			} catch (e) { /* not JSON */ }
			throw new Error(`${API}${path}: ${msg}`);
		}
		return r.json();
	}

	// POST with the token; 401 asks for it (403: the aggregator has none configured).
	async function apiPost(path, body) {
		const r = await fetch(API + path, {
			method: 'POST', headers: withToken({ 'Content-Type': 'application/json' }),
			body: JSON.stringify(body),
		});
		if (r.status === 401)
			throw tokenWanted(path);
		let j = null;
		try {
			j = await r.json();
		} catch (e) { /* not JSON */ }
		if (!r.ok)
			throw new Error(`${API}${path}: HTTP ${r.status}${j && j.error ? `: ${j.error}` : ''}`);
		return j;
	}

	const num = (v) => typeof v === 'number' && isFinite(v);

	function fmtNum(v, digits) {
		if (!num(v))
			return '—';
		const a = Math.abs(v);
		if (a !== 0 && a < 0.01)
			return v.toExponential(1);
		return v.toFixed(digits === undefined ? (a >= 100 ? 0 : a >= 10 ? 1 : 2) : digits);
	}

	function fmtBytes(v) {
		if (!num(v))
			return '—';
		const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		let x = Math.abs(v);
		while (x >= 1024 && i < units.length - 1) {
			x /= 1024;
			i++;
		}
		return `${v < 0 ? '-' : ''}${x.toFixed(x >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
	}

	function fmtRate(v) {
		if (!num(v))
			return '—';
		const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
		let i = 0;
		let x = Math.abs(v);
		while (x >= 1000 && i < units.length - 1) {
			x /= 1000;
			i++;
		}
		return `${x.toFixed(x >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
	}

	const fmtCores = (v) => (num(v) ? `${fmtNum(v)} cores` : '—');
	const fmtPerS = (v) => (num(v) ? `${fmtNum(v)}/s` : '—');

	function fmtAge(ts) {
		const d = Date.now() / 1000 - ts;
		if (d < -1)
			return `in ${fmtDur(-d)}`;
		if (d < 2)
			return 'now';
		return `${fmtDur(d)} ago`;
	}

	function fmtDur(s) {
		if (s < 90)
			return `${Math.round(s)} s`;
		if (s < 5400)
			return `${Math.round(s / 60)} min`;
		if (s < 2 * 86400)
			return `${Math.round(s / 3600)} h`;
		return `${Math.round(s / 86400)} days`;
	}

	function fmtTime(ts) {
		if (!num(ts))
			return '—';
		const d = new Date(ts * 1000);
		const p = (n) => String(n).padStart(2, '0');
		const today = new Date().toDateString() === d.toDateString();
		const hms = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
		return today ? hms : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${hms}`;
	}

	function timeCell(ts) {
		return el('td', { class: 'time', title: num(ts) ? new Date(ts * 1000).toString() : null },
			fmtTime(ts), el('span', { class: 'age' }, num(ts) ? fmtAge(ts) : ''));
	}

	// A limit or target by its key: cores, bytes, rates; 0 or null = none.
	function fmtKeyed(key, v) {
		if (v === null || v === undefined)
			return '—';
		if (typeof v !== 'number')
			return String(v);
		if (/egress|per_s/.test(key))
			return fmtRate(v);
		if (/memory|mem|bytes/.test(key))
			return fmtBytes(v);
		if (/cpu.*cores|cores/.test(key))
			return `${fmtNum(v)} cores`;
		return fmtNum(v);
	}

	const LIMIT_LABELS = {
		cpu_max_cores: 'cpu.max',
		memory_high: 'memory.high',
		memory_max: 'memory.max',
		egress_bytes_per_s: 'egress',
	};

	function limitsList(limits) {
		if (!limits || typeof limits !== 'object')
			return el('span', { class: 'muted' }, 'none');
		const parts = Object.entries(limits).filter(([, v]) => num(v) && v > 0);
		if (!parts.length)
			return el('span', { class: 'muted' }, 'unlimited');
		return el('span', { class: 'limits' }, parts.map(([k, v]) =>
			el('span', { class: 'chip', title: k }, `${LIMIT_LABELS[k] || k} ${fmtKeyed(k, v)}`)));
	}

	function workloadLabel(w) {
		return (w && (w.name || w.cgroup)) || (w ? `#${w.id}` : '?');
	}

	function className(c) {
		if (!c)
			return null;
		return typeof c === 'string' ? c : c.class || c.name || null;
	}

	// Outcomes are the agents' AdjustmentOutcome results (APPLIED, REFUSED_GUARD ...);
	// none yet = pending until the adjustment expires.
	function outcomeBadge(a) {
		let o = a.outcome;
		if (o === null || o === undefined || o === '')
			o = num(a.expires_at) && a.expires_at < Date.now() / 1000 ? 'expired' : 'pending';
		o = String(o).toLowerCase();
		return el('span', { class: `badge outcome-${o.replace(/[^a-z]/g, '')}` }, o.replace(/_/g, ' '));
	}

	function targetsList(t) {
		if (!t || typeof t !== 'object')
			return el('span', { class: 'muted' }, '—');
		const parts = Object.entries(t).filter(([, v]) => v !== null && v !== undefined);
		return el('span', { class: 'limits' }, parts.map(([k, v]) =>
			el('span', { class: 'chip', title: k }, `${LIMIT_LABELS[k] || k} ${fmtKeyed(k, v)}`)));
	}

	function section(title, id, ...body) {
		return el('section', { class: 'card', id }, el('h2', {}, title), ...body);
	}

	function table(cls, head, rows, empty) {
		if (!rows.length)
			return el('p', { class: 'empty' }, empty);
		return el('div', { class: 'scroll' },
			el('table', { class: cls },
				el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
				el('tbody', {}, rows)));
	}

	function setStatus(state, text) {
		const s = document.getElementById('status');
		s.dataset.state = state;
		s.textContent = text;
	}

	function showError(err) {
		const e = document.getElementById('error');
		// The token form stays until it is used (refreshes would otherwise drop it).
		if (e.querySelector('form.token') && (!err || err.needToken))
			return;
		if (!err) {
			e.hidden = true;
			e.textContent = '';
			return;
		}
		e.hidden = false;
		e.textContent = `The aggregator's API: ${err.message || err}`;
		if (!err.needToken)
			return;
		const input = el('input', { type: 'password', id: 'token', placeholder: 'API token',
			autocomplete: 'off' });
		const form = el('form', { class: 'token' }, input, el('button', { type: 'submit' }, 'Use token'));
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			if (input.value.trim())
				localStorage.setItem(TOKEN_KEY, input.value.trim());
			form.remove();
			showError(null);
			navigate();
		});
		e.append(' ', form);
	}

	// --- fleet overview --------------------------------------------------------------

	function alertRows(alerts, names) {
		return alerts.map((a) => el('tr', { class: 'alert-row', 'data-alert-id': a.id },
			timeCell(a.ts),
			el('td', {}, a.workload_id !== null && a.workload_id !== undefined
				? [el('a', { href: `#/workload/${a.workload_id}` }, names.get(a.workload_id) || `#${a.workload_id}`),
					el('div', { class: 'muted small' }, a.host || '')]
				: el('span', { class: 'muted' }, a.host || 'fleet')),
			el('td', {}, el('span', { class: `badge kind` }, a.kind || '')),
			el('td', { class: 'num' }, fmtNum(a.score)),
			el('td', { class: 'explain' }, a.text || ''),
			el('td', { class: 'feedback' }, a.feedback
				? el('span', { class: `badge fb-${a.feedback}` }, String(a.feedback))
				: ['right', 'wrong'].map((v) => el('button', {
					class: `fb fb-${v}`, type: 'button', 'data-verdict': v, 'data-alert-id': a.id,
					title: v === 'right' ? 'This alert was right' : 'This alert was wrong: '
						+ 'prescient moves this workload\'s detection threshold or margin',
				}, v === 'right' ? '✓ right' : '✗ wrong')))));
	}

	// Adjustments name their workload by host and cgroup (as agents do): @ids maps
	// "host cgroup" to the workload's id for a link to its page.
	function adjustmentRows(adjs, ids) {
		return adjs.map((a) => el('tr', { class: 'adjustment-row', 'data-adjustment-id': a.id },
			timeCell(a.issued_at),
			el('td', {}, ids && ids.has(`${a.host} ${a.workload}`)
				? el('a', { href: `#/workload/${ids.get(`${a.host} ${a.workload}`)}` }, a.workload)
				: el('div', {}, a.workload || ''),
			el('div', { class: 'muted small' }, a.host || '')),
			el('td', {}, a.tier !== null && a.tier !== undefined ? String(a.tier) : '—'),
			el('td', {}, targetsList(a.targets)),
			el('td', { class: 'explain' }, a.reason || ''),
			el('td', {}, outcomeBadge(a),
				a.outcome_detail ? el('div', { class: 'muted small' }, a.outcome_detail) : null)));
	}

	async function renderFleet(gen) {
		const [wl, cl, al, ad] = await Promise.all([
			api('/workloads'), api('/clusters'), api('/alerts?limit=50'), api('/adjustments?limit=20'),
		]);
		if (gen !== generation)
			return;
		const workloads = wl.workloads || [];
		const names = new Map(workloads.map((w) => [w.id, workloadLabel(w)]));
		const hostOf = new Map(workloads.map((w) => [w.id, w.host]));
		const alerts = al.alerts || [];
		const open = alerts.filter((a) => !a.feedback);
		const OPEN_SHOWN = 8;
		const adjustments = ad.adjustments || [];
		const clusters = cl.clusters || [];
		const managed = workloads.filter((w) => w.managed).length;
		const hosts = new Set(workloads.map((w) => w.host)).size;

		const summary = el('div', { class: 'summary' },
			[[workloads.length, 'workloads'], [hosts, 'hosts'], [managed, 'managed'],
				[clusters.length, 'clusters'],
				[Math.max(open.length, workloads.reduce((n, w) => n + (w.open_alerts || 0), 0)), 'open alerts'],
				[adjustments.length, 'recent adjustments']].map(([n, l]) =>
				el('div', { class: 'stat' }, el('div', { class: 'n' }, n), el('div', { class: 'l' }, l))));

		const wrows = workloads.map((w) => el('tr', { class: 'workload-row', 'data-workload-id': w.id },
			el('td', {}, w.host || ''),
			el('td', {}, el('a', { href: `#/workload/${w.id}`, title: w.cgroup || '' }, workloadLabel(w)),
				w.name && w.cgroup ? el('div', { class: 'muted small mono' }, w.cgroup) : null),
			el('td', {}, w.managed ? el('span', { class: 'badge managed' }, 'managed') : el('span', { class: 'muted' }, 'observed')),
			el('td', {}, className(w.class) || el('span', { class: 'muted' }, '—')),
			el('td', { class: 'num' }, w.cluster === null || w.cluster === undefined ? '—' : String(w.cluster)),
			el('td', { class: 'num' }, fmtCores(w.cpu_cores)),
			el('td', { class: 'num' }, fmtBytes(w.mem_bytes)),
			el('td', {}, limitsList(w.limits)),
			el('td', { class: 'num' }, w.open_alerts ? el('span', { class: 'badge alert' }, w.open_alerts) : '0'),
			timeCell(w.last_seen)));

		const crows = clusters.map((c) => el('tr', { class: 'cluster-row' },
			el('td', { class: 'num' }, String(c.cluster)),
			el('td', {}, c.method || '', el('div', { class: 'muted small' }, `quality ${fmtNum(c.quality)}`)),
			el('td', {}, (c.members || []).map((id) =>
				el('a', { class: 'chip', href: `#/workload/${id}`, title: hostOf.get(id) || '' },
					hosts > 1 && hostOf.has(id) ? `${hostOf.get(id)} · ${names.get(id)}` : names.get(id) || `#${id}`)))));

		const view = document.getElementById('view');
		view.replaceChildren(
			summary,
			section('Workloads', 'workloads',
				table('workloads', ['Host', 'Workload', 'Managed', 'Class', 'Cluster', 'CPU', 'Memory',
					'Limits', 'Open alerts', 'Last seen'], wrows,
				'No workloads yet: agents report every window; the first ones appear after a report.')),
			el('div', { class: 'cols' },
				section('Open alerts', 'alerts',
					table('alerts', ['When', 'Workload', 'Kind', 'Score', 'Explanation', 'Feedback'],
						alertRows(open.slice(0, OPEN_SHOWN), names), 'No open alerts.'),
					open.length > OPEN_SHOWN ? el('p', { class: 'muted small' },
						`and ${open.length - OPEN_SHOWN} older open alerts: see each workload's page`) : null),
				section('Clusters', 'clusters',
					table('clusters', ['Cluster', 'Method', 'Members'], crows,
						'No clusters yet (the modeling cycle groups workloads once it has their behaviour).'))),
			section('Recent adjustments', 'adjustments',
				table('adjustments', ['Issued', 'Workload', 'Tier', 'Targets', 'Reason', 'Outcome'],
					adjustmentRows(adjustments, new Map(workloads.map((w) => [`${w.host} ${w.cgroup}`, w.id]))),
					'No adjustments issued yet.')));
		view.dataset.view = 'fleet';
		view.dataset.workloads = String(workloads.length);
		document.title = `prescient · ${workloads.length} workloads`;
	}

	// --- plots -----------------------------------------------------------------------

	// Aligned columns for uPlot: x = every time stamp of the usage, the forecasts, the
	// limit changes and the detections.
	function plotData(spec, d) {
		const hist = d.history || {};
		const ts = hist.ts || [];
		const usage = hist[spec.key] || [];
		let fc = (d.forecasts || []).filter((f) => f.series === spec.series && num(f.ts))
			.sort((a, b) => a.ts - b.ts);
		const lh = (d.limits_history || []).filter((l) => num(l.ts)).sort((a, b) => a.ts - b.ts);
		const det = (d.detections || []).filter((x) => x.series === spec.series && num(x.ts));

		const xs = new Set();
		let lastTs = null;
		let lastVal = null;
		const u = new Map();
		ts.forEach((t, i) => {
			if (!num(t))
				return;
			xs.add(t);
			if (num(usage[i])) {
				u.set(t, usage[i]);
				if (lastTs === null || t >= lastTs) {
					lastTs = t;
					lastVal = usage[i];
				}
			}
		});
		const first = ts.length ? Math.min(...ts.filter(num)) : null;
		// Horizons far beyond the plotted history (24 h ahead of 10 minutes) would squash it
		// into a sliver: show those up to half the history's span (at least a minute).
		const reach = Math.max(60, lastTs !== null && first !== null ? (lastTs - first) / 2 : 0);
		fc = fc.filter((f) => lastTs === null || f.ts <= lastTs + reach);
		fc.forEach((f) => xs.add(f.ts));
		det.forEach((x) => xs.add(x.ts));
		// Limit changes inside the plotted span (the one before it gives the level at its start).
		lh.forEach((l) => {
			if (first === null || l.ts >= first)
				xs.add(l.ts);
		});
		// uPlot spans undefined values and breaks lines at nulls: the usage line is broken
		// where the agent was silent (a gap over 3 times the usual interval) and where a
		// window had no value, and only there.
		const hts = [...new Set(ts.filter(num))].sort((a, b) => a - b);
		const steps = hts.slice(1).map((t, i) => t - hts[i]).sort((a, b) => a - b);
		const usual = steps.length ? steps[steps.length >> 1] : 0;
		const breaks = new Set();
		for (let i = 1; usual > 0 && i < hts.length; i++) {
			if (hts[i] - hts[i - 1] > 3 * usual) {
				const mid = (hts[i] + hts[i - 1]) / 2;
				breaks.add(mid);
				xs.add(mid);
			}
		}
		const x = [...xs].sort((a, b) => a - b);
		const n = x.length;
		const inHist = new Set(hts);
		const cols = [x, x.map((t) => (u.has(t) ? u.get(t) : breaks.has(t) || inHist.has(t) ? null : undefined))];

		// Forecast band, anchored at the last observation so that it starts at "now".
		const fmap = new Map(fc.map((f) => [f.ts, f]));
		for (const q of fc.length ? ['p10', 'p50', 'p90'] : []) {
			cols.push(x.map((t) => {
				if (t === lastTs && lastVal !== null && fc.length)
					return lastVal;
				const f = fmap.get(t);
				return f && num(f[q]) && (lastTs === null || t > lastTs) ? f[q] : undefined;
			}));
		}

		// Limits as step lines: the level in force at each x (0 or null = no limit).
		const limitCols = [];
		for (const lk of spec.limits || []) {
			const col = new Array(n).fill(null);
			let j = -1;
			let any = false;
			for (let i = 0; i < n; i++) {
				while (j + 1 < lh.length && lh[j + 1].ts <= x[i])
					j++;
				const v = j >= 0 ? lh[j][lk] : null;
				if (num(v) && v > 0) {
					col[i] = v;
					any = true;
				}
			}
			if (any)
				limitCols.push({ key: lk, col });
		}
		limitCols.forEach((l) => cols.push(l.col));

		// Detected shifts as markers on the usage line, at the observation nearest in time
		// (a detection is stamped with its model step, not with a window's start).
		const obs = [...u.keys()].sort((a, b) => a - b);
		const nearest = (t) => {
			let lo = 0;
			let hi = obs.length - 1;
			while (lo < hi) {
				const mid = (lo + hi) >> 1;
				if (obs[mid] < t)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo > 0 && Math.abs(obs[lo - 1] - t) < Math.abs(obs[lo] - t))
				lo--;
			return obs.length ? u.get(obs[lo]) : 0;
		};
		const detAt = new Set(det.map((d) => d.ts));
		const detCol = x.map((t) => (detAt.has(t) ? nearest(t) : undefined));
		if (det.length)
			cols.push(detCol);

		return {
			cols, limitKeys: limitCols.map((l) => l.key),
			counts: {
				points: u.size, forecast: fc.length, detections: det.length,
				limits: lh.filter((l) => (spec.limits || []).some((k) => num(l[k]) && l[k] > 0)).length,
			},
			now: lastTs,
		};
	}

	function plotOptions(spec, pd, width) {
		const fmt = spec.fmt;
		const series = [
			{ value: (uu, v) => (v == null ? '—' : fmtTime(v)) },
			{ label: spec.label, stroke: COLORS.usage, width: 1.6,
				fill: 'rgba(31, 111, 235, 0.07)', value: (uu, v) => (v == null ? '—' : fmt(v)) },
		];
		if (pd.counts.forecast) series.push(
			{ label: 'forecast p10', stroke: 'rgba(130, 80, 223, 0.5)', width: 1,
				dash: [3, 3], value: (uu, v) => (v == null ? '—' : fmt(v)) },
			{ label: 'forecast p50', stroke: COLORS.forecast, width: 1.6,
				dash: [6, 4], value: (uu, v) => (v == null ? '—' : fmt(v)) },
			{ label: 'forecast p90', stroke: 'rgba(130, 80, 223, 0.5)', width: 1,
				dash: [3, 3], value: (uu, v) => (v == null ? '—' : fmt(v)) });
		pd.limitKeys.forEach((k, i) => series.push({
			label: `limit ${LIMIT_LABELS[k] || k}`, stroke: COLORS.limits[i % COLORS.limits.length],
			width: 2, paths: uPlot.paths.stepped({ align: 1 }),
			value: (uu, v) => (v == null ? '—' : fmt(v)),
		}));
		if (pd.counts.detections) series.push({
			label: 'detected shift', stroke: COLORS.detection, fill: COLORS.detection, width: 0,
			paths: () => null, points: { show: true, size: 11, width: 2, fill: '#fff' },
			value: (uu, v) => (v == null ? '—' : 'shift'),
		});
		const plugins = [nowLine(pd.now)];
		return {
			width, height: 200,
			scales: { x: { time: true }, y: { range: (uu, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] } },
			series,
			bands: pd.counts.forecast ? [{ series: [4, 2], fill: COLORS.band }] : [],
			axes: [
				{ stroke: '#57606a', grid: { stroke: '#eaeef2' }, ticks: { stroke: '#d0d7de' } },
				{ stroke: '#57606a', size: 74, grid: { stroke: '#eaeef2' }, ticks: { stroke: '#d0d7de' },
					incrs: spec.incrs, values: (uu, vals) => vals.map((v) => fmt(v)) },
			],
			legend: { live: true },
			cursor: { drag: { x: true, y: false } },
			plugins,
		};
	}

	// A vertical "now" line at the last observation: history left, forecast right.
	function nowLine(ts) {
		// The legend shows values only under the cursor (else a row of dashes).
		const idle = (u) => u.root.classList.toggle('idle', u.cursor.idx === null ||
			u.cursor.idx === undefined);
		return {
			hooks: {
				ready: [idle],
				setCursor: [idle],
				draw: [(u) => {
					if (ts === null)
						return;
					const cx = Math.round(u.valToPos(ts, 'x', true));
					if (cx < u.bbox.left || cx > u.bbox.left + u.bbox.width)
						return;
					const c = u.ctx;
					c.save();
					c.strokeStyle = '#8c959f';
					c.setLineDash([2, 3]);
					c.lineWidth = 1;
					c.beginPath();
					c.moveTo(cx, u.bbox.top);
					c.lineTo(cx, u.bbox.top + u.bbox.height);
					c.stroke();
					c.fillStyle = '#57606a';
					c.font = `${Math.round(10 * devicePixelRatio)}px sans-serif`;
					c.fillText('now', cx + 4, u.bbox.top + u.bbox.height - 4 * devicePixelRatio);
					c.restore();
				}],
			},
		};
	}

	function drawPlot(box, spec, d) {
		const pd = plotData(spec, d);
		const target = box.querySelector('.plot');
		const width = Math.max(320, target.clientWidth || box.clientWidth - 32);
		const sig = `${pd.limitKeys.join(',')}/${pd.counts.forecast > 0}/${pd.counts.detections > 0}`;
		const old = charts.get(spec.id);
		if (old && old.sig === sig && old.el === target) {
			old.u.setData(pd.cols);
		} else {
			if (old)
				old.u.destroy();
			target.replaceChildren();
			const u = new uPlot(plotOptions(spec, pd, width), pd.cols, target);
			charts.set(spec.id, { u, sig, el: target });
		}
		target.dataset.points = String(pd.counts.points);
		target.dataset.forecastPoints = String(pd.counts.forecast);
		target.dataset.limitPoints = String(pd.counts.limits);
		target.dataset.detections = String(pd.counts.detections);
		target.dataset.drawn = '1';
		const note = box.querySelector('.plot-note');
		note.textContent = pd.counts.points
			? `${pd.counts.points} samples · ${pd.counts.forecast} forecast horizons · ` +
				`${pd.counts.limits} limit changes · ${pd.counts.detections} detected shifts`
			: 'no samples in this range';
	}

	function resizePlots() {
		for (const { u, el: target } of charts.values()) {
			const w = Math.max(320, target.clientWidth);
			if (Math.abs(w - u.width) > 2)
				u.setSize({ width: w, height: u.height });
		}
	}

	// --- workload page ---------------------------------------------------------------

	// Tick steps for bytes: 1, 2, 4 ... 512 of B, KiB, MiB, GiB (uPlot's default is decimal).
	const BYTE_INCRS = [];
	for (let p = 0; p < 50; p++)
		BYTE_INCRS.push(2 ** p);

	const PLOTS = [
		{ id: 'plot-cpu', key: 'cpu_cores', series: 'cpu', label: 'CPU', title: 'CPU (cores)',
			fmt: (v) => fmtNum(v), limits: ['cpu_max_cores'] },
		{ id: 'plot-mem', key: 'mem_bytes', series: 'mem', label: 'memory', title: 'Memory',
			fmt: fmtBytes, incrs: BYTE_INCRS, limits: ['memory_high', 'memory_max'] },
		{ id: 'plot-net', key: 'net_bytes_per_s', series: 'net', label: 'network', title: 'Network',
			fmt: fmtRate, limits: ['egress_bytes_per_s'] },
		{ id: 'plot-req', key: 'req_per_s', series: 'req', label: 'requests', title: 'Requests',
			fmt: fmtPerS, limits: [] },
	];

	function workloadSkeleton(id, range) {
		const view = document.getElementById('view');
		charts.forEach((c) => c.u.destroy());
		charts = new Map();
		view.replaceChildren(
			el('div', { class: 'crumbs' }, el('a', { href: '#/' }, '← Fleet')),
			el('div', { id: 'wl-head', class: 'card head' }),
			el('div', { class: 'ranges' }, el('span', { class: 'muted' }, 'History: '),
				RANGES.map((r) => el('a', {
					href: `#/workload/${id}?range=${r.key}`,
					class: r.key === range.key ? 'range on' : 'range',
				}, r.label))),
			el('div', { class: 'plots' }, PLOTS.map((p) =>
				el('section', { class: 'card plot-card', id: `${p.id}-card` },
					el('h2', {}, p.title),
					el('div', { class: 'plot', id: p.id, 'data-series': p.series }),
					el('div', { class: 'plot-note muted small' })))),
			el('div', { id: 'wl-explain' }));
		view.dataset.view = 'workload';
		view.dataset.workloadId = String(id);
	}

	function workloadHead(d) {
		const w = d.workload || {};
		const cls = d.class && typeof d.class === 'object' ? d.class : null;
		const facts = [
			['Host', w.host],
			['cgroup', el('span', { class: 'mono' }, w.cgroup || '')],
			['Managed', w.managed ? el('span', { class: 'badge managed' }, 'managed — prescient sets its limits')
				: el('span', { class: 'muted' }, 'observed only')],
			['Class', cls ? `${cls.class || '—'}${num(cls.confidence) ? ` (confidence ${fmtNum(cls.confidence)})` : ''}`
				: className(w.class) || '—'],
			['Cluster', w.cluster === null || w.cluster === undefined ? '—' : String(w.cluster)],
			['Now', `${fmtCores(w.cpu_cores)} · ${fmtBytes(w.mem_bytes)}`],
			['Limits', limitsList(w.limits)],
			['Seen', `${fmtTime(w.first_seen)} – ${fmtTime(w.last_seen)} (${num(w.last_seen) ? fmtAge(w.last_seen) : '—'})`],
		];
		const head = document.getElementById('wl-head');
		head.replaceChildren(
			el('h1', {}, workloadLabel(w)),
			el('dl', { class: 'facts' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v === undefined || v === null ? '—' : v)])),
			cls && cls.explanation ? el('p', { class: 'explain class-explain' },
				el('span', { class: 'muted' }, 'Class: '), cls.explanation) : null);
		document.title = `prescient · ${workloadLabel(w)}`;
	}

	function detectionRows(dets) {
		return dets.slice().sort((a, b) => b.ts - a.ts).slice(0, 50).map((x) =>
			el('tr', { class: 'detection-row' },
				timeCell(x.ts),
				el('td', {}, x.series || ''),
				el('td', {}, x.source || ''),
				el('td', {}, x.direction > 0 ? '↑ up' : x.direction < 0 ? '↓ down' : '—'),
				el('td', { class: 'num' }, fmtNum(x.score)),
				el('td', { class: 'explain' }, x.detail || '')));
	}

	function endpointsTable(eps) {
		if (!Array.isArray(eps) || !eps.length)
			return el('p', { class: 'empty' }, 'No endpoints seen in this range.');
		const rows = eps.slice(0, 30).map((e) => el('tr', { class: 'endpoint-row' },
			el('td', {}, e.protocol || ''),
			el('td', {}, e.role || ''),
			el('td', { class: 'mono' }, e.endpoint || ''),
			el('td', { class: 'num' }, fmtNum(e.count, 0)),
			el('td', { class: 'num' }, fmtNum(e.errors, 0))));
		return table('endpoints', ['Protocol', 'Role', 'Endpoint', 'Requests', 'Errors'], rows, '');
	}

	async function renderWorkload(gen, id, range) {
		let q = '';
		if (range.since)
			q = `?since=${Math.floor(Date.now() / 1000 - range.since)}&tier=${range.tier}`;
		const d = await api(`/workloads/${encodeURIComponent(id)}${q}`);
		if (gen !== generation)
			return;
		workloadHead(d);
		for (const p of PLOTS)
			drawPlot(document.getElementById(`${p.id}-card`), p, d);
		const alerts = (d.alerts || []).slice().sort((a, b) => b.ts - a.ts);
		const adjs = (d.adjustments || []).slice().sort((a, b) => b.issued_at - a.issued_at);
		const names = new Map([[d.workload && d.workload.id, workloadLabel(d.workload)]]);
		document.getElementById('wl-explain').replaceChildren(
			section('Alerts', 'wl-alerts',
				table('alerts', ['When', 'Workload', 'Kind', 'Score', 'Explanation', 'Feedback'],
					alertRows(alerts, names), 'No alerts for this workload.')),
			section('Detected shifts', 'wl-detections',
				table('detections', ['When', 'Series', 'Source', 'Direction', 'Score', 'Detail'],
					detectionRows(d.detections || []), 'No shifts detected.')),
			section('Adjustments', 'wl-adjustments',
				table('adjustments', ['Issued', 'Workload', 'Tier', 'Targets', 'Reason', 'Outcome'],
					adjustmentRows(adjs), 'No adjustments for this workload.')),
			section('Endpoints', 'wl-endpoints', endpointsTable(d.endpoints)));
	}

	// --- routing and refresh ---------------------------------------------------------

	function route() {
		const h = location.hash || '#/';
		const m = /^#\/workload\/([^?/]+)(?:\?range=([a-z0-9]+))?$/.exec(h);
		if (m) {
			const range = RANGES.find((r) => r.key === m[2]) || RANGES[0];
			return { name: 'workload', id: decodeURIComponent(m[1]), range };
		}
		return { name: 'fleet' };
	}

	async function refresh(first) {
		const r = route();
		const gen = generation;
		setStatus('loading', 'updating…');
		try {
			if (r.name === 'workload') {
				if (first)
					workloadSkeleton(r.id, r.range);
				await renderWorkload(gen, r.id, r.range);
			} else {
				await renderFleet(gen);
			}
			if (gen !== generation)
				return;
			showError(null);
			setStatus('ok', `updated ${fmtTime(Date.now() / 1000)}`);
			document.getElementById('view').dataset.loaded = '1';
		} catch (e) {
			if (gen !== generation)
				return;
			showError(e);
			setStatus('error', e.needToken ? 'API token needed' : 'API unreachable');
		}
	}

	function navigate() {
		generation++;
		clearInterval(timer);
		if (route().name === 'fleet') {
			charts.forEach((c) => c.u.destroy());
			charts = new Map();
		}
		document.getElementById('nav-fleet').className = route().name === 'fleet' ? 'on' : '';
		refresh(true);
		timer = setInterval(() => refresh(false), REFRESH_MS);
	}

	// Feedback on an alert (POST /api/v1/feedback), then the page again.
	document.addEventListener('click', async (ev) => {
		const b = ev.target.closest('button.fb');
		if (!b)
			return;
		b.disabled = true;
		try {
			await apiPost('/feedback', { kind: 'alert', id: Number(b.dataset.alertId),
				verdict: b.dataset.verdict });
			showError(null);
			await refresh(false);
		} catch (e) {
			b.disabled = false;
			showError(e);
		}
	});

	window.addEventListener('hashchange', navigate);
	window.addEventListener('resize', resizePlots);
	navigate();
})();
