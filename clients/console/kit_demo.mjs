// Drives the custos-kit demo console (crates/custos-kit/tests/it/demo.rs) as
// a person would, by role and label: set a password from an invite (refused
// first, at the field), the requests page (select all, a confirmed bulk
// action), a form with errors and a secret shown once, sign out, sign in by
// keyboard with a wrong password then the right one, a page the viewer role
// may not see, an unknown page and a used link. Every page is checked with
// axe-core at 1280 and 390 px and photographed.
//
// Usage: node kit_demo.mjs BASE_URL ADMIN_EMAIL ADMIN_INVITE_URL VIEWER_INVITE_URL
// Prints one JSON report (see harness.mjs); exits non-zero on any failure.
import { startRun, watchdog } from './harness.mjs';

const [BASE_URL, ADMIN_EMAIL, ADMIN_INVITE, VIEWER_INVITE] = process.argv.slice(2);
if (!VIEWER_INVITE) {
  console.error('usage: node kit_demo.mjs BASE_URL ADMIN_EMAIL ADMIN_INVITE_URL VIEWER_INVITE_URL');
  process.exit(2);
}
const PASSWORD = 'quiet river lantern';

watchdog('kit_demo.mjs', 150000);

async function heading(page) {
  return (await page.getByRole('heading', { level: 1 }).textContent()).trim();
}

/** The `aria-describedby` text of a field, as a screen reader would read it after its label. */
async function description(locator) {
  const ids = (await locator.getAttribute('aria-describedby')) || '';
  const page = locator.page();
  const texts = [];
  for (const id of ids.split(/\s+/).filter(Boolean)) {
    texts.push((await page.locator(`#${id}`).textContent()).trim());
  }
  return texts.join(' ');
}

async function scenario(run) {
  const { page } = run;

  // An invite: the form, refused at the field, then accepted.
  await page.goto(ADMIN_INVITE);
  run.expect((await heading(page)) === 'Set your password', 'the invite page asks to set a password');
  await run.inspect('invite');
  const password = page.getByLabel('Password', { exact: true });
  const confirm = page.getByLabel('Confirm password');
  await password.fill('too short');
  await confirm.fill('too short');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.waitForLoadState('load');
  run.expect(run.status() === 422, `a short password answers 422, not ${run.status()}`);
  run.expect((await password.getAttribute('aria-invalid')) === 'true', 'the password field is marked invalid');
  const said = await description(password);
  run.expect(said.includes('Use at least 12 characters'), `the password field is described by its error: "${said}"`);
  run.expect(
    await page.evaluate(() => document.activeElement?.classList.contains('error-summary')),
    'the error summary has the focus'
  );
  await run.inspect('invite-errors');
  await password.fill(PASSWORD);
  await confirm.fill(PASSWORD);
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.waitForURL(`${BASE_URL}/`);

  // Signed in: the requests page, its navigation, its bulk actions.
  run.expect((await heading(page)) === 'Requests', 'setting the password signs in, to the home page');
  const nav = page.getByRole('navigation', { name: 'Main' });
  run.expect((await nav.count()) === 1, 'the navigation is a nav landmark called Main');
  run.expect(
    (await nav.getByRole('link', { name: 'Requests' }).getAttribute('aria-current')) === 'page',
    'the current page is marked in the navigation'
  );
  run.expect(await page.getByText('Your password is set. You are signed in.').isVisible(), 'a flash says so');
  await run.inspect('requests');
  await page.getByLabel('Select all requests').check();
  const rows = page.getByRole('checkbox', { name: /^Select request / });
  run.expect((await rows.count()) === 3, 'each request has a labelled checkbox');
  for (const row of await rows.all()) run.expect(await row.isChecked(), 'select all ticks every row');
  let asked = null;
  page.once('dialog', (dialog) => {
    asked = dialog.message();
    dialog.dismiss();
  });
  await page.getByRole('button', { name: 'Deny selected' }).click();
  run.expect(asked === 'Deny the selected requests?', `a destructive action asks first (asked: ${asked})`);
  run.expect(page.url() === `${BASE_URL}/`, 'dismissing the question sends nothing');
  await page.getByRole('button', { name: 'Approve selected' }).click();
  await page.getByText('3 requests approved').waitFor();

  // A form with errors, then a secret shown once, copied.
  await nav.getByRole('link', { name: 'API keys' }).click();
  await page.waitForURL(`${BASE_URL}/keys`);
  await page.getByRole('button', { name: 'Issue key' }).click();
  await page.waitForLoadState('load');
  run.expect(run.status() === 422, `an empty key name answers 422, not ${run.status()}`);
  const name = page.getByLabel('Key name');
  run.expect((await description(name)).includes('Enter a name for the key'), 'the name field says what is wrong');
  await run.inspect('keys-errors');
  await name.fill('Checkout server');
  await page.getByLabel('Environment').selectOption({ label: 'Production' });
  await page.getByLabel('Can send events').check();
  await page.getByRole('button', { name: 'Issue key' }).click();
  await page.waitForLoadState('load');
  const secret = await page.getByRole('textbox', { name: 'Secret of the new key' }).inputValue();
  run.expect(secret.length === 43, `the secret is shown (${secret.length} characters)`);
  await run.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL });
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.getByText('Copied').waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  run.expect(copied === secret, 'Copy puts the secret on the clipboard');
  await run.inspect('keys-secret');

  await nav.getByRole('link', { name: 'Settings' }).click();
  await page.waitForURL(`${BASE_URL}/settings`);
  await run.inspect('settings');

  // Sign out, then sign in by keyboard: a wrong password, then the right one.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE_URL}/login`);
  run.expect(await page.getByText('You have signed out.').isVisible(), 'signing out says so');
  await run.inspect('sign-in');
  await page.keyboard.press('Tab');
  run.expect(
    (await page.evaluate(() => document.activeElement?.textContent)) === 'Skip to content',
    'the first Tab reaches the skip link'
  );
  const email = page.getByLabel('Email');
  for (let tab = 0; tab < 5 && !(await email.evaluate((field) => field === document.activeElement)); tab += 1) {
    await page.keyboard.press('Tab');
  }
  run.expect(await email.evaluate((field) => field === document.activeElement), 'Tab reaches the Email field');
  await page.keyboard.type(ADMIN_EMAIL);
  await page.keyboard.press('Tab');
  await page.keyboard.type('not the password');
  await page.keyboard.press('Enter');
  await page.waitForLoadState('load');
  await page.getByText('Incorrect email or password').waitFor();
  run.expect(run.status() === 422, `a wrong password answers 422, not ${run.status()}`);
  await run.inspect('sign-in-error');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE_URL}/`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE_URL}/login`);

  // A viewer: the settings page is forbidden, naming the permission.
  await page.goto(VIEWER_INVITE);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Confirm password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.waitForURL(`${BASE_URL}/`);
  await page.goto(`${BASE_URL}/settings`);
  run.expect(run.status() === 403, `the viewer's settings page answers 403, not ${run.status()}`);
  run.expect(await page.getByText('settings:manage').isVisible(), 'the forbidden page names the permission');
  await run.inspect('forbidden');
  await page.goto(`${BASE_URL}/nowhere`);
  run.expect(run.status() === 404, `an unknown page answers 404, not ${run.status()}`);
  await run.inspect('not-found');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE_URL}/login`);

  // The admin's invite, used: a clear page.
  await page.goto(ADMIN_INVITE);
  run.expect(run.status() === 410, `a used link answers 410, not ${run.status()}`);
  await run.inspect('link-used');
}

const run = await startRun('kit_demo');
try {
  await scenario(run);
} catch (error) {
  run.fail(error);
} finally {
  await run.finish();
}
