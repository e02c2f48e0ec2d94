// SPDX-License-Identifier: MIT
// Drives a running headless Chromium over the DevTools protocol as an operator would use
// the dashboard: on a workload page, marks an alert wrong; the aggregator answers 401, the
// page asks for the API token; the token is typed in, the alert marked again, and the page
// then shows it marked wrong. Used by tests/e2e/test_dashboard.sh.
//
//   node --experimental-websocket dashboard_feedback.js DEVTOOLS_PORT URL ALERT_ID TOKEN
// Prints one line per step; exit 0 when every step happened, 1 otherwise (with why).
'use strict';

const [port, url, alertId, token] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
	const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
	const page = targets.find((t) => t.type === 'page');
	if (!page)
		throw new Error('no page target');
	const ws = new WebSocket(page.webSocketDebuggerUrl);
	await new Promise((resolve, reject) => {
		ws.onopen = resolve;
		ws.onerror = () => reject(new Error('cannot connect to the page'));
	});
	let seq = 0;
	const pending = new Map();
	const errors = [];
	ws.onmessage = (m) => {
		const d = JSON.parse(m.data);
		if (d.id && pending.has(d.id)) {
			pending.get(d.id)(d);
			pending.delete(d.id);
		} else if (d.method === 'Runtime.exceptionThrown') {
			const x = d.params.exceptionDetails;
			errors.push((x.exception && x.exception.description) || x.text);
		}
	};
	const send = (method, params) => new Promise((resolve) => {
		const id = ++seq;
		pending.set(id, resolve);
		ws.send(JSON.stringify({ id, method, params: params || {} }));
	});
	const evaluate = async (expression) => {
		const r = await send('Runtime.evaluate', { expression, returnByValue: true });
		if (r.error || r.result.exceptionDetails)
			throw new Error(`${expression}: ${JSON.stringify(r.error || r.result.exceptionDetails)}`);
		return r.result.result.value;
	};
	const until = async (what, expression, ms) => {
		const end = Date.now() + (ms || 60000);
		while (Date.now() < end) {
			if (errors.length)
				throw new Error(`JavaScript error: ${errors.join('; ')}`);
			if (await evaluate(expression))
				return console.log(`ok   ${what}`);
			await sleep(100);
		}
		throw new Error(`timed out waiting for: ${what}`);
	};
	const row = `document.querySelector('#wl-alerts tr.alert-row[data-alert-id="${alertId}"]')`;
	const button = (v) => `${row} && ${row}.querySelector('button[data-verdict="${v}"]')`;

	await send('Runtime.enable');
	await send('Page.enable');
	await send('Page.navigate', { url });
	await until('the alert is listed with feedback buttons', `!!(${button('wrong')})`);
	await evaluate(`(${button('wrong')}).click()`);
	await until('without a token the page asks for it (401)',
		`!!document.querySelector('#error form.token')`);
	await sleep(6000); // a refresh in between keeps the form
	await until('the token form survives a refresh', `!!document.querySelector('#error form.token')`);
	await evaluate(`(() => {
		const f = document.querySelector('#error form.token');
		f.querySelector('input').value = ${JSON.stringify(token)};
		f.requestSubmit();
	})()`);
	await until('the form is gone and the buttons are back',
		`!document.querySelector('#error form.token') && !!(${button('wrong')})`);
	await evaluate(`(${button('wrong')}).click()`);
	await until('the alert shows "wrong"', `!!(${row} && ${row}.querySelector('.badge.fb-wrong'))`);
	await until('no error shown', `document.getElementById('error').hidden`);
	ws.close();
}

main().then(() => process.exit(0), (e) => {
	console.log(`FAIL ${e.message}`);
	process.exit(1);
});
