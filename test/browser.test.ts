// The two pages people look at, in a real browser: Swagger UI's Try-it-out against the built-in
// simulator, and the live page (MJPEG frames, the event feed). Debian's chromium, driven by
// playwright-core; .ci/run installs chromium when it is missing. Screenshots go to test-results/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startGateway, type RunningGateway } from '../gateway/gateway.ts';
import { createLogger } from '../gateway/logger.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const PASSWORD = 'browser-test-Pass-1';
const SHOTS = 'test-results';
const WAIT = { timeout: 15_000 };

describe('browser: /docs and the live page', { timeout: 60_000 }, () => {
  let gateway: RunningGateway;
  let context: BrowserContext;
  let profile: string;

  before(async () => {
    gateway = await startGateway(
      { host: '127.0.0.1', port: 0, cameras: [], users: [{ name: 'admin', password: PASSWORD, role: 'admin' }], tokens: [], docsPublic: true, logLevel: 'silent' },
      createLogger('silent'),
    );
    await gateway.warmed;
    await mkdir(SHOTS, { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'camgate-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1280, height: 900 } });
  });

  after(async () => {
    await context?.close();
    await gateway?.stop();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  async function openOperation(page: Page, operationId: string) {
    const block = page.locator(`.opblock[id$="-${operationId}"]`);
    await block.locator('.opblock-summary').first().click();
    const tryOut = block.locator('button.try-out__btn');
    await tryOut.waitFor(WAIT);
    if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click();
    return block;
  }

  async function execute(block: ReturnType<Page['locator']>): Promise<{ status: string; body: string }> {
    await block.locator('button.execute').click();
    const live = block.locator('.live-responses-table .response');
    await live.locator('.response-col_status').first().waitFor(WAIT);
    const status = (await live.locator('.response-col_status').first().textContent())?.trim() ?? '';
    const body = (await live.locator('.response-col_description pre, .response-col_description .microlight').first().textContent()) ?? '';
    return { status, body };
  }

  it('Swagger UI: Authorize with Basic, read and PATCH general through Try it out', async () => {
    const page = await context.newPage();
    await page.goto(`${gateway.url}/docs/`);
    await page.locator('.auth-wrapper button.authorize').click(WAIT);
    const modal = page.locator('.modal-ux');
    await modal.waitFor(WAIT);
    const schemes = await modal.locator('.auth-container h4').allTextContents();
    assert.ok(schemes.some((s) => s.includes('basicAuth')) && schemes.some((s) => s.includes('bearerAuth')), `schemes: ${schemes.join(', ')}`);
    const basicBox = modal.locator('.auth-container').filter({ hasText: 'basicAuth' });
    await basicBox.locator('input[type="text"]').fill('admin');
    await basicBox.locator('input[type="password"]').fill(PASSWORD);
    await basicBox.locator('button.authorize').click();
    await basicBox.getByText('Authorized').waitFor(WAIT);
    await page.screenshot({ path: `${SHOTS}/docs-authorize.png` });
    await modal.locator('button.btn-done, button.close-modal').first().click();

    const get = await openOperation(page, 'getGeneralConfig');
    assert.equal(await get.locator('input[placeholder="cameraId"]').inputValue(), 'cam1', 'cameraId defaults to the first camera');
    const read = await execute(get);
    assert.equal(read.status, '200', read.body);
    assert.ok(JSON.parse(read.body).General, read.body);
    await get.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/docs-get-general.png`, fullPage: false });

    const patch = await openOperation(page, 'patchGeneralConfig');
    await patch.locator('textarea.body-param__text').fill(JSON.stringify({ General: { MachineName: 'browser-cam' } }));
    const changed = await execute(patch);
    assert.equal(changed.status, '200', changed.body);
    assert.equal(JSON.parse(changed.body).General.MachineName, 'browser-cam');
    assert.equal(gateway.simulator?.getConfigValue('table.General.MachineName'), 'browser-cam');
    await patch.locator('.live-responses-table').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/docs-patch-general.png` });
    await page.close();
  });

  it('live page: sign in, MJPEG frames arrive, a simulator event shows in the feed within 2 s', async () => {
    const page = await context.newPage();
    await page.goto(`${gateway.url}/`);
    await page.locator('#password').fill(PASSWORD);
    await page.locator('#user').fill('admin');
    await page.locator('#login-button').click();
    await page.locator('#live:not([hidden])').waitFor(WAIT);
    assert.equal(await page.locator('#login').isVisible(), false, 'the sign-in form goes away');
    await page.locator('#health dd.ok').waitFor(WAIT);

    // Frames arrive and change: naturalWidth > 0, then two different pixel digests.
    await page.waitForFunction(() => (document.getElementById('video') as HTMLImageElement).naturalWidth > 0, null, WAIT);
    const digest = () =>
      page.evaluate(() => {
        const img = document.getElementById('video') as HTMLImageElement;
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const g = canvas.getContext('2d')!;
        g.drawImage(img, 0, 0);
        const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
        let h = 0;
        for (let i = 0; i < data.length; i += 7) h = (h * 31 + data[i]!) | 0;
        return h;
      });
    const first = await digest();
    const deadline = Date.now() + 10_000;
    let changed = false;
    while (!changed && Date.now() < deadline) {
      await page.waitForTimeout(100);
      changed = (await digest()) !== first;
    }
    assert.ok(changed, 'MJPEG frames change');

    // The hub is attached and synchronised once /events/active says its source is the stream.
    await page.locator('#stream-state.ok').waitFor(WAIT);
    await page.waitForFunction(
      async (auth) => {
        const res = await fetch(location.pathname.replace(/\/$/, '') + '/api/v1/cameras/cam1/events/active', { headers: { Authorization: auth } });
        return res.ok && (await res.json()).source === 'stream';
      },
      'Basic ' + Buffer.from(`admin:${PASSWORD}`).toString('base64'),
      { ...WAIT, polling: 100 },
    );
    const raised = Date.now();
    gateway.simulator!.raiseEvent('VideoMotion', 'Start', 0);
    await page.locator('#feed li[data-code="VideoMotion"][data-action="Start"]').waitFor({ timeout: 2_000 });
    const ms = Date.now() - raised;
    assert.ok(ms < 2_000, `event shown after ${ms} ms`);
    await page.locator('#active li', { hasText: 'VideoMotion' }).waitFor({ timeout: 5_000 });
    await page.screenshot({ path: `${SHOTS}/live-page.png` });
    await page.close();
  });
});
