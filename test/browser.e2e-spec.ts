/**
 * Swagger UI of the sample app in a real browser (Debian's Chromium, headless, driven by
 * playwright-core): "Try it out" on `GET /documents` answers 401 without a token, and 200
 * once a development token is entered under "Authorize". Without Chromium the spec fails:
 * a browser test that skips itself proves nothing.
 */
import { existsSync } from 'node:fs';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Locator,
  type Page,
} from 'playwright-core';
import { send } from './support/http.js';
import { SampleAppProcess } from './support/sample-app-process.js';

/** Debian's Chromium; `CHROMIUM_PATH` names another build. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The longest any one browser step may take, in milliseconds. */
const STEP_TIMEOUT = 15_000;

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does so when it is missing).`,
    );
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Chromium's sandbox refuses to run as root, which CI containers are.
    args: ['--no-sandbox'],
    timeout: 30_000,
  });
}, 40_000);

afterAll(async () => {
  await browser?.close();
});

/** A development token from the sample app's own issuer. */
async function devToken(url: string, scope: string): Promise<string> {
  const response = await send(`${url}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'alice', scope }),
  });
  expect(response.status).toBe(201);
  return (JSON.parse(response.text) as { access_token: string }).access_token;
}

/** The operation block of `GET path`, expanded, in "Try it out" mode. */
async function tryOut(page: Page, path: string): Promise<Locator> {
  const block = page.locator('.opblock.opblock-get').filter({
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
  });
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn').click();
  return block;
}

/** Clicks Execute and reads the status of the response that comes back. */
async function execute(block: Locator): Promise<string> {
  const clear = block.locator('button.btn-clear');
  if ((await clear.count()) > 0) await clear.click();
  await block.locator('button.execute').click();
  const status = block.locator(
    '.live-responses-table .response .response-col_status',
  );
  await status.first().waitFor();
  return (await status.first().innerText()).trim();
}

describe.each(['express', 'fastify'])(
  'Swagger UI of the sample app in Chromium (%s)',
  (adapter) => {
    let app: SampleAppProcess;
    let context: BrowserContext;
    let page: Page;

    beforeAll(async () => {
      app = await SampleAppProcess.start({ HTTP_ADAPTER: adapter });
      context = await browser.newContext();
      page = await context.newPage();
      page.setDefaultTimeout(STEP_TIMEOUT);
      page.setDefaultNavigationTimeout(STEP_TIMEOUT);
      await page.goto(`${app.url}/docs`);
      await page
        .locator('.swagger-ui .auth-wrapper button.authorize')
        .waitFor();
    });

    afterAll(async () => {
      await context?.close();
      await app?.stop();
    });

    it('answers 401 without a token and 200 after Authorize with a development token', async () => {
      const block = await tryOut(page, '/documents');
      expect(await execute(block)).toBe('401');

      const token = await devToken(app.url, 'documents.read');
      await page.locator('.auth-wrapper button.authorize').click();
      const dialog = page.locator('.dialog-ux .modal-ux');
      await dialog.locator('input[aria-label="auth-bearer-value"]').fill(token);
      await dialog.locator('button.modal-btn.auth.authorize').first().click();
      // Once authorized, the dialog offers "Logout" for the scheme.
      await dialog
        .locator('button.modal-btn.auth', { hasText: 'Logout' })
        .waitFor();
      await dialog.locator('button.btn-done').click();

      expect(await execute(block)).toBe('200');
      // The request Swagger UI shows is the one it sent: with the bearer token.
      await expect(
        block.locator('.curl-command').innerText(),
      ).resolves.toContain(`Authorization: Bearer ${token}`);
    }, 60_000);
  },
);
