// The consoles' browser harness: Debian's headless Chromium driven by
// playwright-core, axe-core run inside each page, screenshots at a desktop
// and a phone width, and one JSON report on stdout for the Rust test that
// started the script (custos_kit::testing::browser).
//
// A script:
//   const run = await startRun('kit_demo');
//   try {
//     await run.page.goto(url);
//     await run.inspect('sign-in');           // axe at 1280 and 390 px, screenshots, overflow check
//     run.expect(condition, 'what should hold');
//   } catch (error) { run.fail(error) } finally { await run.finish(); }
//
// Screenshots go to $CUSTOS_SCREENSHOTS_DIR (the Rust helper sets it), else
// target/console-screenshots/ of the repository, as NAME-1280.png and
// NAME-390.png. CHROMIUM_PATH overrides /usr/bin/chromium.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SCREENSHOTS = process.env.CUSTOS_SCREENSHOTS_DIR || resolve(here, '../../target/console-screenshots');
export const WIDE = { width: 1280, height: 800 };
export const NARROW = { width: 390, height: 844 };
/** The impacts that fail a page; moderate and minor ones are reported only. */
export const FAILING_IMPACTS = ['serious', 'critical'];

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Chromium with a fresh profile (its user data directory), as the repository's other browser tests start it. */
export async function launch() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'custos-console-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
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
    viewport: WIDE,
    // axe-core is injected as an inline script, which the consoles' content
    // security policy (rightly) forbids to the pages themselves.
    bypassCSP: true,
    timeout: 30000,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15000);
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, close };
}

/** axe-core's violations on the page as it is now, each with its impact and elements. */
export async function axeViolations(page) {
  const hasAxe = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!hasAxe) await page.addScriptTag({ content: AXE_SOURCE });
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations.map((violation) => ({
    id: violation.id,
    impact: violation.impact,
    help: violation.help,
    nodes: violation.nodes.slice(0, 5).map((node) => ({
      target: node.target.join(' '),
      summary: (node.failureSummary || '').slice(0, 300),
    })),
  }));
}

/**
 * axe-core's serious and critical violations on the page; throws, listing
 * them, when there are any (use in scripts that stop at the first problem).
 */
export async function checkAccessibility(page) {
  const failing = (await axeViolations(page)).filter((violation) => FAILING_IMPACTS.includes(violation.impact));
  if (failing.length > 0) {
    const list = failing.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`);
    throw new Error(`accessibility violations on ${page.url()}:\n${list.join('\n')}`);
  }
  return failing;
}

/** Full-page screenshots at 1280 px and 390 px wide; returns their paths. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const paths = [];
  for (const size of [WIDE, NARROW]) {
    await page.setViewportSize(size);
    const path = join(SCREENSHOTS, `${name}-${size.width}.png`);
    await page.screenshot({ path, fullPage: true });
    paths.push(path);
  }
  await page.setViewportSize(WIDE);
  return paths;
}

/** Whether the page is wider than the window (a horizontal scrollbar) at `size`. */
async function overflows(page, size) {
  await page.setViewportSize(size);
  const widths = await page.evaluate(() => ({
    content: document.documentElement.scrollWidth,
    window: window.innerWidth,
  }));
  return widths.content > widths.window;
}

/**
 * One run of a script: a browser, the status of each page loaded, and a
 * report of every page inspected and every failure, printed as one JSON
 * line by finish() (which also sets the exit code).
 */
export async function startRun(name) {
  const browser = await launch();
  const { page } = browser;
  const report = { script: name, ok: false, failures: [], pages: [], console: [] };
  let documentStatus = null;
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) documentStatus = response.status();
  });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      report.console.push(`${message.type()}: ${message.text()}`.slice(0, 500));
    }
  });
  page.on('pageerror', (error) => report.failures.push(`script error on ${page.url()}: ${error.message}`));

  const run = {
    page,
    context: browser.context,
    report,
    /** The HTTP status of the document now shown. */
    status: () => documentStatus,
    expect(condition, what) {
      if (!condition) report.failures.push(`${what} (on ${page.url()})`);
      return condition;
    },
    fail(error) {
      report.failures.push(`stopped: ${error && error.stack ? error.stack : error}`.slice(0, 2000));
    },
    /** axe at both widths, screenshots at both, and no sideways scrolling at 390 px. */
    async inspect(pageName) {
      await page.waitForLoadState('load');
      const entry = { name: pageName, url: page.url(), status: documentStatus, title: await page.title() };
      const wide = await axeViolations(page);
      await page.setViewportSize(NARROW);
      const narrow = await axeViolations(page);
      entry.overflows_at_390 = await overflows(page, NARROW);
      await page.setViewportSize(WIDE);
      const seen = new Set();
      const all = [...wide, ...narrow].filter((v) => !seen.has(v.id) && seen.add(v.id));
      entry.violations = all.filter((v) => FAILING_IMPACTS.includes(v.impact));
      entry.other_findings = all.filter((v) => !FAILING_IMPACTS.includes(v.impact));
      entry.screenshots = await screenshot(page, pageName);
      for (const v of entry.violations) {
        report.failures.push(`${pageName}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`);
      }
      if (entry.overflows_at_390) report.failures.push(`${pageName}: scrolls sideways at 390 px`);
      report.pages.push(entry);
      return entry;
    },
    async finish() {
      report.browser = `chromium ${browser.context.browser()?.version() ?? ''}`.trim();
      await browser.close();
      report.ok = report.failures.length === 0;
      process.stdout.write(JSON.stringify(report) + '\n');
      process.exitCode = report.ok ? 0 : 1;
    },
  };
  return run;
}

/** A watchdog that ends the process if a script hangs past `ms`. */
export function watchdog(name, ms) {
  const timer = setTimeout(() => {
    console.error(`${name}: gave up after ${ms} ms`);
    process.exit(1);
  }, ms);
  timer.unref();
}
