// Page weight of the API reference candidates (docs/api.md, "Choosing the renderer"): bytes
// transferred and time to render the first operation, in Debian's headless Chromium.
//   npm install --prefix .local/candidates @scalar/api-reference swagger-ui-dist redoc@2
//   node bench/docs-page/weight.ts            # plain;  GZIP=1 node bench/docs-page/weight.ts
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { buildOpenApiDocument } from '../../runtime/api/openapi.ts';
import { CHROMIUM, CHROMIUM_QUIET_FLAGS } from '../../test/support/chromium.ts';

const modules = new URL('../../.local/candidates/node_modules/', import.meta.url).pathname;
const file = (path: string) => readFileSync(modules + path);
const html = (body: string, head = '') =>
  `<!doctype html><html><head><meta charset="utf-8"><title>Payment API</title>${head}</head><body>${body}</body></html>`;
const js = 'text/javascript';
const files: Record<string, [string, string | Buffer]> = {
  '/openapi.json': ['application/json', JSON.stringify(buildOpenApiDocument())],
  '/swagger/': [
    'text/html',
    html(
      '<div id="swagger-ui"></div><script src="/swagger/b.js"></script><script src="/swagger/init.js"></script>',
      '<link rel="stylesheet" href="/swagger/s.css">',
    ),
  ],
  '/swagger/s.css': ['text/css', file('swagger-ui-dist/swagger-ui.css')],
  '/swagger/b.js': [js, file('swagger-ui-dist/swagger-ui-bundle.js')],
  '/swagger/init.js': [js, "SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui' });"],
  '/scalar/': [
    'text/html',
    html('<div id="app"></div><script src="/scalar/s.js"></script><script src="/scalar/init.js"></script>'),
  ],
  '/scalar/s.js': [js, file('@scalar/api-reference/dist/browser/standalone.js')],
  '/scalar/init.js': [
    js,
    "Scalar.createApiReference('#app', { url: '/openapi.json', withDefaultFonts: false });",
  ],
  '/redoc/': [
    'text/html',
    html('<div id="redoc"></div><script src="/redoc/r.js"></script><script src="/redoc/init.js"></script>'),
  ],
  '/redoc/r.js': [js, file('redoc/bundles/redoc.standalone.js')],
  '/redoc/init.js': [js, "Redoc.init('/openapi.json', {}, document.getElementById('redoc'));"],
};
const gzip = process.env.GZIP === '1';
const server = http.createServer((req, res) => {
  const f = files[(req.url ?? '').split('?')[0] ?? ''];
  if (!f) return res.writeHead(404).end();
  const body = Buffer.from(f[1]);
  if (gzip)
    return res
      .writeHead(200, { 'content-type': f[0], 'content-encoding': 'gzip' })
      .end(gzipSync(body, { level: 9 }));
  return res.writeHead(200, { 'content-type': f[0] }).end(body);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: CHROMIUM_QUIET_FLAGS,
});
try {
  for (const name of ['swagger', 'scalar', 'redoc']) {
    const runs: { ms: number; bytes: number; offOrigin: string[] }[] = [];
    for (let i = 0; i < 3; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      let bytes = 0;
      const offOrigin: string[] = [];
      cdp.on('Network.loadingFinished', (e) => {
        bytes += e.encodedDataLength;
      });
      page.on('request', (r) => {
        if (!r.url().startsWith(origin)) offOrigin.push(r.url().slice(0, 60));
      });
      const t0 = Date.now();
      await page.goto(`${origin}/${name}/`);
      await page.waitForFunction(
        // The first operation's summary: Scalar renders a tag group's operations only once it is opened.
        "document.body.innerText.includes('The catalog')",
        null,
        {
          timeout: 60_000,
        },
      );
      runs.push({ ms: Date.now() - t0, bytes, offOrigin });
      await context.close();
    }
    console.log(JSON.stringify({ name, gzip, runs }));
  }
} finally {
  await browser.close();
  server.close();
}
