// End-to-end test of keel serve's web page in headless Chromium, driven by playwright-core.
// Run by cli/tests/web_e2e.rs against a real `keel serve` (the demo bundles):
//
//   KEEL_E2E_URL=http://127.0.0.1:PORT KEEL_CHROMIUM=/usr/bin/chromium KEEL_E2E_OUT=DIR node e2e.mjs
//
// It opens the page, selects the AirBnB demo model, checks the pipeline drawing (the
// ColumnTransformer's branches side by side above the model) and the form's defaults (the
// bundle's example row), changes a few fields, presses Predict and checks that the number shown
// is the API's answer for the same row (asked for here, over HTTP), to the printed precision.
// Then it checks that an API error lands next to the field it names, and that a classifier's
// probabilities are shown per class. Last, on a second server (KEEL_E2E_SINGLE_URL) that serves
// one HistGradientBoosting bundle, it checks that the page opens the only model by itself and
// that the tree stage shows its summary, not its raw arrays. Screenshots go to KEEL_E2E_OUT.
// Exits non-zero on failure.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const BASE = process.env.KEEL_E2E_URL;
const EXECUTABLE = process.env.KEEL_CHROMIUM || '/usr/bin/chromium';
const OUT = process.env.KEEL_E2E_OUT;
const SINGLE = process.env.KEEL_E2E_SINGLE_URL;
if (!BASE || !OUT || !SINGLE) {
  console.error('KEEL_E2E_URL, KEEL_E2E_SINGLE_URL and KEEL_E2E_OUT must be set');
  process.exit(2);
}

const MODEL = 'airbnb_linear';
// The fields the test changes (values the demo's data uses: fixtures/data.py).
const CHANGES = {
  bedrooms: 3,
  square_feet: 1234.5,
  cleaning_fee: 61.25,
  room_type: 'entire',
  state: 'NY',
};

async function getJson(p) {
  const r = await fetch(BASE + p);
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

async function predictApi(model, row) {
  const r = await fetch(`${BASE}/v1/models/${model}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rows: [row] }),
  });
  return { status: r.status, body: await r.json() };
}

/** The shown text is the API's value printed with the shown number of decimals. */
function assertShownIs(shown, value, what) {
  assert.match(shown, /^-?\d+(\.\d+)?$/, `${what}: ${shown} is a plain decimal`);
  const decimals = shown.includes('.') ? shown.split('.')[1].length : 0;
  assert.equal(shown, value.toFixed(decimals), `${what}: shown ${shown}, API ${value}`);
  return decimals;
}

const report = { checks: [] };
const check = (name) => report.checks.push(name);

const browser = await chromium.launch({
  executablePath: EXECUTABLE,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1100 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const requests = [];
  const problems = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    // Chromium logs every 4xx fetch; the one 422 the test provokes is expected.
    if (m.type() === 'error' && !/status of 422/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

  // --- The list of models
  const response = await page.goto(`${BASE}/`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'], /^text\/html/);
  const list = page.locator('#model-list');
  for (const name of ['airbnb_linear', 'iris_logreg', 'diabetes_ct_linreg']) {
    await list.getByRole('link', { name, exact: true }).waitFor();
  }
  check('lists the demo models');

  // --- Select the AirBnB model
  await list.getByRole('link', { name: MODEL, exact: true }).click();
  await page.getByRole('heading', { level: 2, name: new RegExp(`^${MODEL}`) }).waitFor();
  assert.equal(await list.getByRole('link', { name: MODEL, exact: true }).getAttribute('aria-current'), 'page');
  const doc = await getJson(`/v1/models/${MODEL}`);
  check('selects the model');

  // --- The pipeline: the ColumnTransformer's branches side by side, above the model
  const graph = page.locator('#graph');
  const box = async (title) => {
    const b = graph.locator('.g-leaf', { has: page.locator('.g-title', { hasText: new RegExp(`^${title}$`) }) });
    assert.equal(await b.count(), 1, `one ${title} box`);
    return b.boundingBox();
  };
  const scaler = await box('StandardScaler');
  const encoder = await box('OneHotEncoder');
  const concat = await box('concat');
  const model = await box('LinearRegression');
  assert.ok(Math.abs(scaler.y - encoder.y) < 2, 'the two branches start on one row');
  assert.ok(scaler.x + scaler.width <= encoder.x || encoder.x + encoder.width <= scaler.x, 'the branches do not overlap');
  assert.ok(concat.y > scaler.y + scaler.height && concat.y > encoder.y + encoder.height, 'concat below the branches');
  assert.ok(model.y > concat.y + concat.height, 'the model below the features');
  const container = graph.locator('.g-container[aria-label^="ColumnTransformer:"]');
  assert.equal(await container.count(), 1, 'the ColumnTransformer is a box');
  assert.equal(await container.locator('.g-leaf').count(), 3, 'holding its two branches and the concat');
  const edges = await graph.locator('svg.g-edges path:not(marker path)').count();
  assert.ok(edges >= 8, `edges drawn (${edges})`);
  check(`draws the pipeline (${edges} edges; branches side by side)`);

  // --- The form's defaults are the bundle's example row
  const example = JSON.parse(doc.metadata['keel.example']);
  assert.deepEqual(Object.keys(example), doc.inputs.map((f) => f.name));
  for (const f of doc.inputs) {
    const input = page.getByLabel(f.name, { exact: true });
    const value = await input.inputValue();
    if (f.dtype === 'utf8') assert.equal(value, example[f.name], f.name);
    else assert.equal(Number(value), example[f.name], f.name);
    assert.equal(await input.getAttribute('type'), f.dtype === 'utf8' ? 'text' : 'number', `${f.name}: input type`);
  }
  check('fills the form from keel.example');

  // --- Change a few fields, predict, compare with the API
  for (const [name, value] of Object.entries(CHANGES)) {
    await page.getByLabel(name, { exact: true }).fill(String(value));
  }
  await page.getByRole('button', { name: 'Predict', exact: true }).click();
  const output = page.locator('output[data-output="prediction"]');
  await output.waitFor();
  const shown = (await output.textContent()).trim();
  const row = { ...example, ...CHANGES };
  const api = await predictApi(MODEL, row);
  assert.equal(api.status, 200, JSON.stringify(api.body));
  const want = api.body.rows[0].prediction;
  const decimals = assertShownIs(shown, want, 'prediction');
  assert.ok(decimals >= 2, `printed to ${decimals} decimals`);
  // The page also keeps the full value it received: exactly the API's.
  assert.equal(JSON.parse(await output.getAttribute('data-value')), want);
  await page.locator('#status', { hasText: 'Scored by airbnb_linear v1' }).waitFor();
  report.prediction = { shown, api: want };
  check(`predicts ${shown} (API ${want})`);
  await page.screenshot({ path: path.join(OUT, 'airbnb.png'), fullPage: true });

  // --- An API error is shown next to the field it names
  const bathrooms = page.getByLabel('bathrooms', { exact: true });
  await bathrooms.fill('');
  await page.getByRole('button', { name: 'Predict', exact: true }).click();
  const refused = await predictApi(MODEL, { ...row, bathrooms: null });
  assert.equal(refused.status, 422);
  assert.equal(refused.body.error.column, 'bathrooms');
  const fieldError = page.locator('.field[data-column="bathrooms"] .field-error');
  await fieldError.waitFor({ state: 'visible' });
  const errorText = await fieldError.textContent();
  assert.ok(errorText.includes(refused.body.error.message), `field error: ${errorText}`);
  assert.ok(errorText.includes(refused.body.error.code) && errorText.includes('row 0'), errorText);
  assert.equal(await bathrooms.getAttribute('aria-invalid'), 'true');
  const describedBy = (await bathrooms.getAttribute('aria-describedby')).split(' ');
  assert.ok(describedBy.includes(await fieldError.getAttribute('id')), 'the error describes the field');
  assert.equal(await page.locator('.field-error:visible').count(), 1, 'no other field is marked');
  await page.locator('#status.error', { hasText: refused.body.error.message }).waitFor();
  check(`shows ${refused.body.error.code} next to bathrooms`);
  await page.screenshot({ path: path.join(OUT, 'airbnb-error.png'), fullPage: true });

  // --- A classifier: probabilities per class
  await list.getByRole('link', { name: 'iris_logreg', exact: true }).click();
  await page.getByRole('heading', { level: 2, name: /^iris_logreg/ }).waitFor();
  const iris = await getJson('/v1/models/iris_logreg');
  const irisRow = {};
  for (const f of iris.inputs) {
    const value = await page.getByLabel(f.name, { exact: true }).inputValue();
    irisRow[f.name] = Number(value);
  }
  irisRow['petal length (cm)'] = 4.5;
  irisRow['petal width (cm)'] = 1.5;
  await page.getByLabel('petal length (cm)', { exact: true }).fill('4.5');
  await page.getByLabel('petal width (cm)', { exact: true }).fill('1.5');
  await page.getByRole('button', { name: 'Predict', exact: true }).click();
  const probs = page.locator('[data-output="probability"] tbody tr');
  await probs.first().waitFor();
  const irisApi = await predictApi('iris_logreg', irisRow);
  assert.equal(irisApi.status, 200);
  const classes = iris.outputs.find((f) => f.name === 'probability').names;
  assert.equal(await probs.count(), classes.length);
  for (let j = 0; j < classes.length; j += 1) {
    const r = probs.nth(j);
    assert.equal((await r.locator('th').textContent()).trim(), classes[j]);
    assertShownIs((await r.locator('td.num').textContent()).trim(), irisApi.body.rows[0].probability[j], `p(${classes[j]})`);
  }
  assert.equal((await page.locator('output[data-output="label"]').textContent()).trim(), irisApi.body.rows[0].label);
  check(`shows iris probabilities for ${classes.join(', ')} and label ${irisApi.body.rows[0].label}`);
  await page.screenshot({ path: path.join(OUT, 'iris.png'), fullPage: true });

  // --- One model loaded: the page opens it without being asked, and a tree stage reads as a
  // summary. Expected figures are scikit-learn's own, from the fitted estimator of
  // fixtures/cases/trees.py::mixed_hgb_clf (max_iter=15 x 3 classes = 45 `_predictors`, 675
  // nodes in all, the deepest node at depth 7, n_features_in_ 7), not keel's.
  await page.goto(`${SINGLE}/`);
  await page.getByRole('heading', { level: 2, name: /^mixed_hgb_clf/ }).waitFor();
  assert.equal(new URL(page.url()).hash, '#/mixed_hgb_clf', 'the address names the model opened');
  const trees = page.locator('#graph .g-leaf', { has: page.locator('.g-op', { hasText: 'sklearn.hist_gradient_boosting' }) });
  assert.equal(await trees.count(), 1, 'one HistGradientBoosting box');
  assert.equal((await trees.locator('.g-summary').textContent()).trim(), '45 trees · 675 nodes · depth ≤ 7 · 7 features · 3 classes');
  const treeText = await trees.textContent();
  for (const raw of ['bitset_idx', 'is_leaf', 'f_idx_map', 'threshold']) {
    assert.ok(!treeText.includes(raw), `the tree box shows no raw array (${raw}): ${treeText}`);
  }
  check('opens the only model; the tree stage shows its summary');
  await page.screenshot({ path: path.join(OUT, 'single-hgb.png'), fullPage: true });

  // --- Nothing but these servers were asked for anything, and nothing failed on the page
  const foreign = requests.filter((u) => !u.startsWith(`${BASE}/`) && !u.startsWith(`${SINGLE}/`) && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], 'requests to other origins');
  assert.deepEqual(problems, [], 'console errors');
  check(`${requests.length} requests, all to the server`);
  console.log(JSON.stringify(report, null, 1));
} finally {
  await browser.close();
}
