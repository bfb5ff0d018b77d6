// Drives the unmodified mParticle Web SDK (npm @mparticle/web-sdk@2.68.0,
// dist/mparticle.js) in headless Debian Chromium against a custos server.
//
// Usage: node web_sdk.mjs BASE_URL WEB_KEY
// (or the environment variables CUSTOS_URL and CUSTOS_WEB_KEY; CHROMIUM_PATH
// overrides /usr/bin/chromium). BASE_URL is the server's root, e.g.
// http://127.0.0.1:8080.
//
// The page (web_sdk.html) is served from another loopback port, so every call
// to custos is cross-origin, as on a real site. The scenario: identify at init,
// an event, user attributes, CCPA consent, login, modify, search, logout,
// a login with a new customer ID, events in between. Once the SDK's uploads
// have gone quiet, one JSON report goes to stdout: each callback's httpCode and
// mpid, and every request the page made to custos with its status. Exits
// non-zero if a call or an upload failed.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

function argument(index, variable) {
  const value = process.argv[2 + index] || process.env[variable];
  if (!value) {
    console.error(`usage: node web_sdk.mjs BASE_URL WEB_KEY (or set ${variable})`);
    process.exit(2);
  }
  return value;
}

const BASE_URL = argument(0, 'CUSTOS_URL').replace(/\/+$/, '');
const KEY = argument(1, 'CUSTOS_WEB_KEY');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const RUN = randomUUID().slice(0, 8);
const QUIET_MS = 2000; // Uploads are over once none has started or been pending for this long.
const DEADLINE_MS = 60000; // The whole browser part, at most.

const sdkPath = require.resolve('@mparticle/web-sdk/dist/mparticle.js');
const sdkVersion = JSON.parse(readFileSync(join(dirname(sdkPath), '..', 'package.json'), 'utf8')).version;
const files = {
  '/': { type: 'text/html; charset=utf-8', body: readFileSync(join(here, 'web_sdk.html')) },
  '/mparticle.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(sdkPath) },
};

// The page's own origin: a tiny static server on another loopback port.
function startPageServer() {
  const server = createServer((request, response) => {
    const file = files[new URL(request.url, 'http://x').pathname];
    if (request.url === '/favicon.ico') {
      response.writeHead(204).end();
      return;
    }
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-store' }).end(file.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// Every request the page makes to custos, with its outcome.
function watchCustos(page, custosOrigin) {
  const requests = [];
  const pending = new Set();
  let lastActivity = Date.now();
  const entryOf = new Map();
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin !== custosOrigin) return;
    const entry = { method: request.method(), path: url.pathname + url.search, status: null };
    const body = request.postData();
    if (body && url.pathname.startsWith('/v3/JS/')) {
      entry.content_type = request.headers()['content-type'] || null;
      try {
        const batch = JSON.parse(body);
        entry.batch = {
          mpid: batch.mpid,
          events: (batch.events || []).map((event) => event.event_type),
          user_identities: batch.user_identities || {},
          user_attributes: batch.user_attributes || {},
          ccpa: batch.consent_state?.ccpa?.data_sale_opt_out ?? null,
        };
      } catch {
        entry.batch = { unparsable: body.slice(0, 200) };
      }
    } else if (body) {
      try {
        const json = JSON.parse(body);
        entry.known_identities = json.known_identities ?? undefined;
        entry.identity_changes = json.identity_changes ?? undefined;
        entry.previous_mpid = json.previous_mpid ?? undefined;
      } catch {
        entry.body = body.slice(0, 200);
      }
    }
    requests.push(entry);
    entryOf.set(request, entry);
    pending.add(request);
    lastActivity = Date.now();
  });
  page.on('response', (response) => {
    const entry = entryOf.get(response.request());
    if (!entry) return;
    entry.status = response.status();
    entry.access_control_allow_origin = response.headers()['access-control-allow-origin'] ?? null;
  });
  const settle = (request) => {
    if (pending.delete(request)) lastActivity = Date.now();
  };
  page.on('requestfinished', settle);
  page.on('requestfailed', (request) => {
    const entry = entryOf.get(request);
    // A fetch whose body the SDK never reads ends as net::ERR_ABORTED after its
    // response: only a request without one has failed.
    if (entry && entry.status === null) entry.failure = request.failure()?.errorText ?? 'failed';
    settle(request);
  });
  const quiet = async (deadline) => {
    while (Date.now() < deadline) {
      if (pending.size === 0 && Date.now() - lastActivity >= QUIET_MS) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  };
  return { requests, quiet };
}

async function main() {
  const deadline = Date.now() + DEADLINE_MS;
  const custos = new URL(BASE_URL);
  const pageServer = await startPageServer();
  const pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  const userDataDir = mkdtempSync(join(tmpdir(), 'custos-chromium-'));
  const consoleMessages = [];
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout: 30000,
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(30000);
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') {
        consoleMessages.push(`${message.type()}: ${message.text()}`.slice(0, 500));
      }
    });
    page.on('pageerror', (error) => consoleMessages.push(`pageerror: ${error.message}`.slice(0, 500)));
    const watcher = watchCustos(page, custos.origin);

    await page.goto(`${pageOrigin}/`, { waitUntil: 'load' });
    const outcome = await page.evaluate(
      (options) => window.runScenario(options),
      { custosHost: custos.host, key: KEY, run: RUN },
    );
    const settled = await watcher.quiet(deadline);

    const uploads = watcher.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v3/JS/'));
    const accepted = uploads.filter((r) => r.status >= 200 && r.status < 300);
    const { results } = outcome;
    const failures = [];
    const expectStatus = (name, wanted) => {
      const got = results[name] ? results[name].httpCode : 'no call';
      if (got !== wanted) failures.push(`${name}: httpCode ${got}, expected ${wanted}`);
    };
    for (const name of ['identify', 'login', 'modify', 'logout', 'login_new_customer_id']) expectStatus(name, 200);
    if (!results.search?.skipped) {
      expectStatus('search', 200);
      expectStatus('search_unknown', 404);
    }
    if (results.error) failures.push(`the scenario threw: ${results.error}`);
    if (!settled) failures.push('uploads did not go quiet in time');
    if (accepted.length === 0) failures.push('no event batch was accepted');
    for (const upload of uploads) {
      if (!(upload.status >= 200 && upload.status < 300)) {
        failures.push(`upload ${upload.path}: status ${upload.status}${upload.failure ? ` (${upload.failure})` : ''}`);
      }
    }

    const report = {
      client: 'web',
      sdk: `@mparticle/web-sdk ${sdkVersion}`,
      browser: `chromium ${context.browser()?.version() ?? ''}`.trim(),
      page_origin: pageOrigin,
      custos: custos.origin,
      run: RUN,
      ok: failures.length === 0,
      failures,
      identities: outcome.identities,
      results,
      uploads: {
        requests: uploads.length,
        accepted: accepted.length,
        events: accepted.reduce((n, r) => n + (r.batch?.events?.length ?? 0), 0),
      },
      requests: watcher.requests,
      console: consoleMessages,
    };
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    if (context) await context.close().catch(() => {});
    pageServer.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => {
  console.error(`web_sdk.mjs: gave up after ${DEADLINE_MS + 30000} ms`);
  process.exit(1);
}, DEADLINE_MS + 30000);
watchdog.unref();

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
