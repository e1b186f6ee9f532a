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
//   BROWSER_FACILITATOR_EMAIL, BROWSER_FACILITATOR_NAME  a facilitator
//                         (tenant role; the same password)
//   BROWSER_CLIENT_EMAIL, BROWSER_CLIENT_NAME, BROWSER_READER_EMAIL  two
//                         members: a table's client and a resident
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
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
const FACILITATOR_EMAIL = env('BROWSER_FACILITATOR_EMAIL');
const FACILITATOR_NAME = env('BROWSER_FACILITATOR_NAME');
const CLIENT_EMAIL = env('BROWSER_CLIENT_EMAIL');
const CLIENT_NAME = env('BROWSER_CLIENT_NAME');
const READER_EMAIL = env('BROWSER_READER_EMAIL');

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

// A desktop window, or with PHONE a narrow phone screen.
const PHONE = { viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true };
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'nl-NL', ...options });
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
  // Ids used twice (axe no longer checks them): a label or an
  // aria-describedby could point at the wrong element.
  const dupes = await page.evaluate(() => {
    const seen = new Map();
    for (const el of document.querySelectorAll('[id]')) seen.set(el.id, (seen.get(el.id) || 0) + 1);
    return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  });
  for (const id of dupes) console.log(`    FAIL duplicate id: ${id}`);
  return [...bad.map((v) => `${name}: [${v.impact}] ${v.id} (${v.nodes.length}×)`),
          ...dupes.map((id) => `${name}: duplicate id ${id}`)];
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

// The file name of a mail to ADDRESS whose text contains TEXT, waited for.
async function mailWith(address, text, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const files = fs.existsSync(MAIL_DIR) ? fs.readdirSync(MAIL_DIR).filter((f) => f.endsWith('.eml')) : [];
    for (const f of files.sort()) {
      const mail = decodeQuotedPrintable(fs.readFileSync(path.join(MAIL_DIR, f), 'latin1'));
      if (!new RegExp(`^To:.*${address.replace(/[.]/g, '\\.')}`, 'mi').test(mail)) continue;
      if (mail.includes(text)) {
        console.log(`  mail ${f} to ${address}: contains ${text}`);
        return f;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail to ${address} containing ${text} in ${MAIL_DIR} after ${timeoutMs} ms`);
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
  // The fields are checked in turn (name, e-mail address, password) and
  // the first refused is the one marked (api.account_create, sql/code/accounts.sql).
  assert.deepEqual(await page.locator('[aria-invalid="true"]').evaluateAll((els) => els.map((el) => el.id)),
    ['name'], 'the empty form marks its first field');
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

// A GET from Node itself (not the browser): to the loopback, with the
// tenant's host name in the Host header (Node does not know the name).
function fetchDirect(urlPath) {
  const base = new URL(BASE);
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: base.port, path: urlPath, headers: { Host: base.host } }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (chunk) => { body += chunk; });
      r.on('end', () => resolve({ status: r.statusCode, body }));
    }).on('error', reject);
  });
}

// The id in a URL's path or hash, e.g. /tafels/12 or #bijdrage-34.
function idIn(url, re) {
  const m = url.match(re);
  assert.ok(m, `no id matching ${re} in ${url}`);
  return m[1];
}

// The field error of the field with id ID: shown, and tied to the field.
async function assertFieldError(page, id) {
  const field = page.locator(`#${id}`);
  assert.equal(await field.getAttribute('aria-invalid'), 'true', `#${id} is marked invalid`);
  const describedBy = (await field.getAttribute('aria-describedby') || '').split(/\s+/);
  assert.ok(describedBy.includes(`${id}-error`), `#${id} aria-describedby names ${id}-error: ${describedBy}`);
  const error = (await page.locator(`#${id}-error`).innerText()).trim();
  assert.ok(error.length > 0, `#${id}-error has a message`);
  return error;
}

test('tables: a facilitator opens a table and groups; a resident joins, asks, posts and reports; the facilitator approves and hides', async () => {
  const fac = await newPage();
  const facCheck = checker(fac);
  // The resident on a phone: every page of theirs is also the narrow layout.
  const res = await newPage(PHONE);
  const resCheck = checker(res);
  const resident = { email: 'rosa.bewoner@example.nl', name: 'Rosa Bewoner' };
  const title = 'Het Stationsplein';
  const question = 'Hoe maken we het Stationsplein groener?';
  const facText = 'Welkom aan tafel. Wat mist u op het plein? Denk aan bomen en bankjes.';
  const resText = 'In de besloten groep: meer schaduw bij de bushalte graag.';
  const reportReason = 'Dit gaat over een persoon, niet over het plein.';
  const hideReason = 'Persoonlijke opmerking; graag over het plein.';

  // The facilitator signs in and opens a public table.
  await signIn(fac, facCheck, FACILITATOR_EMAIL, PASSWORD, '40');
  assert.match(await fac.locator('header').innerText(), new RegExp(FACILITATOR_NAME));
  await fac.getByRole('link', { name: 'Nieuwe tafel openen' }).click();
  await fac.waitForLoadState('load');
  assert.equal(new URL(fac.url()).pathname, '/tafels/nieuw');
  await facCheck('41-table-new');
  await submit(fac, 'Tafel openen');
  await assertFieldError(fac, 'f-title');
  await facCheck('42-table-new-errors');
  await fac.getByLabel('Titel', { exact: true }).fill(title);
  await fac.getByLabel('Centrale vraag', { exact: true }).fill(question);
  await fac.getByLabel('Beschrijving', { exact: true }).fill('We praten over **bomen**, bankjes en fietsen.\n\n- veilig\n- groen');
  await fac.getByLabel('Wie mag meelezen?').selectOption('public');
  await submit(fac, 'Tafel openen');
  const tableId = idIn(new URL(fac.url()).pathname, /^\/tafels\/(\d+)$/);
  const tableUrl = `${BASE}/tafels/${tableId}`;
  assert.equal(await fac.locator('h1').innerText(), title);
  await facCheck('43-table-facilitator');

  // A first contribution of the facilitator's: the one that gets reported.
  await fac.getByLabel('Bijdrage', { exact: true }).fill(facText);
  await submit(fac, 'Plaatsen');
  const facPostId = idIn(fac.url(), /#bijdrage-(\d+)$/);
  assert.match(await fac.locator(`#bijdrage-${facPostId}`).innerText(), /Welkom aan tafel/);
  await facCheck('44-table-with-contribution');

  // The edit page, opened and left as it is.
  await fac.getByRole('link', { name: 'Tafel bewerken' }).click();
  await fac.waitForLoadState('load');
  assert.equal(new URL(fac.url()).pathname, `/tafels/${tableId}/bewerken`);
  assert.equal(await fac.getByLabel('Titel', { exact: true }).inputValue(), title);
  await facCheck('45-table-edit');

  // The people page: a public group and a closed one.
  await fac.goto(tableUrl);
  await facCheck('45b-table-facilitator-again');
  await fac.getByRole('link', { name: 'Mensen en uitnodigingen' }).click();
  await fac.waitForLoadState('load');
  assert.equal(new URL(fac.url()).pathname, `/tafels/${tableId}/mensen`);
  assert.match(await fac.locator('table.people').innerText(), new RegExp(FACILITATOR_NAME));
  await facCheck('46-people');
  const groups = {};
  for (const [key, name, purpose, visibility] of [
    ['open', 'Bewoners van het plein', 'Iedereen die aan het plein woont.', 'public'],
    ['closed', 'Ondernemers', 'Winkeliers en horeca aan het plein.', 'closed'],
  ]) {
    if (key !== 'open') {
      await fac.goto(`${tableUrl}/mensen`);
      await facCheck(`46-people-before-${key}`);
    }
    await fac.getByLabel('Naam van de groep', { exact: true }).fill(name);
    await fac.getByLabel('Waar is de groep voor?', { exact: true }).fill(purpose);
    await fac.getByLabel('Wie mag meelezen?').selectOption(visibility);
    await submit(fac, 'Groep maken');
    groups[key] = idIn(new URL(fac.url()).pathname, /^\/groepen\/(\d+)$/);
    assert.equal(await fac.locator('h1').innerText(), name);
    await facCheck(`47-group-${key}-facilitator`);
  }
  await fac.goto(tableUrl);
  assert.match(await fac.locator('ul.groups').innerText(), /Bewoners van het plein[\s\S]*Ondernemers/);
  await facCheck('48-table-with-groups');

  // A resident signs up, verifies by mail and signs in.
  await res.goto(`${BASE}/registreren`);
  await resCheck('49a-phone-signup');
  await res.getByLabel('Naam').fill(resident.name);
  await res.getByLabel('E-mailadres').fill(resident.email);
  await res.getByLabel('Wachtwoord', { exact: true }).fill(PASSWORD);
  await submit(res, 'Registreren');
  await resCheck('49b-phone-signup-sent');
  await res.goto(await linkFromMail(resident.email, '/bevestigen'));
  assert.match(await res.locator('main').innerText(), /is bevestigd/);
  await resCheck('50-phone-verified');
  await signIn(res, resCheck, resident.email, PASSWORD, '51-phone');
  assert.equal(new URL(res.url()).pathname, '/');
  await resCheck('52-phone-home');

  // The table from the home page; the public group joined at once.
  await res.getByRole('link', { name: title }).first().click();
  await res.waitForLoadState('load');
  assert.equal(new URL(res.url()).pathname, `/tafels/${tableId}`);
  await resCheck('53-phone-table-guest');
  await res.getByRole('link', { name: 'Bewoners van het plein' }).click();
  await res.waitForLoadState('load');
  assert.equal(new URL(res.url()).pathname, `/groepen/${groups.open}`);
  await resCheck('54-phone-group-open');
  await submit(res, 'Lid worden');
  assert.equal(await res.getByRole('button', { name: 'Lid worden' }).count(), 0, 'joined: no join button');
  await resCheck('55-phone-group-open-joined');

  // The closed group: its content hidden; a request with a message.
  await res.goto(`${BASE}/groepen/${groups.closed}`);
  assert.doesNotMatch(await res.locator('main').innerText(), /Plaatsen/);
  await resCheck('56-phone-group-closed');
  await res.getByLabel('Bericht aan de gespreksleiders (mag leeg blijven)').fill('Ik heb een bakkerij aan het plein.');
  await submit(res, 'Vragen om lid te worden');
  assert.match(await res.locator('main').innerText(), /Uw verzoek om lid te worden is verstuurd/);
  await resCheck('57-phone-group-closed-requested');

  // The facilitator approves on the group page; the resident gets a mail.
  await fac.goto(`${BASE}/groepen/${groups.closed}`);
  const requests = await fac.locator('ul.requests').innerText();
  assert.match(requests, new RegExp(resident.name));
  assert.match(requests, /Ik heb een bakkerij aan het plein\./);
  await facCheck('60-group-requests');
  await submit(fac, `Toelaten – ${resident.name}`);
  assert.equal(await fac.locator('ul.requests').count(), 0, 'no requests left');
  await facCheck('61-group-approved');
  await mailWith(resident.email, `/groepen/${groups.closed}`);

  // The resident posts in the closed group: first empty (a field error).
  await res.goto(`${BASE}/groepen/${groups.closed}`);
  await resCheck('62-phone-group-closed-member');
  await submit(res, 'Plaatsen');
  console.log(`  field error: ${await assertFieldError(res, 'f-body')}`);
  await resCheck('63-phone-contribution-error');
  await res.getByLabel('Bijdrage', { exact: true }).fill(resText);
  await submit(res, 'Plaatsen');
  const resPostId = idIn(res.url(), /#bijdrage-(\d+)$/);
  assert.match(await res.locator(`#bijdrage-${resPostId}`).innerText(), /meer schaduw bij de bushalte/);
  await resCheck('64-phone-group-closed-posted');

  // Their own contribution's thread: editable within 15 minutes.
  await res.locator(`#bijdrage-${resPostId} .contribution__links a`).click();
  await res.waitForLoadState('load');
  assert.equal(new URL(res.url()).pathname, `/bijdragen/${resPostId}`);
  await res.locator('details.edit summary').click();
  assert.equal(await res.locator('textarea[name=body]').count(), 2, 'the edit form and the reply form');
  assert.equal(await res.getByLabel('Uw bijdrage', { exact: true }).inputValue(), resText);
  await resCheck('65-phone-thread-own');

  // The resident reports the facilitator's contribution with a reason.
  await res.goto(tableUrl);
  await resCheck('66-phone-table-member');
  await res.locator(`#bijdrage-${facPostId} .contribution__links a`).click();
  await res.waitForLoadState('load');
  assert.equal(new URL(res.url()).pathname, `/bijdragen/${facPostId}`);
  await resCheck('67-phone-thread');
  await res.locator('details.report summary').click();
  await res.getByLabel(/Waarom meldt u dit\?/).fill(reportReason);
  await Promise.all([res.waitForNavigation(), res.locator('details.report button[type=submit]').click()]);
  assert.match(await res.locator('[role=status]').innerText(), /Bedankt/);
  await resCheck('68-phone-reported');

  // The facilitator sees it in the queue and hides it with a reason.
  await fac.goto(tableUrl);
  await facCheck('69-table-before-moderation');
  await fac.getByRole('link', { name: 'Meldingen', exact: true }).click();
  await fac.waitForLoadState('load');
  assert.equal(new URL(fac.url()).pathname, `/tafels/${tableId}/moderatie`);
  const queue = await fac.locator('main').innerText();
  assert.match(queue, new RegExp(reportReason.replace(/[.]/g, '\\.')));
  assert.match(queue, /Welkom aan tafel/);
  await facCheck('70-moderation');
  await fac.getByLabel('Reden (voor iedereen zichtbaar)').fill(hideReason);
  await submit(fac, `Verbergen – Melding van ${resident.name}`);
  assert.equal(new URL(fac.url()).pathname, `/tafels/${tableId}/moderatie`);
  assert.doesNotMatch(await fac.locator('main').innerText(), /Welkom aan tafel/, 'the report is handled');
  await facCheck('71-moderation-done');
  await fac.goto(`${BASE}/bijdragen/${facPostId}`);
  await facCheck('72-thread-hidden-facilitator');

  // The resident sees the reason instead of the text.
  for (const [url, name] of [[`${BASE}/bijdragen/${facPostId}`, '73-phone-thread-hidden'],
                             [tableUrl, '74-phone-table-hidden']]) {
    await res.goto(url);
    const hidden = await res.locator(`#bijdrage-${facPostId} .contribution__hidden`).innerText();
    assert.equal(hidden.trim(), `Verborgen door de gespreksleider: ${hideReason}`);
    assert.doesNotMatch(await res.locator('main').innerText(), /Welkom aan tafel/, `${url}: the hidden text is not shown`);
    await resCheck(name);
  }
  // Nor in the table's feed.
  const feed = await fetchDirect(`/tafels/${tableId}/feed.atom`);
  assert.equal(feed.status, 200);
  assert.match(feed.body, /<feed/);
  assert.doesNotMatch(feed.body, /Welkom aan tafel/);

  // Search (a word of the table's question; then nothing found), and the
  // accessibility statement.
  await res.goto(`${BASE}/zoeken?q=${encodeURIComponent('Stationsplein')}`);
  assert.match(await res.locator('main').innerText(), new RegExp(title));
  await resCheck('75-phone-search');
  await res.goto(`${BASE}/zoeken?q=${encodeURIComponent('zeppelinhaven')}`);
  assert.match(await res.locator('main').innerText(), /Niets gevonden/);
  await resCheck('76-phone-search-none');
  await res.goto(`${BASE}/toegankelijkheid`);
  await resCheck('77-phone-accessibility');
  await fac.goto(`${BASE}/zoeken?q=${encodeURIComponent('schaduw bushalte')}`);
  await facCheck('78-search-contributions');
  await fac.goto(`${BASE}/toegankelijkheid`);
  await facCheck('79-accessibility');

  await res.context().close();
  await fac.context().close();
  facCheck.done();
  resCheck.done();
});

// An operation of /api/v1 as the person signed in on PAGE (their session
// cookie, and the CSRF token GET /me gives for it): what the step pages
// will do, for moving a table on here.
async function apiAs(page, method, urlPath, body) {
  const base = new URL(BASE);
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const call = (m, p, b, csrf) => new Promise((resolve, reject) => {
    const data = b === undefined ? null : Buffer.from(JSON.stringify(b));
    const headers = { Host: base.host, Cookie: cookie, Accept: 'application/json' };
    if (data) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': data.length });
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const r = http.request({ host: '127.0.0.1', port: base.port, method: m, path: `/api/v1${p}`, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
    });
    r.on('error', reject);
    if (data) r.write(data);
    r.end();
  });
  const me = await call('GET', '/me');
  assert.equal(me.status, 200, `GET /me: ${me.status}`);
  return call(method, urlPath, body, me.body.csrf_token);
}

test('steps: a table opened on a workflow shows where it stands and its results, in Dutch and English', async () => {
  const fac = await newPage();
  const facCheck = checker(fac);
  await signIn(fac, facCheck, FACILITATOR_EMAIL, PASSWORD, '80');

  // The workflow is chosen when the table is opened; the default first.
  await fac.goto(`${BASE}/tafels/nieuw`);
  const workflow = fac.getByLabel('Werkwijze');
  assert.equal(await workflow.inputValue(), 'volledig');
  await facCheck('81-table-new-workflow');
  await fac.getByLabel('Titel', { exact: true }).fill('De Waterstraat');
  await fac.getByLabel('Centrale vraag', { exact: true }).fill('Wat is ervoor nodig zodat de Waterstraat veilig wordt?');
  await fac.getByLabel('Wie mag meelezen?').selectOption('public');
  await workflow.selectOption('kort');
  await submit(fac, 'Tafel openen');
  const tableId = idIn(new URL(fac.url()).pathname, /^\/tafels\/(\d+)$/);
  const current = fac.locator('.step-indicator li[aria-current="step"]');
  assert.equal(await current.count(), 1);
  assert.match(await current.innerText(), /Intake \(stap 1 van 4, nu bezig\)/);
  assert.equal(await fac.locator('.step-indicator a[href$="/stappen/intake"]').count(), 1, 'the facilitator gets links');
  await facCheck('82-table-steps-facilitator');

  // On through the intake, the conversation and the outcome (by the API).
  const base = `/tables/${tableId}`;
  const ok = async (answer, status = 200) => { const a = await answer; assert.equal(a.status, status, JSON.stringify(a.body)); };
  await ok(apiAs(fac, 'POST', `${base}/records`, { step: 'intake', kind: 'quote', fields: { amount: 90000, status: 'accepted' } }), 201);
  for (const step of ['intake', 'gesprek']) await ok(apiAs(fac, 'POST', `${base}/steps/${step}/complete`));
  await ok(apiAs(fac, 'POST', `${base}/records`, { step: 'opbrengst', kind: 'outcome',
    fields: { decision: 'Een **zebrapad** bij de school.', minority: 'Eerst de *snelheid* omlaag.' } }), 201);
  await ok(apiAs(fac, 'POST', `${base}/steps/opbrengst/complete`));

  // A resident's view (a guest), in Dutch and in English.
  for (const [locale, prefix, now, heading] of [['nl-NL', '83', /Verslag \(stap 4 van 4, nu bezig\)/, 'Wat de tafel heeft opgeleverd'],
                                               ['en-GB', '84', /Report \(step 4 of 4, in progress\)/, 'What the table has produced']]) {
    const guest = await newPage({ locale });
    const guestCheck = checker(guest);
    await guest.goto(`${BASE}/tafels/${tableId}`);
    const steps = guest.locator('.step-indicator ol li');
    assert.equal(await steps.count(), 4);
    assert.match(await guest.locator('.step-indicator li[aria-current="step"]').innerText(), now);
    assert.equal(await guest.locator('.step-indicator a').count(), 0, 'a guest gets no links to the step pages');
    assert.equal(await guest.getByRole('heading', { name: heading }).count(), 1);
    assert.equal(await guest.locator('.step-results strong').innerText(), 'zebrapad');
    await guestCheck(`${prefix}-table-steps-guest`);
    await guest.goto(`${BASE}/`);
    assert.match(await guest.locator(`li.table-card:has(a[href="/tafels/${tableId}"])`).innerText(),
      locale === 'nl-NL' ? /Stap: Verslag/ : /Step: Report/);
    await guestCheck(`${prefix}-home-steps-guest`);
    await guest.context().close();
    guestCheck.done();
  }

  await fac.context().close();
  facCheck.done();
});

// A label's text as a pattern: exactly LABEL, with or without the
// required field's "(verplicht)".
function labelled(label) {
  return new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\(verplicht\\))?$`);
}

// Keeps a new record of KIND on the step page now shown: opens its form,
// fills FIELDS ({label: text, or true to check, or {select: option}}), saves.
async function addRecord(page, kind, fields) {
  const section = page.locator(`#soort-${kind}`);
  const details = section.locator('details.new-record');
  if (await details.getAttribute('open') === null) await details.locator('summary').click();
  for (const [label, value] of Object.entries(fields)) {
    const control = section.getByLabel(labelled(label));
    if (value === true) await control.check();
    else if (typeof value === 'object') await control.selectOption({ label: value.select });
    else await control.fill(value);
  }
  await Promise.all([page.waitForNavigation(),
    section.getByRole('button', { name: 'Bewaren', exact: true }).click()]);
}

// Completes the step TITLE on the steps page of table TABLEID.
async function completeStep(page, tableId, title) {
  await page.goto(`${BASE}/tafels/${tableId}/stappen`);
  await submit(page, `Stap afronden – ${title}`);
}

test('the method: a facilitator takes a table through the seven steps; the client accepts and approves; a resident reads the report', async () => {
  const fac = await newPage();
  const facCheck = checker(fac);
  const client = await newPage();
  const clientCheck = checker(client);
  const reader = await newPage(PHONE);
  const readerCheck = checker(reader);
  const title = 'Groen in de Hanzehof';

  // The facilitator opens a public table on the method's workflow.
  await signIn(fac, facCheck, FACILITATOR_EMAIL, PASSWORD, 'm01');
  await fac.goto(`${BASE}/tafels/nieuw`);
  await fac.getByLabel('Titel', { exact: true }).fill(title);
  await fac.getByLabel('Centrale vraag', { exact: true }).fill('Wat is ervoor nodig zodat de Hanzehof groener wordt?');
  await fac.getByLabel('Wie mag meelezen?').selectOption('public');
  await submit(fac, 'Tafel openen');
  const tableId = idIn(new URL(fac.url()).pathname, /^\/tafels\/(\d+)$/);

  // The client joins; the facilitator makes them the table's client.
  await signIn(client, clientCheck, CLIENT_EMAIL, PASSWORD, 'm02');
  await client.goto(`${BASE}/tafels/${tableId}`);
  await submit(client, 'Meedoen aan deze tafel');
  await fac.goto(`${BASE}/tafels/${tableId}/mensen`);
  await fac.getByLabel(`Rol – ${CLIENT_NAME}`).selectOption('client');
  await submit(fac, `Opslaan – ${CLIENT_NAME}`);

  // The steps: the intake active, its guard refusing on the page.
  await fac.goto(`${BASE}/tafels/${tableId}/stappen`);
  assert.match(await fac.locator('ol.steps').innerText(), /Intake[\s\S]*Bezig[\s\S]*Evaluatie/);
  await facCheck('m03-steps');
  await submit(fac, 'Stap afronden – Intake');
  assert.equal((await fac.locator('#stap-intake [role=alert]').innerText()).trim(), 'De offerte is nog niet geaccepteerd');
  await facCheck('m04-steps-refused');

  // 1. Intake: the players, the agreements, the quote.
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/intake`);
  await facCheck('m05-intake');
  await addRecord(fac, 'player', {});
  assert.equal(await fac.locator('#n-player-name').getAttribute('aria-invalid'), 'true', 'an empty name is refused');
  await assertFieldError(fac, 'n-player-name');
  await facCheck('m06-intake-error');
  await addRecord(fac, 'player', { Naam: 'Anna de Vries', Organisatie: 'Buurtvereniging', 'Centraal volgens anderen': true });
  await addRecord(fac, 'player', { Naam: 'Bram Jansen', Rol: 'Bewoner', 'Zelden gehoord': true });
  await addRecord(fac, 'agreement', { Looptijd: 'Drie maanden', Kosten: '4.500,00' });
  await addRecord(fac, 'quote', { Bedrag: '1250,00', Status: { select: 'Verstuurd' } });
  const intake = await fac.locator('main').innerText();
  assert.match(intake, /€ 1\.250,00/);
  assert.match(intake, /€ 4\.500,00/);
  await facCheck('m07-intake-filled');

  // The client accepts the quote on its page.
  await client.goto(`${BASE}/tafels/${tableId}/stappen/intake`);
  await clientCheck('m08-client-intake');
  await client.locator('#soort-quote h3 a').first().click();
  await client.waitForLoadState('load');
  await clientCheck('m09-client-quote');
  await client.getByLabel(labelled('Status')).selectOption({ label: 'Geaccepteerd' });
  await submit(client, 'Bewaren');
  assert.match(await client.locator('#soort-quote').innerText(), /Geaccepteerd/);
  await completeStep(fac, tableId, 'Intake');
  assert.match(await fac.locator('#stap-intake').innerText(), /Afgerond/);

  // 2. Interviews, and who has been heard.
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/interviews`);
  await addRecord(fac, 'interview', { Speler: { select: 'Anna de Vries' }, 'Gehouden op': '2026-03-02',
    'Perspectieven (gescheiden door komma\'s)': 'groen, spelen', 'De centrale vraag': { select: 'Hield stand' } });
  await addRecord(fac, 'interview', { Speler: { select: 'Bram Jansen' }, 'Perspectieven (gescheiden door komma\'s)': 'groen, veiligheid' });
  assert.match(await fac.locator('table.coverage').innerText(), /Bram Jansen[\s\S]*Zelden gehoord/);
  await facCheck('m10-interviews');
  await fac.locator('#soort-interview h3 a').first().click();
  await fac.waitForLoadState('load');
  await facCheck('m11-record');
  await completeStep(fac, tableId, 'Interviews');

  // 3. The run-sheet, approved by the client.
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/draaiboek`);
  await addRecord(fac, 'agenda_item', { Begin: '19:30', Activiteit: 'Welkom en kennismaking', 'Duur (minuten)': '20' });
  await facCheck('m12-draaiboek');
  await client.goto(`${BASE}/tafels/${tableId}/stappen/draaiboek`);
  await addRecord(client, 'approval', { Besluit: { select: 'Goedgekeurd' } });
  assert.match(await client.locator('#soort-approval').innerText(), /Goedgekeurd/);
  await clientCheck('m13-client-draaiboek');
  await completeStep(fac, tableId, 'Draaiboek');

  // 4.–6. The conversation, the outcome, the report.
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/gesprek`);
  await addRecord(fac, 'note', { Aantekening: 'Twintig mensen aan tafel.' });
  await completeStep(fac, tableId, 'Gesprek');
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/opbrengst`);
  await addRecord(fac, 'outcome', { 'Besluit of gedeelde wijsheid': 'Een tuin op het plein.',
    'Wijsheid van de minderheid': 'Met een bankje voor wie niet kan tuinieren.' });
  await completeStep(fac, tableId, 'Opbrengst');
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/verslag`);
  await addRecord(fac, 'advice', { Titel: 'Begin klein', Toelichting: 'Eerst één hoek van het plein.' });
  await addRecord(fac, 'report', { Samenvatting: 'Wat we samen vonden: een groener plein.', 'Gepubliceerd op': '2026-06-01' });
  await facCheck('m14-verslag');
  await completeStep(fac, tableId, 'Verslag');

  // 7. The evaluation with the client; completing it closes the table.
  await client.goto(`${BASE}/tafels/${tableId}/stappen/evaluatie`);
  await addRecord(client, 'evaluation', { 'Wat ging goed': 'De opkomst.', 'Wat hebben we geleerd': 'Vroeg beginnen.' });
  await clientCheck('m15-client-evaluatie');
  await completeStep(fac, tableId, 'Evaluatie');
  assert.equal(await fac.locator('ol.steps .step--done').count(), 7, 'all seven steps done');
  assert.match(await fac.locator('table.history').innerText(), /Evaluatie[\s\S]*afgerond/);
  await facCheck('m16-steps-done');
  await client.goto(`${BASE}/tafels/${tableId}/stappen`);
  await clientCheck('m17-client-steps');

  // A resident reads the published report.
  await signIn(reader, readerCheck, READER_EMAIL, PASSWORD, 'm18-phone');
  await reader.goto(`${BASE}/tafels/${tableId}/verslag`);
  const report = await reader.locator('main').innerText();
  assert.match(report, /Wat is ervoor nodig zodat de Hanzehof groener wordt\?/);
  assert.match(report, /Een tuin op het plein\.[\s\S]*Met een bankje/);
  assert.doesNotMatch(report, /Anna de Vries/, 'the players are the client\'s, not the residents\'');
  assert.doesNotMatch(report, /De opkomst\./, 'the evaluation is the client\'s, not the residents\'');
  await readerCheck('m19-phone-report');
  await fac.goto(`${BASE}/tafels/${tableId}/verslag`);
  assert.match(await fac.locator('main').innerText(),
               /Anna de Vries[\s\S]*Begin klein[\s\S]*Evaluatie[\s\S]*Wat ging goed[\s\S]*De opkomst\./);
  await facCheck('m20-report');
  // Printed: the report alone, without the site's header, links and hint.
  await fac.emulateMedia({ media: 'print' });
  assert.equal(await fac.locator('header.site-header').isVisible(), false, 'print: no site header');
  assert.equal(await fac.locator('.print-hint').isVisible(), false, 'print: no hint to print');
  assert.equal(await fac.locator('h1').isVisible(), true);
  assert.equal(await fac.locator('nav.breadcrumb').isVisible(), false, 'print: no breadcrumb');
  assert.equal(await fac.locator('footer.site-footer').isVisible(), false, 'print: no site footer');
  assert.equal(await fac.locator('.report-municipality').isVisible(), true, 'print: the municipality on the cover');
  const breaks = await fac.locator('section.report-section').evaluateAll(
    (els) => els.map((e) => getComputedStyle(e).breakBefore));
  assert.ok(breaks.length >= 5 && breaks.every((b) => b === 'page'), `print: each section from a new page (${breaks})`);
  await fac.screenshot({ path: path.join(ARTEFACTS, 'm20-report-print.png'), fullPage: true });
  await fac.emulateMedia({ media: 'screen' });

  // The same pages in English.
  await fac.goto(`${BASE}/taal?lang=en`);
  for (const [p, name] of [['/stappen', 'm21-en-steps'], ['/stappen/intake', 'm22-en-intake'],
                           ['/stappen/interviews', 'm23-en-interviews'], ['/stappen/draaiboek', 'm23-en-draaiboek'],
                           ['/stappen/gesprek', 'm23-en-gesprek'], ['/stappen/opbrengst', 'm23-en-opbrengst'],
                           ['/stappen/verslag', 'm23-en-verslag'], ['/stappen/evaluatie', 'm23-en-evaluatie'],
                           ['/verslag', 'm24-en-report']]) {
    await fac.goto(`${BASE}/tafels/${tableId}${p}`);
    assert.equal(await fac.locator('html').getAttribute('lang'), 'en');
    await facCheck(name);
  }
  assert.match(await fac.locator('main').innerText(), /The central question/);
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/intake`);
  await fac.locator('#soort-quote h3 a').first().click();
  await fac.waitForLoadState('load');
  assert.match(await fac.locator('main').innerText(), /€1,250\.00/);
  await facCheck('m25-en-record');
  await reader.goto(`${BASE}/taal?lang=en`);
  await reader.goto(`${BASE}/tafels/${tableId}/verslag`);
  await readerCheck('m26-phone-en-report');

  await fac.context().close();
  await client.context().close();
  await reader.context().close();
  facCheck.done();
  clientCheck.done();
  readerCheck.done();
});

// ---------------------------------------------------------------- decisions
// The decisions' pages (plugins/site/decisions.lua): put forward from the
// outcome step's page, voted on, changed, closed, the minority round and
// the final text; axe on every page, in Dutch and English.
test('decisions: a resident votes, changes the vote, adds what they need; the facilitator closes and adds it', async () => {
  const fac = await newPage();
  const facCheck = checker(fac);
  const res = await newPage();
  const resCheck = checker(res);
  const other = await newPage();
  const otherCheck = checker(other);

  await signIn(fac, facCheck, FACILITATOR_EMAIL, PASSWORD, 'd01');
  await fac.goto(`${BASE}/tafels/nieuw`);
  await fac.getByLabel('Titel', { exact: true }).fill('Het Wilhelminaplein');
  await fac.getByLabel('Centrale vraag', { exact: true }).fill('Wat is ervoor nodig zodat het Wilhelminaplein van iedereen is?');
  await fac.getByLabel('Wie mag meelezen?').selectOption('public');
  await submit(fac, 'Tafel openen');
  const tableId = idIn(new URL(fac.url()).pathname, /^\/tafels\/(\d+)$/);
  assert.match(await fac.locator('#besluiten').innerText(), /nog niets besloten/);
  for (const [page, pageCheck, email, prefix] of [[res, resCheck, READER_EMAIL, 'd02'], [other, otherCheck, CLIENT_EMAIL, 'd03']]) {
    await signIn(page, pageCheck, email, PASSWORD, prefix);
    await page.goto(`${BASE}/tafels/${tableId}`);
    await submit(page, 'Meedoen aan deze tafel');
  }

  // Meetings (plugins/site/meetings.lua): the facilitator plans one from
  // the conversation step's page (a form error first); the resident
  // registers; a meeting that has begun gets its attendance.
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/gesprek`);
  await facCheck('m01-step-meetings');
  await Promise.all([fac.waitForNavigation(), fac.getByRole('link', { name: 'Een bijeenkomst plannen in deze stap' }).click()]);
  await facCheck('m02-meeting-new');
  await submit(fac, 'Bijeenkomst plannen');
  assert.match(await fac.locator('.error-summary').innerText(), /Vul een datum en tijd in/);
  await facCheck('m03-meeting-new-error');
  const inDays = (d, h) => {
    const t = new Date(Date.now() + d * 86400000);
    const local = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Amsterdam', year: 'numeric', month: '2-digit',
      day: '2-digit' }).format(t);
    return `${local}T${h}`;
  };
  await fac.getByLabel('Titel', { exact: true }).fill('Avond op het plein');
  await fac.getByLabel('Begint', { exact: true }).fill(inDays(5, '19:30'));
  await fac.getByLabel('Eindigt', { exact: true }).fill(inDays(5, '21:30'));
  await fac.getByLabel('Plaats', { exact: true }).fill('Buurthuis Het Plein');
  await fac.getByLabel('Aantal plaatsen', { exact: true }).fill('1');
  await fac.getByLabel('Een tolk', { exact: true }).check();
  await submit(fac, 'Bijeenkomst plannen');
  const meetingId = idIn(new URL(fac.url()).pathname, /^\/bijeenkomsten\/(\d+)$/);
  const meetingPage = `${BASE}/bijeenkomsten/${meetingId}`;
  assert.match(await fac.locator('main').innerText(), /Stap: Gesprek[\s\S]*Buurthuis Het Plein[\s\S]*Een tolk/);
  await facCheck('m04-meeting-facilitator');
  await fac.goto(`${meetingPage}/wijzigen`);
  await facCheck('m05-meeting-edit');
  await res.goto(meetingPage);
  await resCheck('m06-meeting-resident');
  await submit(res, 'Aanmelden');
  assert.match(await res.locator('#aanmelding').innerText(), /U bent aangemeld voor deze bijeenkomst/);
  await resCheck('m07-meeting-registered');
  await other.goto(meetingPage);
  assert.match(await other.locator('#aanmelding').innerText(), /De bijeenkomst is vol/);
  await submit(other, 'Op de wachtlijst');
  assert.match(await other.locator('#aanmelding').innerText(), /u staat op de wachtlijst[\s\S]*1\./);
  await otherCheck('m08-meeting-waiting');
  await res.goto(`${BASE}/tafels/${tableId}`);
  assert.match(await res.locator('#bijeenkomsten').innerText(), /Avond op het plein[\s\S]*U bent aangemeld/);
  await resCheck('m09-table-meetings');
  // One that begins in a moment: registered, then attendance.
  const soon = await apiAs(fac, 'POST', `/tables/${tableId}/meetings`, {
    title: 'Korte inloop', starts_at: new Date(Date.now() + 3000).toISOString(),
    ends_at: new Date(Date.now() + 7200000).toISOString(), place: 'Op het plein' });
  assert.equal(soon.status, 201);
  await res.goto(`${BASE}/bijeenkomsten/${soon.body.id}`);
  await submit(res, 'Aanmelden');
  await fac.goto(`${BASE}/bijeenkomsten/${soon.body.id}`);
  await facCheck('m10-meeting-registrations');
  await new Promise((r) => setTimeout(r, 4000));
  await fac.goto(`${BASE}/bijeenkomsten/${soon.body.id}`);
  await fac.locator('#aanwezigheid input[type=checkbox]').first().check();
  await fac.getByLabel('Aantal anderen dat binnenliep (zonder aanmelding)').fill('3');
  await submit(fac, 'Aanwezigheid opslaan');
  assert.match(await fac.locator('main').innerText(), /1 aangemelde deelnemers kwamen, en 3 anderen liepen binnen/);
  await facCheck('m11-meeting-attendance');

  // From the outcome step's page: the new decision belongs to the step.
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/opbrengst`);
  await facCheck('d04-step-decisions');
  await Promise.all([fac.waitForNavigation(), fac.getByRole('link', { name: 'Een besluit voorleggen in deze stap' }).click()]);
  await facCheck('d05-decision-new');
  await submit(fac, 'Besluit voorleggen');
  assert.match(await fac.locator('.error-summary').innerText(), /Vul dit veld in/);
  assert.equal(await fac.locator('#b-title').getAttribute('aria-invalid'), 'true');
  await facCheck('d06-decision-new-error');
  await fac.getByLabel('Titel', { exact: true }).fill('Bomen op het plein');
  await fac.getByLabel('Voorstel', { exact: true }).fill('We planten **zes** bomen aan de zonkant.');
  await submit(fac, 'Besluit voorleggen');
  const decisionId = idIn(new URL(fac.url()).pathname, /^\/besluiten\/(\d+)$/);
  const page = `${BASE}/besluiten/${decisionId}`;
  assert.match(await fac.locator('main').innerText(), /Stap: Opbrengst/);
  await facCheck('d07-decision-facilitator');

  // The resident votes for, then changes to against; a vote without a
  // choice is refused with a summary.
  await res.goto(page);
  await resCheck('d08-decision-resident');
  await submit(res, 'Stem uitbrengen');
  assert.match(await res.locator('#stem .error-summary').innerText(), /Kies wat u van het voorstel vindt/);
  await resCheck('d09-decision-vote-error');
  await res.getByLabel('Voor', { exact: true }).check();
  await submit(res, 'Stem uitbrengen');
  assert.match(await res.locator('.my-vote').innerText(), /U stemde: Voor/);
  await res.getByLabel('Tegen', { exact: true }).check();
  await submit(res, 'Stem wijzigen');
  assert.match(await res.locator('.my-vote').innerText(), /U stemde: Tegen/);
  await resCheck('d10-decision-voted');
  await other.goto(page);
  await other.getByLabel('Voor', { exact: true }).check();
  await submit(other, 'Stem uitbrengen');

  // The facilitator counts the room and closes: the majority is for.
  await fac.goto(page);
  await fac.getByLabel('Voor', { exact: true }).fill('4');
  await fac.getByLabel('Tegen', { exact: true }).fill('1');
  await submit(fac, 'Zaal opslaan');
  assert.match(await fac.locator('table.decision-results').innerText(), /Voor\s+1\s+4\s+5/);
  await submit(fac, 'Stemmen sluiten');
  assert.match(await fac.locator('#uitkomst').innerText(), /De meerderheid koos: Voor/);
  await facCheck('d11-decision-closed');

  // The resident, in the minority, says what it would take.
  await res.goto(page);
  await res.getByLabel('Wat u nodig heeft').fill('Een bank in de schaduw van die bomen.');
  await submit(res, 'Inbrengen');
  assert.match(await res.locator('#minderheid').innerText(), /Een bank in de schaduw[\s\S]*Nog niet beoordeeld/);
  await resCheck('d12-decision-point');

  // The facilitator adds it and writes the final text.
  await fac.goto(page);
  await fac.getByLabel('Ja, toegevoegd').check();
  await submit(fac, 'Opslaan');
  await fac.getByLabel('De tekst van het besluit').fill('Zes bomen aan de zonkant, **met een bank in hun schaduw**.');
  await submit(fac, 'Besluit vastleggen');
  await facCheck('d13-decision-final');

  // The resident reads the decision with what was added.
  await res.goto(page);
  const record = await res.locator('main').innerText();
  assert.match(record, /Een bank in de schaduw van die bomen\.[\s\S]*Toegevoegd aan het besluit/);
  assert.match(record, /Zes bomen aan de zonkant, met een bank in hun schaduw\./);
  assert.equal(await res.locator('#besluittekst strong').innerText(), 'met een bank in hun schaduw');
  await resCheck('d14-decision-record');
  await res.goto(`${BASE}/tafels/${tableId}`);
  assert.match(await res.locator('#besluiten').innerText(), /Genomen besluiten[\s\S]*Bomen op het plein/);
  await resCheck('d15-table-decisions');

  // In English.
  for (const [p, pageCheck, prefix] of [[res, resCheck, 'd16-en-resident'], [fac, facCheck, 'd17-en-facilitator']]) {
    await p.goto(`${BASE}/taal?lang=en`);
    await p.goto(page);
    assert.equal(await p.locator('html').getAttribute('lang'), 'en');
    assert.match(await p.locator('main').innerText(), /The majority chose: For[\s\S]*Added to the decision/);
    await pageCheck(`${prefix}-decision`);
  }
  await fac.goto(`${BASE}/tafels/${tableId}/besluiten/nieuw`);
  await facCheck('d18-en-decision-new');
  await fac.goto(`${BASE}/tafels/${tableId}/stappen/opbrengst`);
  await facCheck('d19-en-step-decisions');
  for (const [p, pageCheck, url, name] of [[res, resCheck, meetingPage, 'm12-en-meeting-resident'],
                                           [fac, facCheck, meetingPage, 'm13-en-meeting-facilitator'],
                                           [fac, facCheck, `${meetingPage}/wijzigen`, 'm14-en-meeting-edit'],
                                           [fac, facCheck, `${BASE}/tafels/${tableId}/bijeenkomsten/nieuw`, 'm15-en-meeting-new'],
                                           [fac, facCheck, `${BASE}/bijeenkomsten/${soon.body.id}`, 'm16-en-meeting-attendance'],
                                           [fac, facCheck, `${BASE}/tafels/${tableId}/stappen/gesprek`, 'm17-en-step-meetings']]) {
    await p.goto(url);
    assert.equal(await p.locator('html').getAttribute('lang'), 'en');
    await pageCheck(name);
  }
  await res.goto(`${BASE}/tafels/${tableId}`);
  await resCheck('d20-en-table-decisions');

  await fac.context().close();
  await res.context().close();
  await other.context().close();
  facCheck.done();
  resCheck.done();
  otherCheck.done();
});
// ---- The site's settings, content pages and accessibility statement
// (plugins/site/beheer.lua): an admin edits the welcome text and a
// notice, writes a page for the menu, fills in the accessibility
// statement and opens the versions page; every page in Dutch and English.
test('admin: settings, a content page, the accessibility statement, the versions page', async () => {
  const page = await newPage();
  const check = checker(page);
  await signIn(page, check, ADMIN_EMAIL, PASSWORD, 'b01');

  await page.goto(`${BASE}/beheer/instellingen`);
  await check('b02-settings');
  await page.getByLabel('Welkomsttekst op de startpagina').fill('Welkom bij **onze** tafels.');
  await page.locator('#f-notice_title_1').fill('Inloopavond in het stadhuis');
  await page.locator('#f-notice_end_1').fill('2099-12-31');
  await page.getByLabel('E-mailadres', { exact: true }).fill('info@browser.example.nl');
  await submit(page, 'Opslaan');
  assert.match(await page.locator('main').innerText(), /De wijzigingen zijn opgeslagen/);
  await check('b03-settings-saved');
  await page.goto(`${BASE}/`);
  assert.match(await page.locator('.welcome').innerHTML(), /<strong>onze<\/strong>/);
  assert.match(await page.locator('.site-notices').innerText(), /Inloopavond in het stadhuis/);
  assert.match(await page.locator('footer').innerText(), /info@browser\.example\.nl/);
  await check('b04-home-with-notice');

  await page.goto(`${BASE}/beheer/paginas`);
  await check('b05-pages');
  await page.getByRole('link', { name: 'Nieuwe pagina' }).click();
  await page.waitForLoadState('load');
  await check('b06-page-new');
  await page.getByLabel('Adres van de pagina').fill('meedoen');
  await page.getByLabel('Titel').fill('Zo doet u mee');
  await page.getByLabel('Tekst').fill('Kom naar een **tafel** bij u in de buurt.\n\n- Meld u aan\n- Praat mee');
  await page.getByLabel('Plaats in het menu').fill('1');
  await submit(page, 'Opslaan');
  assert.equal(new URL(page.url()).pathname, '/pagina/meedoen');
  assert.equal(await page.locator('h1').innerText(), 'Zo doet u mee');
  assert.equal(await page.locator('.site-menu a', { hasText: 'Zo doet u mee' }).count(), 1, 'the page is in the menu');
  await check('b07-page');
  await page.goto(`${BASE}/beheer/paginas/meedoen`);
  await check('b08-page-edit');

  await page.goto(`${BASE}/beheer/toegankelijkheid`);
  await check('b09-a11y-form');
  await page.getByLabel('Status').selectOption('B');
  await page.getByLabel('Datum van de verklaring').fill('2026-11-30');
  await page.locator('#f-issue_description_1').fill('Sommige pdf-bestanden zijn niet toegankelijk.');
  await page.locator('#f-issue_planned_1').fill('maart 2027');
  await submit(page, 'Opslaan');
  assert.match(await page.locator('main').innerText(), /De wijzigingen zijn opgeslagen/);
  await page.goto(`${BASE}/toegankelijkheid`);
  assert.match(await page.locator('main').innerText(), /voldoet gedeeltelijk/);
  assert.match(await page.locator('main').innerText(), /maart 2027/);
  await check('b10-a11y-statement');

  await page.goto(`${BASE}/beheer/bundel`);
  assert.match(await page.locator('main').innerText(), /hostingpartij/);
  await check('b11-versions');

  await page.goto(`${BASE}/taal?lang=en`);
  for (const [p, name] of [['/beheer/instellingen', 'b12-en-settings'], ['/beheer/paginas', 'b13-en-pages'],
                           ['/beheer/paginas/nieuw', 'b14-en-page-new'], ['/pagina/meedoen', 'b15-en-page'],
                           ['/beheer/toegankelijkheid', 'b16-en-a11y-form'], ['/toegankelijkheid', 'b17-en-a11y'],
                           ['/beheer/bundel', 'b18-en-versions']]) {
    await page.goto(`${BASE}${p}`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await check(name);
  }
  await page.context().close();
  check.done();
});
// ---- end of the settings, pages and accessibility statement
// ---- Bundle upload (plugins/site/beheer.lua, POST /api/v1/bundle): the
// admin uploads a bundle with the page's plain form: a broken one is
// refused with the check's report (file and line), a good one goes in as
// a draft (the site keeps its version), is previewed (the banner, the
// draft's files, then stopped) and is then published; axe on the page in
// each state, in Dutch and English.
const UPLOAD_DIR = env('BROWSER_UPLOAD_DIR');
test('admin: upload a bundle, refused, as a draft, previewed, then published', async () => {
  const page = await newPage();
  const check = checker(page);
  await signIn(page, check, ADMIN_EMAIL, PASSWORD, 'u01');
  await page.goto(`${BASE}/taal?lang=nl`);
  await page.goto(`${BASE}/beheer/bundel`);
  await check('u02-upload-form');
  const before = (await page.locator('table.versions tbody tr').count());

  await page.getByLabel('Bundel (.tar.gz of .zip)').setInputFiles(path.join(UPLOAD_DIR, 'kapot.tar.gz'));
  await submit(page, 'Uploaden');
  const refused = await page.locator('.error-summary').innerText();
  assert.match(refused, /De bundel is niet geplaatst/);
  assert.match(refused, /tenant\.lua:2/);
  await check('u03-upload-refused');
  assert.equal(await page.locator('table.versions tbody tr').count(), before, 'nothing was stored');

  await page.goto(`${BASE}/beheer/bundel`);
  await page.getByLabel('Bundel (.tar.gz of .zip)').setInputFiles(path.join(UPLOAD_DIR, 'bundel.tar.gz'));
  await page.getByLabel('Eerst als concept plaatsen (nog niet in gebruik)').check();
  await submit(page, 'Uploaden');
  const v = before + 1;
  assert.equal(new URL(page.url()).search, `?draft=${v}`);
  assert.match(await page.locator('[role=status]').innerText(), new RegExp(`Versie ${v} is als concept geplaatst`));
  const row = page.locator('table.versions tbody tr').first();
  assert.match(await row.innerText(), new RegExp(ADMIN_NAME));
  assert.doesNotMatch(await row.innerText(), /in gebruik/);
  assert.match(await row.innerText(), /concept/);
  await check('u04-upload-draft');

  // The preview: the site as the draft makes it (its static file is
  // there), with the banner, for this session only; then stopped.
  // (Fetched by the browser: its cookies, its host mapping.)
  const uploaded = () => page.evaluate(async (url) => {
    const r = await fetch(url, { cache: 'no-store' });
    return [r.status, r.status === 200 ? await r.text() : ''];
  }, `${BASE}/assets/geupload.txt`);
  assert.equal((await uploaded())[0], 404, 'the draft is not current');
  await submit(page, `Voorbeeld van versie ${v} bekijken`);
  assert.equal(new URL(page.url()).pathname, '/');
  const banner = page.getByRole('region', { name: 'Voorbeeld' });
  assert.match(await banner.innerText(), new RegExp(`Voorbeeld van versie ${v} — nog niet gepubliceerd`));
  await check('u04b-preview-home');
  assert.deepEqual(await uploaded(), [200, 'versie 2\n'], "the draft's own files");
  await page.goto(`${BASE}/beheer/bundel`);
  assert.equal(await banner.count(), 1, 'the banner on every page of the preview');
  await check('u04c-preview-versions');
  await banner.getByRole('link', { name: 'Voorbeeld stoppen' }).click();
  await page.waitForURL(`${BASE}/beheer/bundel`);
  assert.equal(await page.getByRole('region', { name: 'Voorbeeld' }).count(), 0, 'the preview has stopped');
  assert.equal((await uploaded())[0], 404);

  await submit(page, `Versie ${v} publiceren`);
  assert.match(await page.locator('[role=status]').innerText(), new RegExp(`Versie ${v} is gepubliceerd en nu in gebruik`));
  assert.match(await page.locator('table.versions tbody tr').first().innerText(), /in gebruik/);
  await check('u05-upload-published');

  // Another draft, deleted from the page: gone from the list, the
  // published version newest again.
  await page.getByLabel('Bundel (.tar.gz of .zip)').setInputFiles(path.join(UPLOAD_DIR, 'weg.tar.gz'));
  await page.getByLabel('Eerst als concept plaatsen (nog niet in gebruik)').check();
  await submit(page, 'Uploaden');
  assert.equal(new URL(page.url()).search, `?draft=${v + 1}`);
  await check('u05b-second-draft');
  await submit(page, `Versie ${v + 1} verwijderen`);
  assert.match(await page.locator('[role=status]').innerText(), new RegExp(`Concept ${v + 1} is verwijderd`));
  assert.doesNotMatch(await page.locator('table.versions').innerText(), /concept/);
  assert.match(await page.locator('table.versions tbody tr').first().innerText(), new RegExp(`^${v}\\b`));
  await check('u05c-draft-deleted');

  await page.goto(`${BASE}/taal?lang=en`);
  await page.goto(`${BASE}/beheer/bundel`);
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  assert.match(await page.locator('main').innerText(), /Upload a new version/);
  await check('u06-en-upload-form');
  await page.getByLabel('Bundle (.tar.gz or .zip)').setInputFiles(path.join(UPLOAD_DIR, 'kapot.tar.gz'));
  await submit(page, 'Upload');
  assert.match(await page.locator('.error-summary').innerText(), /The bundle was not put in place/);
  await check('u07-en-upload-refused');
  await page.goto(`${BASE}/taal?lang=nl`);
  await page.context().close();
  check.done();
});
// ---- end of the bundle upload
// ---- Notifications (plugins/site/notifications.lua): a resident follows a
// table from its page, reads what is new at /meldingen (marked unread
// once, then read), changes the cadence and the mail switch there, and
// unsubscribes from a mail's link without signing in; axe on every page,
// in Dutch and English.
async function unsubscribeLink(address, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const files = fs.existsSync(MAIL_DIR) ? fs.readdirSync(MAIL_DIR).filter((f) => f.endsWith('.eml')) : [];
    for (const f of files.sort()) {
      const text = decodeQuotedPrintable(fs.readFileSync(path.join(MAIL_DIR, f), 'latin1'));
      if (!new RegExp(`^To:.*${address.replace(/[.]/g, '\\.')}`, 'mi').test(text)) continue;
      const m = text.match(/https?:\/\/[^\s"<>]+\/afmelden\/[A-Za-z0-9_-]+/);
      if (m) return m[0];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail to ${address} with an /afmelden/ link in ${MAIL_DIR} after ${timeoutMs} ms`);
}

test('notifications: a resident follows a table, reads what is new, and unsubscribes from the mail', async () => {
  const fac = await newPage();
  const facCheck = checker(fac);
  const res = await newPage();
  const check = checker(res);
  await signIn(fac, facCheck, FACILITATOR_EMAIL, PASSWORD, 'n00');
  const made = await apiAs(fac, 'POST', '/tables', { title: 'De Molenstraat', question: 'Wat maakt de Molenstraat veiliger?',
    visibility: 'public' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const tableId = made.body.id;

  // A guest is asked to sign in to follow.
  await res.goto(`${BASE}/tafels/${tableId}`);
  assert.match(await res.locator('#volgen').innerText(), /om te volgen/);
  await signIn(res, check, READER_EMAIL, PASSWORD, 'n01');
  await res.goto(`${BASE}/taal?lang=nl`);
  await res.goto(`${BASE}/tafels/${tableId}`);
  const follow = res.locator('#volgen');
  assert.match(await follow.innerText(), /U volgt dit nog niet/);
  await check('n02-table-follow');
  await follow.getByLabel('Elke bijdrage').check();
  await Promise.all([res.waitForNavigation(), follow.getByRole('button', { name: 'Volgen', exact: true }).click()]);
  assert.match(await res.locator('#volgen').innerText(), /Volgend: elke bijdrage/);
  await check('n03-table-following');

  // The facilitator writes; the resident sees it at /meldingen, unread once.
  const text = 'Vanavond praten we over de oversteekplaats bij de school.';
  const posted = await apiAs(fac, 'POST', `/tables/${tableId}/contributions`, { body: text });
  assert.equal(posted.status, 201, JSON.stringify(posted.body));
  await Promise.all([res.waitForNavigation(), res.getByRole('link', { name: 'Mijn meldingen' }).click()]);
  assert.equal(new URL(res.url()).pathname, '/meldingen');
  const item = res.locator('.notification').filter({ hasText: text.slice(0, 40) });
  assert.equal(await item.count(), 1, 'the contribution is in the list');
  assert.match(await item.innerText(), /ongelezen/);
  await check('n04-notifications-unread');
  await Promise.all([res.waitForNavigation(), item.getByRole('link').first().click()]);
  assert.equal(new URL(res.url()).pathname, `/tafels/${tableId}`);
  assert.equal(new URL(res.url()).hash, `#bijdrage-${posted.body.id}`);
  await res.goto(`${BASE}/meldingen`);
  assert.doesNotMatch(await res.locator('.notification').filter({ hasText: text.slice(0, 40) }).innerText(), /ongelezen/);
  assert.match(await res.locator('#nieuw-kop + p').innerText(), /U heeft alles gelezen/);

  // The cadence and the mail switch, from the list.
  const mine = res.locator('.follow-item').filter({ hasText: 'De Molenstraat' });
  await mine.getByLabel('Wekelijks overzicht').check();
  await Promise.all([res.waitForNavigation(), mine.getByRole('button', { name: 'Opslaan', exact: true }).click()]);
  assert.match(await res.locator('[role=status]').innerText(), /opgeslagen/);
  assert.ok(await res.locator('.follow-item').filter({ hasText: 'De Molenstraat' }).getByLabel('Wekelijks overzicht').isChecked());
  await res.getByLabel(/^Uit/).check();
  await submit(res, 'E-mailinstellingen opslaan');
  assert.ok(await res.getByLabel(/^Uit/).isChecked());
  await check('n05-notifications-saved');
  await res.getByLabel(/^Aan/).check();
  await submit(res, 'E-mailinstellingen opslaan');
  await res.goto(`${BASE}/taal?lang=en`);
  await res.goto(`${BASE}/meldingen`);
  assert.equal(await res.locator('html').getAttribute('lang'), 'en');
  assert.match(await res.locator('main').innerText(), /What you follow/);
  await check('n06-en-notifications');
  await res.goto(`${BASE}/taal?lang=nl`);

  // Each contribution mails: the mail's link unsubscribes without a session.
  const mine2 = res.locator('.follow-item').filter({ hasText: 'De Molenstraat' });
  await res.goto(`${BASE}/meldingen`);
  await mine2.getByLabel('Elke bijdrage').check();
  await Promise.all([res.waitForNavigation(), mine2.getByRole('button', { name: 'Opslaan', exact: true }).click()]);
  assert.equal((await apiAs(fac, 'POST', `/tables/${tableId}/contributions`, { body: 'Nog een bijdrage over de straat.' })).status, 201);
  const link = new URL(await unsubscribeLink(READER_EMAIL, 60000));
  const guest = await newPage();
  const guestCheck = checker(guest);
  await guest.goto(`${BASE}${link.pathname}`);
  assert.match(await guest.locator('h1').innerText(), /Afmelden voor e-mail/);
  await guestCheck('n07-unsubscribe');
  assert.ok((await apiAs(res, 'GET', '/me/notification-settings')).body.mail, 'opening the link changes nothing');
  await submit(guest, 'Geen e-mail meer ontvangen');
  assert.match(await guest.locator('main').innerText(), /U ontvangt geen e-mail meer/);
  await guestCheck('n08-unsubscribed');
  assert.equal((await apiAs(res, 'GET', '/me/notification-settings')).body.mail, false);
  await guest.goto(`${BASE}/taal?lang=en`);
  await guest.goto(`${BASE}${link.pathname}`);
  assert.equal(await guest.locator('html').getAttribute('lang'), 'en');
  await guestCheck('n09-en-unsubscribe');
  await submit(guest, 'Stop receiving e-mail');
  await guestCheck('n10-en-unsubscribed');
  // Back on for the other flows.
  assert.equal((await apiAs(res, 'PATCH', '/me/notification-settings', { mail: true })).status, 200);
  await guest.context().close();
  await res.context().close();
  await fac.context().close();
  facCheck.done();
  check.done();
  guestCheck.done();
});
// ---- end of the notifications
// ---- Plugin options (plugins/site/beheer.lua, PUT /api/v1/settings/options):
// the methode plugin declares min_interviews and seldom_heard editable; an
// admin changes both at /beheer/instellingen and sees them saved, a value
// out of its bounds is refused at the option, and in English the admin
// sets them back to tenant.lua's values (which keeps no row); axe on the
// page in each state, in Dutch and English.
test('admin: plugin options on the settings page, saved, refused, in Dutch and English', async () => {
  const page = await newPage();
  const check = checker(page);
  await signIn(page, check, ADMIN_EMAIL, PASSWORD, 'o01');
  await page.goto(`${BASE}/taal?lang=nl`);
  await page.goto(`${BASE}/beheer/instellingen`);
  const options = page.getByRole('group', { name: 'Opties van de plugins' });
  assert.match(await options.innerText(), /Plugin methode/);
  const min = options.getByLabel('Minimaal aantal interviews voor de stap Interviews');
  const seldom = options.getByLabel('Eén interview met een zelden gehoorde speler is verplicht');
  // tenant.lua's values (the browser tenant's bundle).
  assert.equal(await min.inputValue(), '0');
  assert.equal(await seldom.inputValue(), 'false');
  await check('o02-options');

  await min.fill('3');
  await seldom.selectOption('true');
  await submit(page, 'Opties opslaan');
  assert.equal(new URL(page.url()).search, '?saved=1');
  assert.match(await page.locator('[role=status]').innerText(), /De wijzigingen zijn opgeslagen/);
  assert.equal(await min.inputValue(), '3');
  assert.equal(await seldom.inputValue(), 'true');
  await check('o03-options-saved');
  assert.deepEqual((await apiAs(page, 'GET', '/settings/options')).body.options.methode,
                   { min_interviews: 3, seldom_heard: true });

  // Out of its bounds (0 to 50): refused at the option, nothing written.
  await min.fill('51');
  await submit(page, 'Opties opslaan');
  assert.match(await page.locator('[role=status]').innerText(), /niet opgeslagen/i);
  assert.equal(await min.getAttribute('aria-invalid'), 'true');
  await check('o04-options-refused');
  assert.deepEqual((await apiAs(page, 'GET', '/settings/options')).body.options.methode,
                   { min_interviews: 3, seldom_heard: true });

  // In English: both back to tenant.lua's values, which keeps no row.
  await page.goto(`${BASE}/taal?lang=en`);
  await page.goto(`${BASE}/beheer/instellingen`);
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  const optionsEn = page.getByRole('group', { name: 'Plugin options' });
  const minEn = optionsEn.getByLabel('Interviews the interviews step needs at least');
  const seldomEn = optionsEn.getByLabel('One interview must be with a seldom-heard player');
  assert.equal(await minEn.inputValue(), '3');
  await check('o05-en-options');
  await minEn.fill('0');
  await seldomEn.selectOption('false');
  await submit(page, 'Save options');
  assert.match(await page.locator('[role=status]').innerText(), /The changes have been saved/);
  assert.equal(await minEn.inputValue(), '0');
  assert.equal(await seldomEn.inputValue(), 'false');
  await check('o06-en-options-saved');
  assert.deepEqual((await apiAs(page, 'GET', '/settings/options')).body.options.methode ?? {}, {});
  await page.goto(`${BASE}/taal?lang=nl`);
  await page.context().close();
  check.done();
});
// ---- end of the plugin options
