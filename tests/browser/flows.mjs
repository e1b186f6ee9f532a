// The site's pages in a real browser: Debian's Chromium driven by
// playwright-core (web/node_modules, pinned by web/package-lock.json).
// Every page visited is checked with axe-core (a violation of impact
// serious or critical fails the flow) and kept as a full-page screenshot.
// Started by tests/browser/test_browser.py, which starts PostgreSQL and the
// daemon and passes, in the environment:
//   BROWSER_BASE_URL      http://HOST:PORT of the test tenant
//   BROWSER_MAIL_DIR      the tenant's folder of the file: mail transport
//   BROWSER_ARTEFACT_DIR  where the screenshots go
//   BROWSER_CHROMIUM      the Chromium binary
//   BROWSER_NODE_MODULES  web/node_modules
//   BROWSER_ADMIN_EMAIL, BROWSER_ADMIN_NAME, BROWSER_PASSWORD  an admin
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/browser/test_browser.py (ctest -L browser)`);
  return v;
}

const BASE = env('BROWSER_BASE_URL');
const MAIL_DIR = env('BROWSER_MAIL_DIR');
const ARTEFACTS = env('BROWSER_ARTEFACT_DIR');
const NODE_MODULES = env('BROWSER_NODE_MODULES');
const ADMIN_EMAIL = env('BROWSER_ADMIN_EMAIL');
const ADMIN_NAME = env('BROWSER_ADMIN_NAME');
const PASSWORD = env('BROWSER_PASSWORD');

const require = createRequire(path.join(NODE_MODULES, 'noop.js'));
const { chromium } = require('playwright-core');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const FAILING_IMPACTS = new Set(['serious', 'critical']);

let browser;

before(async () => {
  const host = new URL(BASE).hostname;
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    headless: true,
    // As root in CI: no sandbox; a small /dev/shm in containers. The
    // tenant's host name resolves to the daemon on the loopback.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
           `--host-resolver-rules=MAP ${host} 127.0.0.1`],
  });
});

after(async () => {
  if (browser) await browser.close();
});

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'nl-NL' });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (err) => console.log(`  page error: ${err.message}`));
  return page;
}

// axe-core's results for the page now shown. The site's CSP allows no
// inline script, so axe is not added as a <script>: its source is
// evaluated through the DevTools protocol, which the CSP does not govern.
async function runAxe(page) {
  if (await page.evaluate('typeof window.axe') !== 'object') await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    JSON.parse(JSON.stringify(await axe.run(document, { resultTypes: ['violations'] }))));
  assert.ok(results.passes.length > 0, `axe checked nothing on ${page.url()}`);
  return results;
}

// Screenshot and axe for the page now shown; returns the serious and
// critical violations (each printed), after printing one line for the page.
async function check(page, name) {
  await page.waitForLoadState('load');
  const shot = path.join(ARTEFACTS, `${name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  const results = await runAxe(page);
  const bad = results.violations.filter((v) => FAILING_IMPACTS.has(v.impact));
  const other = results.violations.filter((v) => !FAILING_IMPACTS.has(v.impact));
  const url = new URL(page.url());
  console.log(`  page ${name}: ${url.pathname}${url.search ? '?…' : ''} — screenshot ${shot}; ` +
              `axe: ${results.passes.length} rules passed, ${bad.length} serious/critical, ${other.length} other violations`);
  for (const v of results.violations) {
    const fails = FAILING_IMPACTS.has(v.impact);
    console.log(`    ${fails ? 'FAIL' : 'note'} [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`);
    for (const n of v.nodes.slice(0, 5)) {
      console.log(`      ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`);
    }
  }
  return bad.map((v) => `${name}: [${v.impact}] ${v.id} (${v.nodes.length}×)`);
}

// Collects the violations of a flow's pages; the flow fails at its end
// with all of them, so one run shows every page's problems.
function checker(page) {
  const found = [];
  const fn = async (name) => { found.push(...await check(page, name)); };
  fn.done = () => assert.deepEqual(found, [], `axe: serious or critical violations:\n${found.join('\n')}`);
  return fn;
}

function decodeQuotedPrintable(text) {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < soft.length; i++) {
    const m = soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3));
    if (m) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

// The first link to PATH (e.g. /bevestigen) in a mail to ADDRESS written by
// the file: transport, waited for.
async function linkFromMail(address, linkPath, timeoutMs = 20000) {
  const re = new RegExp(`https?://[^\\s"<>]+${linkPath.replace(/[?]/g, '\\?')}\\?token=[A-Za-z0-9_-]+`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const files = fs.existsSync(MAIL_DIR) ? fs.readdirSync(MAIL_DIR).filter((f) => f.endsWith('.eml')) : [];
    for (const f of files.sort()) {
      const text = decodeQuotedPrintable(fs.readFileSync(path.join(MAIL_DIR, f), 'latin1'));
      if (!new RegExp(`^To:.*${address.replace(/[.]/g, '\\.')}`, 'mi').test(text)) continue;
      const m = text.match(re);
      if (m) {
        console.log(`  mail ${f} to ${address}: link to ${linkPath}`);
        return m[0];
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail to ${address} with a ${linkPath} link in ${MAIL_DIR} after ${timeoutMs} ms`);
}

async function submit(page, label) {
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: label, exact: true }).click()]);
}

async function signIn(page, check, email, password, prefix) {
  await page.goto(`${BASE}/inloggen`);
  await check(`${prefix}-signin`);
  await page.getByLabel('E-mailadres').fill(email);
  await page.getByLabel('Wachtwoord', { exact: true }).fill(password);
  await submit(page, 'Inloggen');
}

test('axe itself: a page with known faults fails', async () => {
  const page = await newPage();
  await page.setContent('<html><head><title>t</title></head><body><main><img src="x.png"><input></main></body></html>');
  const found = (await runAxe(page)).violations.filter((v) => FAILING_IMPACTS.has(v.impact)).map((v) => v.id);
  await page.context().close();
  for (const id of ['image-alt', 'label', 'html-has-lang']) assert.ok(found.includes(id), `axe missed ${id}: ${found}`);
});

test('sign up, verify by mail, sign in, my account, sign out', async () => {
  const page = await newPage();
  const check = checker(page);
  const email = 'karel.browser@example.nl';
  const name = 'Karel Browser';

  await page.goto(`${BASE}/`);
  assert.equal(await page.locator('h1').innerText(), 'Gemeente Browser');
  await check('01-home-guest');

  await page.goto(`${BASE}/registreren`);
  await check('02-signup');
  // Sent empty first: the form with its error messages.
  await submit(page, 'Registreren');
  assert.ok(await page.locator('[aria-invalid="true"]').count() >= 1, 'the empty form shows errors');
  await check('03-signup-errors');

  await page.getByLabel('Naam').fill(name);
  await page.getByLabel('E-mailadres').fill(email);
  await page.getByLabel('Wachtwoord', { exact: true }).fill(PASSWORD);
  await submit(page, 'Registreren');
  assert.match(await page.locator('main').innerText(), new RegExp(email.replace(/[.]/g, '\\.')));
  await check('04-signup-sent');

  const link = await linkFromMail(email, '/bevestigen');
  assert.ok(link.startsWith(`${BASE}/bevestigen?token=`), link);
  await page.goto(link);
  assert.match(await page.locator('main').innerText(), /is bevestigd/);
  await check('05-verified');

  await signIn(page, check, email, PASSWORD, '06');
  assert.equal(new URL(page.url()).pathname, '/');
  assert.match(await page.locator('header').innerText(), new RegExp(name));
  await check('07-home-signed-in');

  await page.goto(`${BASE}/account`);
  assert.match(await page.locator('main').innerText(), new RegExp(name));
  await check('08-account');
  // The account's forms, opened and left as they are.
  await page.goto(`${BASE}/account/wachtwoord`);
  await check('09-account-password');
  await page.goto(`${BASE}/account/email`);
  await check('10-account-email');

  await submit(page, 'Uitloggen');
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal(await page.getByRole('link', { name: 'Inloggen' }).count(), 1, 'signed out: the sign-in link is back');
  await check('11-signed-out');
  await page.goto(`${BASE}/account`);
  assert.equal(new URL(page.url()).pathname, '/inloggen', 'signed out: /account sends to sign-in');

  await page.context().close();
  check.done();
});

test('forgot password: the form, the answer, the reset page', async () => {
  const page = await newPage();
  const check = checker(page);

  await page.goto(`${BASE}/inloggen`);
  await page.getByRole('link', { name: /wachtwoord vergeten/i }).click();
  await page.waitForLoadState('load');
  assert.equal(new URL(page.url()).pathname, '/wachtwoord-vergeten');
  await check('20-forgot');
  await page.getByLabel('E-mailadres').fill(ADMIN_EMAIL);
  await page.locator('main form button[type=submit]').click();
  await page.waitForSelector('[role=status]');
  await check('21-forgot-sent');

  const link = await linkFromMail(ADMIN_EMAIL, '/wachtwoord-herstellen');
  await page.goto(link);
  await check('22-reset');

  await page.context().close();
  check.done();
});

test('admin: the members page', async () => {
  const page = await newPage();
  const check = checker(page);

  await signIn(page, check, ADMIN_EMAIL, PASSWORD, '30');
  assert.match(await page.locator('header').innerText(), new RegExp(ADMIN_NAME));
  await page.goto(`${BASE}/account`);
  await page.getByRole('link', { name: /leden/i }).click();
  await page.waitForLoadState('load');
  assert.equal(new URL(page.url()).pathname, '/beheer/leden');
  const table = await page.locator('table.members').innerText();
  assert.match(table, /karel\.browser@example\.nl/, 'the member who signed up is listed');
  assert.match(table, new RegExp(ADMIN_EMAIL.replace(/[.]/g, '\\.')));
  await check('31-members');

  await page.context().close();
  check.done();
});
