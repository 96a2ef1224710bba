import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

// The API reference page (/docs): Swagger UI from the swagger-ui-dist package, served by the api
// itself (no CDN), rendering /openapi.json; its "try it" calls go to the same origin. docs/api.md says
// why Swagger UI and what the page weighs.

type Asset = { type: string; body: Buffer; gzip?: Buffer };

/** Only 'self': no inline script, no eval, nothing from another origin. Swagger UI's icons are data: SVGs. */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const IMMUTABLE = 'public, max-age=31536000, immutable';

// The page's own settings, in a script file because the CSP forbids inline script.
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  defaultModelExpandDepth: 3,
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
  showExtensions: true,
  validatorUrl: null,
});
`;

// Swagger UI's own stylesheet sets no body margin or heading for a bare page: a few lines of ours.
const PAGE_CSS = `body { margin: 0; background: #fafafa; }
.docs-header { font-family: sans-serif; padding: 12px 20px; background: #1b1b1b; color: #fff; }
.docs-header a { color: #9fd3ff; }
`;

const packageFile = (file: string) =>
  readFileSync(fileURLToPath(import.meta.resolve(`swagger-ui-dist/${file}`)));

/** Content-addressed URLs: a new package version (or a change of ours) is a new URL, so caching forever is right. */
function loadAssets(): Map<string, Asset> {
  const files: [string, string, Buffer][] = [
    ['swagger-ui.css', 'text/css; charset=utf-8', packageFile('swagger-ui.css')],
    ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8', packageFile('swagger-ui-bundle.js')],
    ['docs.css', 'text/css; charset=utf-8', Buffer.from(PAGE_CSS)],
    ['docs-init.js', 'text/javascript; charset=utf-8', Buffer.from(INIT_SCRIPT)],
    ['favicon.png', 'image/png', packageFile('favicon-32x32.png')],
  ];
  const assets = new Map<string, Asset>();
  for (const [name, type, body] of files) {
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
    assets.set(`/docs/assets/${hash}/${name}`, { type, body });
  }
  return assets;
}

function renderPage(assets: Map<string, Asset>): string {
  const url = (name: string) => [...assets.keys()].find((k) => k.endsWith(`/${name}`)) ?? '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payment API reference</title>
<link rel="icon" type="image/png" href="${url('favicon.png')}">
<link rel="stylesheet" href="${url('swagger-ui.css')}">
<link rel="stylesheet" href="${url('docs.css')}">
</head>
<body>
<div class="docs-header">Payment API reference · machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1)</div>
<div id="swagger-ui"></div>
<noscript>The reference needs JavaScript; the document itself is at /openapi.json.</noscript>
<script src="${url('swagger-ui-bundle.js')}"></script>
<script src="${url('docs-init.js')}"></script>
</body>
</html>
`;
}

const acceptsGzip = (req: FastifyRequest) => /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));

/**
 * Registers /docs and its assets. `routeConfig` is what the other public non-API routes get (rate
 * limited per address, no auth). Assets are compressed on first request, once.
 */
export function docsRoutes(app: FastifyInstance, routeConfig: { config: { auth: false } }): void {
  const assets = loadAssets();
  const page = Buffer.from(renderPage(assets));

  app.get('/docs', routeConfig, (_req, reply) =>
    reply
      .header('content-security-policy', DOCS_CSP)
      .header('cache-control', 'no-cache')
      .type('text/html; charset=utf-8')
      .send(page),
  );
  app.get('/docs/assets/:hash/:name', routeConfig, (req: FastifyRequest, reply: FastifyReply) => {
    const { hash, name } = req.params as { hash: string; name: string };
    const asset = assets.get(`/docs/assets/${hash}/${name}`);
    if (!asset) throw new ApiError(404, 'not_found', 'route_not_found', 'no such docs asset');
    reply.header('cache-control', IMMUTABLE).header('vary', 'accept-encoding').type(asset.type);
    if (asset.type.startsWith('image/') || !acceptsGzip(req)) return reply.send(asset.body);
    asset.gzip ??= gzipSync(asset.body, { level: 9 });
    return reply.header('content-encoding', 'gzip').send(asset.gzip);
  });
}
