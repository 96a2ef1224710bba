import { gunzipSync } from 'node:zlib';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_CSP } from '../../runtime/api/docs-page.ts';
import { startApi } from '../support/api.ts';
import { type HeadlessChromium, launchChromium } from '../support/chromium.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { type ServiceChild, spawnService } from '../support/service-process.ts';
import { freePort, waitFor } from '../support/wait.ts';

// The API reference page as a reader gets it: the real api process (runtime/api/main.ts) on loopback,
// opened in Debian's headless Chromium. Every operation of /openapi.json must be on the page with its
// request body fields and responses, and "try it" must really call the api with the bearer token.

type Schema = { type?: string; properties?: Record<string, Schema>; items?: Schema; $ref?: string };
type Operation = {
  operationId: string;
  summary: string;
  security?: unknown[];
  requestBody?: { content: { 'application/json': { schema: Schema } } };
  responses: Record<string, unknown>;
};
type Doc = { paths: Record<string, Record<string, Operation>> };

/** Every property name of a request body, nested objects included. */
function fieldNames(schema: Schema): string[] {
  const names: string[] = [];
  for (const [name, sub] of Object.entries(schema.properties ?? {})) names.push(name, ...fieldNames(sub));
  return names;
}

let db: TestDatabase;
let api: ServiceChild;
let url: string;
let browser: HeadlessChromium;
let cdp: Browser;

beforeAll(async () => {
  db = await createTestDatabase();
  const [port, opsPort] = [await freePort(), await freePort()];
  url = `http://127.0.0.1:${port}`;
  api = spawnService('api', {
    MYSQL_URL: db.appUrl,
    REDIS_URL: requireEnv('REDIS_URL'),
    REDIS_KEY_PREFIX: `apidocs_${uniqueSuffix()}`,
    AUTH_JWT_SECRET: requireEnv('AUTH_JWT_SECRET'),
    API_PORT: String(port),
    API_OPS_PORT: String(opsPort),
  });
  let gone = false;
  void api.exited.then(() => {
    gone = true;
  });
  await waitFor(
    'the api to be ready',
    async () => {
      if (gone) throw new Error(`the api exited:\n${api.output()}`);
      return (await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status === 200;
    },
    30_000,
    100,
  );
  browser = await launchChromium();
  cdp = await chromium.connectOverCDP(browser.wsEndpoint, { timeout: 30_000 });
});

afterAll(async () => {
  await cdp?.close().catch(() => undefined);
  await browser?.stop();
  if (api && api.child.exitCode === null) {
    api.child.kill('SIGTERM');
    await Promise.race([api.exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (api.child.exitCode === null) api.child.kill('SIGKILL');
  }
  await db?.drop();
});

describe('the API reference page (/docs)', () => {
  it('is served by the api with its assets: strict CSP, long-cached content-addressed assets, gzip', async () => {
    const page = await fetch(`${url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(DOCS_CSP);
    expect(DOCS_CSP).not.toContain('unsafe');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1] ?? '');
    expect(assets.map((a) => a.replace(/^.*\//, '')).sort()).toEqual(
      ['docs-init.js', 'docs.css', 'favicon.png', 'swagger-ui-bundle.js', 'swagger-ui.css'].sort(),
    );
    expect(html).not.toMatch(/<script>|<style|style="|https?:\/\//); // nothing inline, nothing remote
    const types: Record<string, string> = {
      js: 'text/javascript; charset=utf-8',
      css: 'text/css; charset=utf-8',
      png: 'image/png',
    };
    for (const asset of assets) {
      const plain = await fetch(`${url}${asset}`, { headers: { 'accept-encoding': 'identity' } });
      expect(plain.status, asset).toBe(200);
      expect(plain.headers.get('content-type'), asset).toBe(types[asset.replace(/^.*\./, '')]);
      expect(plain.headers.get('cache-control'), asset).toBe('public, max-age=31536000, immutable');
      const body = Buffer.from(await plain.arrayBuffer());
      if (asset.endsWith('.png')) continue;
      // Node's fetch would decompress on its own: read the raw bytes through a plain request.
      const raw = await rawGet(`${url}${asset}`, { 'accept-encoding': 'gzip' });
      expect(raw.headers['content-encoding'], asset).toBe('gzip');
      expect(gunzipSync(raw.body).equals(body), asset).toBe(true);
      expect(raw.body.length, asset).toBeLessThan(body.length);
    }
    const missing = await fetch(`${url}/docs/assets/0000000000000000/swagger-ui-bundle.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { type: 'not_found' } });
  });

  it('API_DOCS_ENABLED=false leaves the page out; /openapi.json stays', async () => {
    const off = await startApi({ docsEnabled: false });
    try {
      expect((await fetch(`${off.url}/docs`)).status).toBe(404);
      const html = await (await fetch(`${url}/docs`)).text();
      const asset = /src="(\/docs\/assets\/[^"]+)"/.exec(html)?.[1] ?? '';
      expect(asset).not.toBe('');
      expect((await fetch(`${off.url}${asset}`)).status).toBe(404);
      expect((await fetch(`${off.url}/openapi.json`)).status).toBe(200);
    } finally {
      await off.close();
    }
  });

  it('renders every operation with its request body fields and responses, and "try it" calls the api', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as Doc;
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(7);

    const context = cdp.contexts()[0] ?? (await cdp.newContext());
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const refused: string[] = [];
    const offOrigin: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
    });
    page.on('pageerror', (e) => refused.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith(`${url}/`) && !r.url().startsWith('data:')) offOrigin.push(r.url());
    });
    try {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(`${url}/docs`, { waitUntil: 'load', timeout: 30_000 });
      await page.locator('.swagger-ui .opblock').first().waitFor();
      expect(await page.locator('.swagger-ui .opblock').count()).toBe(operations.length);
      await expect.poll(() => shown(page.locator('.swagger-ui .info .title'))).toContain('Payment API');
      // Auth: the bearer JWT scheme is offered.
      await expect.poll(() => page.locator('.swagger-ui .auth-wrapper .authorize').count()).toBe(1);

      for (const { path, method, op } of operations) {
        const block = operationBlock(page, method, path);
        const what = `${method.toUpperCase()} ${path}`;
        expect(await block.count(), what).toBe(1);
        await expect.poll(() => shown(block.locator('.opblock-summary-description'))).toBe(op.summary);
        // A lock on operations that need the token, none on the webhook.
        expect(await block.locator('.authorization__btn').count(), what).toBe(op.security ? 0 : 1);
        await block.locator('.opblock-summary-control').click();
        await block.locator('.opblock-body').waitFor();

        // The body renders its parts one after another: wait for each (a missing one still fails).
        for (const status of Object.keys(op.responses)) {
          await expect
            .poll(() => block.locator(`tr.response[data-code="${status}"]`).count(), {
              message: `${what} ${status}`,
            })
            .toBe(1);
        }
        // The error shape and its example are shown for the error responses.
        const badRequest = block.locator('tr.response[data-code="400"]');
        await expect.poll(() => shown(badRequest), { message: what }).toContain('invalid_request_error');

        const body = op.requestBody?.content['application/json'].schema;
        if (body) {
          const section = block.locator('.opblock-section-request-body');
          await section.waitFor();
          // The schema tab lists every field (nested ones too, expanded by defaultModelExpandDepth).
          await section.getByRole('tab', { name: 'Schema' }).click();
          const model = section.locator('.model-box');
          await model.first().waitFor();
          const fields = await shown(model.first());
          for (const field of fieldNames(body))
            expect(fields, `${what} body field ${field}`).toContain(field);
        } else {
          expect(await block.locator('.opblock-section-request-body').count(), what).toBe(0);
        }
        await block.locator('.opblock-summary-control').click(); // collapsed again: the page stays light
        await block.locator('.opblock-body').waitFor({ state: 'detached' });
      }

      // "Try it" with a bearer token entered in the page's Authorize dialog.
      const token = await mintToken(`docs_${uniqueSuffix()}`);
      await page.locator('.swagger-ui .auth-wrapper .authorize').click();
      const dialog = page.locator('.swagger-ui .modal-ux');
      await dialog.locator('input').fill(token);
      await dialog.locator('button.authorize').click();
      await dialog.locator('button.btn-done').click();
      await dialog.waitFor({ state: 'detached' });

      const packages = operationBlock(page, 'get', '/v1/packages');
      await packages.locator('.opblock-summary-control').click();
      await packages.locator('.try-out__btn').click();
      const sent = page.waitForRequest((r) => r.url() === `${url}/v1/packages`);
      await packages.locator('.execute').click();
      const request = await sent;
      expect(request.headers().authorization).toBe(`Bearer ${token}`);
      const status = packages.locator('.live-responses-table .response .response-col_status');
      await expect.poll(() => shown(status.first()), { timeout: 20_000 }).toMatch(/^200/);
      const responseBody = packages.locator('.live-responses-table .response .response-col_description');
      await expect.poll(() => shown(responseBody.first())).toContain('pkg_starter');

      expect(refused).toEqual([]);
      expect(offOrigin).toEqual([]);

      // The picture in the README (docs/api-reference.png is a copy of this one): every operation.
      await packages.locator('.opblock-summary-control').click();
      await packages.locator('.opblock-body').waitFor({ state: 'detached' });
      await page.setViewportSize({ width: 1280, height: 1280 });
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: '.local/test-results/api-reference.png' });
    } catch (err) {
      await page
        .screenshot({ path: '.local/test-results/api-reference-failed.png', fullPage: true })
        .catch(() => {});
      throw err;
    } finally {
      await page.close();
    }
  }, 120_000);
});

/** The text as the reader sees it: textContent would include hidden nodes. */
// biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point
const shown = (locator: Locator) => locator.innerText();

/** The block of one operation, found by its method and path as Swagger UI renders them. */
function operationBlock(page: Page, method: string, path: string): Locator {
  return page.locator(
    `.swagger-ui .opblock.opblock-${method}:has(.opblock-summary-path[data-path="${path}"])`,
  );
}

/** GET without decompression: the bytes and headers as sent. */
async function rawGet(
  target: string,
  headers: Record<string, string>,
): Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(target, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
