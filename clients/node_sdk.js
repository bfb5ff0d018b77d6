// Drives the unmodified mParticle Node SDK (npm mparticle@1.0.8) against a
// custos server: one uploadEvents and one bulkUploadEvents.
//
// Usage: node node_sdk.js BASE_URL KEY SECRET
// (or the environment variables CUSTOS_URL, CUSTOS_KEY and CUSTOS_SECRET).
// BASE_URL is the server's root, e.g. http://127.0.0.1:8080; the SDK base path is BASE_URL/v2.
//
// Prints one JSON report on stdout and exits non-zero if any upload failed.
'use strict';

const crypto = require('node:crypto');
const mParticle = require('mparticle');
const sdkVersion = require('mparticle/package.json').version;

function argument(index, variable) {
  const value = process.argv[2 + index] || process.env[variable];
  if (!value) {
    console.error(`usage: node node_sdk.js BASE_URL KEY SECRET (or set ${variable})`);
    process.exit(2);
  }
  return value;
}

const BASE_URL = argument(0, 'CUSTOS_URL').replace(/\/+$/, '');
const KEY = argument(1, 'CUSTOS_KEY');
const SECRET = argument(2, 'CUSTOS_SECRET');
const RUN = crypto.randomUUID().slice(0, 8);

function makeUser(index, ccpaOptOut) {
  const customerid = `node-sdk-${RUN}-${index}`;
  return {
    customerid,
    email: `${customerid}@example.com`,
    user_attributes: { plan: 'gold', age: 30, vip: true, tags: ['a', 'b'], index: String(index) },
    ccpa_data_sale_opt_out: ccpaOptOut,
  };
}

function makeBatch(user) {
  const now = Date.now();
  const batch = new mParticle.Batch(mParticle.Batch.Environment.development);
  batch.source_request_id = crypto.randomUUID();
  batch.user_identities = new mParticle.UserIdentities();
  batch.user_identities.customerid = user.customerid;
  batch.user_identities.email = user.email;
  batch.user_attributes = user.user_attributes;

  const consent = new mParticle.ConsentState();
  consent.ccpa = {
    data_sale_opt_out: new mParticle.CCPAConsentState(
      'ccpa-doc-v1',
      user.ccpa_data_sale_opt_out,
      now,
      'https://example.com/privacy',
      'hw-node',
    ),
  };
  batch.consent_state = consent;

  const custom = new mParticle.AppEvent(mParticle.AppEvent.CustomEventType.navigation, 'node_sdk_custom');
  custom.custom_attributes = { run: RUN, user: user.customerid };
  custom.timestamp_unixtime_ms = now;
  custom.source_message_id = crypto.randomUUID();
  batch.addEvent(custom);
  const screen = new mParticle.ScreenViewEvent('home');
  screen.timestamp_unixtime_ms = now;
  batch.addEvent(screen);
  return batch;
}

// Runs one SDK call; resolves to its report entry.
function upload(name, invoke, batches) {
  const entry = {
    call: name,
    batches: batches.length,
    events: batches.reduce((n, b) => n + b.events.length, 0),
  };
  return new Promise((resolve) => {
    try {
      invoke((error, _data, response) => {
        entry.status = response ? response.status : (error && error.status) || null;
        entry.ok = !error && entry.status >= 200 && entry.status < 300;
        if (error) entry.error = String(error.message || error);
        resolve(entry);
      });
    } catch (error) {
      entry.status = null;
      entry.ok = false;
      entry.error = String(error);
      resolve(entry);
    }
  });
}

async function main() {
  const api = new mParticle.EventsApi(new mParticle.Configuration(KEY, SECRET));
  api.apiClient.basePath = `${BASE_URL}/v2`;

  const users = [makeUser(0, true), makeUser(1, false), makeUser(2, true)];
  const single = [makeBatch(users[0])];
  const bulk = [makeBatch(users[1]), makeBatch(users[2])];
  const calls = [];
  calls.push(await upload('uploadEvents', (cb) => api.uploadEvents(single[0], cb), single));
  calls.push(await upload('bulkUploadEvents', (cb) => api.bulkUploadEvents(bulk, cb), bulk));

  const ok = calls.every((c) => c.ok);
  const report = {
    client: 'node',
    sdk: `mparticle ${sdkVersion}`,
    base_path: api.apiClient.basePath,
    run: RUN,
    ok,
    calls,
    batches: calls.reduce((n, c) => n + c.batches, 0),
    events: calls.reduce((n, c) => n + c.events, 0),
    users,
  };
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exitCode = ok ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
