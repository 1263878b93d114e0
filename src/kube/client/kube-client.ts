// A small Kubernetes REST client (JSON over HTTP/1.1, plain or TLS with a client certificate or a
// bearer token) for the control-plane loops. It knows
// several apiserver URLs and fails over between them: a request that cannot reach one apiserver
// (refused, reset, timed out, or 503 while it starts) is sent to the next, and the one that
// answers becomes the preferred one. Non-2xx answers become KubeApiError with the Status body.
//
// Leader fencing: `fence` runs synchronously immediately before every mutating request is handed
// to the socket (and again before each failover attempt), so a process whose leadership lapsed
// (e.g. it was paused past its lease) refuses to write instead of acting as a second leader.

import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import { ConnectionError, errorFromResponse, KubeApiError } from './api-error.js';
import { JsonStreamSplitter } from './json-stream.js';
import type { ApiCredentials } from './kubeconfig.js';
import type { DeleteOptions, KubeList, Status, WatchEvent } from './meta-types.js';
import { resourcePath, type ResourceRef } from './resource-ref.js';

export type PatchType = 'merge' | 'strategic' | 'json';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export interface KubeClientOptions {
  /** Base URLs of the apiservers, e.g. http://127.0.0.1:8080. */
  masters: readonly string[];
  userAgent?: string;
  /** Limit on one non-watch request against one apiserver; default 30 s. */
  requestTimeoutMs?: number;
  logger?: Logger;
  /** Throws to refuse a mutating request (leader election fencing); called right before sending. */
  fence?: () => void;
  /** CA, client certificate and key, or bearer token for https:// apiservers (from a kubeconfig). */
  credentials?: ApiCredentials;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  /** "" or absent: most recent (quorum read); "0": any cached state. */
  resourceVersion?: string;
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** The server closes the watch after this many seconds; default 300 (client-go picks 5-10 min). */
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface WriteOptions {
  subresource?: string;
  fieldManager?: string;
  signal?: AbortSignal;
}

export interface RawResponse {
  statusCode: number;
  body: string;
  /** Which apiserver answered. */
  master: string;
}

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET']);

class RequestTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

function isNetworkError(err: unknown): boolean {
  if (err instanceof RequestTimeoutError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
  return err instanceof Error && /socket hang up/i.test(err.message);
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}

function buildQuery(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

export class KubeClient {
  readonly masters: readonly string[];
  private preferred = 0;
  private readonly agent: Agent;
  // Watches hold their socket for minutes: keep them off the pool that serves short requests.
  private readonly watchAgent: Agent;
  private readonly tls: boolean;
  private readonly authorization: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly userAgent: string;
  private readonly log: Logger | undefined;
  private fence: (() => void) | undefined;

  constructor(opts: KubeClientOptions) {
    if (opts.masters.length === 0) throw new Error('KubeClient: at least one apiserver URL is required');
    this.masters = opts.masters.map((m) => {
      let url: URL;
      try {
        url = new URL(m);
      } catch {
        throw new Error(`apiserver URL "${m}" is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`apiserver URL "${m}": expected http:// or https://`);
      return m.replace(/\/+$/, '');
    });
    const schemes = new Set(this.masters.map((m) => new URL(m).protocol));
    if (schemes.size > 1) throw new Error('KubeClient: the apiserver URLs mix http:// and https://');
    this.tls = schemes.has('https:');
    const creds = opts.credentials ?? {};
    if (this.tls) {
      const tlsOptions = {
        ...(creds.ca === undefined ? {} : { ca: creds.ca }),
        ...(creds.cert === undefined || creds.key === undefined ? {} : { cert: creds.cert, key: creds.key }),
        rejectUnauthorized: creds.insecureSkipTlsVerify !== true,
      };
      this.agent = new HttpsAgent({ keepAlive: true, maxSockets: 64, ...tlsOptions });
      this.watchAgent = new HttpsAgent({ keepAlive: false, ...tlsOptions });
    } else {
      this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
      this.watchAgent = new Agent({ keepAlive: false });
    }
    this.authorization = creds.token === undefined ? undefined : `Bearer ${creds.token}`;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? 'ketch';
    this.log = opts.logger;
    this.fence = opts.fence;
  }

  /** The apiserver requests go to first. */
  get currentMaster(): string {
    return this.masters[this.preferred] as string;
  }

  /** Installs (or removes) the leader-election fence for mutating requests. */
  setFence(fence: (() => void) | undefined): void {
    this.fence = fence;
  }

  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  // ---- typed verbs

  async get<T>(r: ResourceRef, namespace: string | undefined, name: string, opts: { subresource?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.json<T>('GET', resourcePath(r, namespace, name, opts.subresource), undefined, undefined, opts.signal);
  }

  /** One page (or the whole list when no limit is given). Namespace ''/undefined: all namespaces. */
  async list<T>(r: ResourceRef, namespace: string | undefined, opts: ListOptions = {}, signal?: AbortSignal): Promise<KubeList<T>> {
    const query = buildQuery({ labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.limit, continue: opts.continue, resourceVersion: opts.resourceVersion });
    const list = await this.json<KubeList<T>>('GET', resourcePath(r, namespace) + query, undefined, undefined, signal);
    if (!Array.isArray(list.items)) list.items = [];
    list.metadata ??= {};
    return list;
  }

  /**
   * Every page of a list, as client-go's pager does: pages of `pageSize` joined, all served from
   * one snapshot; a continue token that expired (410) restarts the list once without paging.
   */
  async listAll<T>(r: ResourceRef, namespace: string | undefined, opts: Omit<ListOptions, 'limit' | 'continue'> = {}, pageSize = 500, signal?: AbortSignal): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let first: KubeList<T> | undefined;
    for (;;) {
      let page: KubeList<T>;
      try {
        page = await this.list<T>(r, namespace, { ...opts, limit: pageSize, continue: cont }, signal);
      } catch (err) {
        if (cont !== undefined && err instanceof KubeApiError && err.code === 410) return this.list<T>(r, namespace, opts, signal);
        throw err;
      }
      first ??= page;
      items.push(...page.items);
      cont = page.metadata.continue;
      if (cont === undefined || cont === '') break;
    }
    return { apiVersion: first.apiVersion, kind: first.kind, metadata: { resourceVersion: first.metadata.resourceVersion }, items };
  }

  async create<T>(r: ResourceRef, namespace: string | undefined, obj: unknown, opts: WriteOptions & { name?: string } = {}): Promise<T> {
    const path = resourcePath(r, namespace, opts.subresource === undefined ? undefined : opts.name, opts.subresource);
    return this.json<T>('POST', path + buildQuery({ fieldManager: opts.fieldManager }), JSON.stringify(obj), 'application/json', opts.signal);
  }

  /** PUT of the whole object (or a subresource such as status); optimistic on its resourceVersion. */
  async update<T extends { metadata: { name?: string; namespace?: string } }>(r: ResourceRef, obj: T, opts: WriteOptions = {}): Promise<T> {
    const name = obj.metadata.name;
    if (name === undefined || name === '') throw new Error(`update ${r.resource}: the object has no metadata.name`);
    const path = resourcePath(r, obj.metadata.namespace, name, opts.subresource);
    return this.json<T>('PUT', path + buildQuery({ fieldManager: opts.fieldManager }), JSON.stringify(obj), 'application/json', opts.signal);
  }

  async patch<T>(r: ResourceRef, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: WriteOptions = {}): Promise<T> {
    const path = resourcePath(r, namespace, name, opts.subresource);
    return this.json<T>('PATCH', path + buildQuery({ fieldManager: opts.fieldManager }), JSON.stringify(patch), PATCH_CONTENT_TYPES[type], opts.signal);
  }

  /** DELETE; returns the object (graceful deletion) or a Status, as the server answers. */
  async delete(r: ResourceRef, namespace: string | undefined, name: string, opts: DeleteOptions = {}, signal?: AbortSignal): Promise<unknown> {
    const body = Object.keys(opts).length === 0 ? undefined : JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', ...opts });
    return this.json<unknown>('DELETE', resourcePath(r, namespace, name), body, body === undefined ? undefined : 'application/json', signal);
  }

  /**
   * A watch stream: events until the server ends it (timeoutSeconds), the signal aborts it, or
   * the consumer stops iterating. An ERROR event (e.g. 410 Expired) is thrown as KubeApiError.
   */
  async *watch<T>(r: ResourceRef, namespace: string | undefined, opts: WatchOptions = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const timeoutSeconds = opts.timeoutSeconds ?? 300;
    const query = buildQuery({
      watch: 'true',
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      resourceVersion: opts.resourceVersion,
      allowWatchBookmarks: opts.allowWatchBookmarks === true ? 'true' : undefined,
      timeoutSeconds,
    });
    const path = resourcePath(r, namespace) + query;
    const { res, master } = await this.openStream(path, opts.signal);
    if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) {
      const body = await readBody(res);
      throw errorFromResponse(res.statusCode ?? 0, body);
    }
    // The server ends the watch after timeoutSeconds; a silent peer (e.g. SIGSTOPped) must not
    // hold us forever, so the client gives up a little later on its own.
    const deadline = setTimeout(() => res.destroy(new RequestTimeoutError(`watch on ${master} outlived its timeout`)), (timeoutSeconds + 30) * 1000);
    const splitter = new JsonStreamSplitter();
    try {
      for await (const chunk of res) {
        for (const text of splitter.push(chunk as Buffer)) {
          let event: WatchEvent<T>;
          try {
            event = JSON.parse(text) as WatchEvent<T>;
          } catch (err) {
            throw new Error(`watch ${r.resource} on ${master}: an event is not JSON: ${(err as Error).message}`);
          }
          if (event.type === 'ERROR') {
            const status = event.object as unknown as Status;
            throw new KubeApiError(status, status.code ?? 500);
          }
          yield event;
        }
      }
    } catch (err) {
      if (opts.signal?.aborted === true && isAbortError(err)) return;
      if (isNetworkError(err) || isAbortError(err)) {
        // A broken stream is an ordinary end for the caller: it re-watches from its last RV.
        this.log?.debug({ master, err: (err as Error).message }, 'watch stream broke');
        this.demote(master);
        return;
      }
      throw err;
    } finally {
      clearTimeout(deadline);
      res.destroy();
    }
  }

  // ---- raw requests with failover

  private async json<T>(method: string, path: string, body: string | undefined, contentType: string | undefined, signal?: AbortSignal): Promise<T> {
    const res = await this.request(method, path, body, contentType, signal);
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromResponse(res.statusCode, res.body);
    try {
      return JSON.parse(res.body) as T;
    } catch {
      throw new Error(`${method} ${path} on ${res.master}: the answer is not JSON: ${res.body.slice(0, 200)}`);
    }
  }

  /** Sends to the preferred apiserver, then the others, until one answers (any HTTP code but 503). */
  async request(method: string, path: string, body?: string, contentType?: string, signal?: AbortSignal): Promise<RawResponse> {
    const errors: Error[] = [];
    const n = this.masters.length;
    const startAt = this.preferred;
    let lastUnavailable: RawResponse | undefined;
    for (let k = 0; k < n; k++) {
      const idx = (startAt + k) % n;
      const master = this.masters[idx] as string;
      if (method !== 'GET') this.fence?.();
      signal?.throwIfAborted();
      try {
        const res = await this.sendOnce(master, method, path, body, contentType, signal);
        // 503: the apiserver is up but cannot serve (starting, store unreachable): try another.
        if (res.statusCode === 503 && k < n - 1) {
          lastUnavailable = res;
          errors.push(new Error(`${master}: 503 ${res.body.slice(0, 120)}`));
          continue;
        }
        this.preferred = idx;
        return res;
      } catch (err) {
        if (signal?.aborted === true) throw err;
        if (!isNetworkError(err)) throw err;
        errors.push(new Error(`${master}: ${(err as Error).message}`));
        this.log?.debug({ master, method, path, err: (err as Error).message }, 'apiserver unreachable, trying the next');
      }
    }
    if (lastUnavailable !== undefined) return lastUnavailable;
    throw new ConnectionError(`${method} ${path}: no apiserver reachable (${errors.map((e) => e.message).join('; ')})`, errors);
  }

  private sendOnce(master: string, method: string, path: string, body: string | undefined, contentType: string | undefined, signal?: AbortSignal): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
      const url = new URL(master + path);
      const headers: Record<string, string | number> = { Accept: 'application/json', 'User-Agent': this.userAgent };
      if (this.authorization !== undefined) headers.Authorization = this.authorization;
      if (body !== undefined) {
        headers['Content-Type'] = contentType ?? 'application/json';
        headers['Content-Length'] = Buffer.byteLength(body);
      }
      const req = this.send(url, { method, headers, agent: this.agent, signal }, (res) => {
        readBody(res).then(
          (text) => {
            clearTimeout(timer);
            resolve({ statusCode: res.statusCode ?? 0, body: text, master });
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err as Error);
          },
        );
      });
      const timer = setTimeout(() => req.destroy(new RequestTimeoutError(`${method} ${path}: no answer from ${master} within ${this.requestTimeoutMs} ms`)), this.requestTimeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(body);
    });
  }

  private openStream(path: string, signal?: AbortSignal): Promise<{ res: IncomingMessage; master: string }> {
    const tryOne = (master: string): Promise<{ res: IncomingMessage; master: string }> =>
      new Promise((resolve, reject) => {
        const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.userAgent };
        if (this.authorization !== undefined) headers.Authorization = this.authorization;
        const req = this.send(new URL(master + path), { method: 'GET', headers, agent: this.watchAgent, signal }, (res) => {
          clearTimeout(timer);
          resolve({ res, master });
        });
        const timer = setTimeout(() => req.destroy(new RequestTimeoutError(`watch ${path}: no answer from ${master} within ${this.requestTimeoutMs} ms`)), this.requestTimeoutMs);
        req.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        req.setSocketKeepAlive?.(true, 10_000);
        req.end();
      });
    return (async () => {
      const errors: Error[] = [];
      const n = this.masters.length;
      const startAt = this.preferred;
      for (let k = 0; k < n; k++) {
        const idx = (startAt + k) % n;
        const master = this.masters[idx] as string;
        try {
          const opened = await tryOne(master);
          if (opened.res.statusCode === 503 && k < n - 1) {
            opened.res.destroy();
            errors.push(new Error(`${master}: 503`));
            continue;
          }
          this.preferred = idx;
          return opened;
        } catch (err) {
          if (signal?.aborted === true) throw err;
          if (!isNetworkError(err)) throw err;
          errors.push(new Error(`${master}: ${(err as Error).message}`));
        }
      }
      throw new ConnectionError(`watch ${path}: no apiserver reachable (${errors.map((e) => e.message).join('; ')})`, errors);
    })();
  }

  private send(url: URL, options: RequestOptions, onResponse: (res: IncomingMessage) => void): ClientRequest {
    return this.tls ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
  }

  /** After a broken stream, prefer the next apiserver (the broken one may be gone). */
  private demote(master: string): void {
    if (this.masters.length > 1 && this.masters[this.preferred] === master) this.preferred = (this.preferred + 1) % this.masters.length;
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
  });
}
