import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An API server answer other than 2xx, with the Status object's reason and message. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;

  constructor(status: number, reason: string, message: string, body: unknown) {
    super(`${status} ${reason}: ${message}`);
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

export const isNotFound = (err: unknown) => err instanceof KubeApiError && err.status === 404;
export const isInvalid = (err: unknown) => err instanceof KubeApiError && err.status === 422;
export const isConflict = (err: unknown) => err instanceof KubeApiError && err.status === 409;

export type RequestInit = {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
};

/**
 * JSON requests to the API server over node:https with the kubeconfig's credentials
 * (KubeConfig.applyToHTTPSOptions: client certificates, bearer tokens, in-cluster service account).
 * Raw JSON in and out, so objects keep their wire shape; the options (and the keep-alive agent) are
 * refreshed every minute so rotated tokens are picked up.
 */
export class KubeHttp {
  private readonly kc: KubeConfig;
  private options: { at: number; opts: RequestOptions } | undefined;
  private agent: { fingerprint: string; agent: Agent } | undefined;

  constructor(kc: KubeConfig) {
    this.kc = kc;
  }

  private async baseOptions(): Promise<RequestOptions> {
    if (this.options && Date.now() - this.options.at < 60_000) return this.options.opts;
    const opts: RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    // client-node's agent does not keep connections alive: one TLS handshake per request. Ours does,
    // and is replaced only when the TLS material changes.
    const tls = { ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized };
    const fingerprint = JSON.stringify(tls);
    if (!this.agent || this.agent.fingerprint !== fingerprint) {
      this.agent?.agent.destroy();
      this.agent = { fingerprint, agent: new Agent({ ...tls, keepAlive: true, maxSockets: 32 }) };
    }
    opts.agent = this.agent.agent;
    this.options = { at: Date.now(), opts };
    return opts;
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent?.agent.destroy();
    this.agent = undefined;
    this.options = undefined;
  }

  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(init.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const base = await this.baseOptions();
    const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
    const headers: Record<string, string> = {
      ...(base.headers as Record<string, string> | undefined),
      accept: 'application/json',
    };
    if (payload !== undefined) {
      headers['content-type'] = init.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { ...base, method, headers, timeout: init.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text for the error message
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(body as T);
            return;
          }
          const st = (typeof body === 'object' && body !== null ? body : {}) as {
            reason?: string;
            message?: string;
          };
          reject(
            new KubeApiError(status, st.reason ?? 'Unknown', st.message ?? String(text).slice(0, 500), body),
          );
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}
