// ?watch=1: a chunked stream of {"type","object"} lines, served from the watch cache (or, for a
// resourceVersion older than the cache holds, from a store watch of its own). Selectors turn
// modifications into ADDED/DELETED as objects enter and leave the selection, as kube's cacher does;
// bookmarks go out when asked for; a compacted resourceVersion is an ERROR event with 410.

import { randomInt } from 'node:crypto';

import type { JsonObject } from '../machinery/json.js';
import { apiVersionOf } from '../machinery/resources.js';
import { badRequest, gone, toStatus, tooLargeResourceVersion, type KubeStatusError } from '../machinery/status.js';
import { requestNamespace, type ApiContext, type ApiRequest } from './api-context.js';
import { negotiateOutput, type OutputFormat } from './negotiation.js';
import { parseResourceVersion, type ObjectFilter } from './object-store.js';
import { parseIncludeObject, renderObject, type IncludeObject } from './render.js';
import { isTrue } from './request-info.js';
import { selectionOf } from './rest-read.js';
import { StoreCompactedError } from './registry-store.js';
import type { CachedEvent, CacheWatch, CacheWatchSink } from './watch-cache.js';

/** A watcher this far behind (bytes queued in the socket) is cut off, like kube's slow watchers. */
const maxBufferedBytes = 32 * 1024 * 1024;
/** kube-apiserver's --min-request-timeout: watches end after 30-60 min unless timeoutSeconds says less. */
const defaultTimeoutSeconds = 1800;

interface EventMemo {
  object?: JsonObject;
  prev?: JsonObject | null;
  encoded: Map<string, string>;
}

export async function handleWatch(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const { info, query, res } = req;
  const format = negotiateOutput(req.http.headers.accept);
  const include = parseIncludeObject(query.get('includeObject'));
  const selection = selectionOf(req.view, query);
  const namespace = requestNamespace(req);
  const rvText = query.get('resourceVersion') ?? '';
  const match = query.get('resourceVersionMatch') ?? '';
  if (match !== '' && match !== 'NotOlderThan') throw badRequest(`resourceVersionMatch: Unsupported value: "${match}" for watch`);
  const sendInitialEvents = query.has('sendInitialEvents') ? isTrue(query.get('sendInitialEvents')) : rvText === '' || rvText === '0';
  const bookmarks = isTrue(query.get('allowWatchBookmarks'));
  const timeoutParam = query.get('timeoutSeconds');
  const timeoutSeconds = timeoutParam !== null && /^\d+$/.test(timeoutParam) && Number(timeoutParam) > 0 ? Number(timeoutParam) : defaultTimeoutSeconds + randomInt(defaultTimeoutSeconds);
  const exactName = selection.exactName !== undefined && selection.exactName !== '' && (!info.namespaced || (namespace !== undefined && namespace !== '')) ? selection.exactName : undefined;
  const keyPrefix = exactName !== undefined ? ctx.objects.key(info, namespace, exactName) : ctx.objects.listPrefix(info, namespace === '' ? undefined : namespace);

  await ctx.cache.whenReady();
  let startRevision: number;
  let initial: JsonObject[] = [];
  if (sendInitialEvents) {
    const page = await ctx.objects.listUnder(keyPrefix, { filter: selection.filter });
    initial = page.items;
    startRevision = Number(page.resourceVersion);
    if (rvText !== '' && rvText !== '0' && startRevision < parseResourceVersion(rvText)) startRevision = parseResourceVersion(rvText);
  } else {
    startRevision = parseResourceVersion(rvText);
  }

  res.writeHead(200, { 'Content-Type': format.encoding === 'yaml' ? 'application/yaml' : 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  const stream = new WatchStreamWriter(ctx, req, format, include, selection.filter, startRevision, bookmarks);
  for (const obj of initial) stream.writeObject('ADDED', obj);
  if (sendInitialEvents && bookmarks && query.has('sendInitialEvents')) {
    stream.writeBookmark(startRevision, { 'k8s.io/initial-events-end': 'true' });
  }

  if (!sendInitialEvents && startRevision > ctx.cache.revision) {
    // A revision the cache has not reached: wait briefly (progress notifications), as kube does.
    const reached = await ctx.cache.waitForRevision(startRevision, 3000);
    if (!reached) {
      stream.writeError(tooLargeResourceVersion(startRevision, ctx.cache.revision));
      stream.end();
      return;
    }
  }
  const cached = ctx.cache.watch(keyPrefix, startRevision, stream);
  if (cached !== undefined) {
    stream.attach(cached, timeoutSeconds, true);
    return;
  }
  // Older than the cache's window: a store watch of our own; the store says whether it is compacted.
  const direct = ctx.objects.store.watch(keyPrefix, startRevision + 1, {
    onEvents: (events) => {
      for (const event of events) {
        if (!stream.deliver({ revision: event.kv.modRevision, type: event.type, kv: event.kv, prevKv: event.prevKv })) {
          stream.terminate('watch client too slow');
          return;
        }
      }
    },
    onProgress: (revision) => stream.progress(revision),
    onError: (error) => {
      if (error instanceof StoreCompactedError) stream.writeError(gone(startRevision, error.compactRevision));
      stream.end();
    },
  });
  stream.attach({ cancel: () => direct.cancel() }, timeoutSeconds, false);
}

/** One client's watch stream: turns cache events into watch lines on the HTTP response. */
class WatchStreamWriter implements CacheWatchSink {
  private watch: CacheWatch | undefined;
  private timers: NodeJS.Timeout[] = [];
  private ended = false;
  /** The last revision this stream is complete up to. */
  private lastRevision: number;
  private useCacheRevision = false;
  private headersSent = false;

  constructor(
    private readonly ctx: ApiContext,
    private readonly req: ApiRequest,
    private readonly format: OutputFormat,
    private readonly include: IncludeObject,
    private readonly filter: ObjectFilter | undefined,
    startRevision: number,
    private readonly bookmarks: boolean,
  ) {
    this.lastRevision = startRevision;
    // The response's 'close' is the client going away (or the stream ending).
    req.res.once('close', () => this.end());
  }

  attach(watch: CacheWatch, timeoutSeconds: number, fromCache: boolean): void {
    if (this.ended) {
      watch.cancel();
      return;
    }
    this.watch = watch;
    this.useCacheRevision = fromCache;
    const timeout = setTimeout(() => this.end(), timeoutSeconds * 1000);
    this.timers.push(timeout);
    if (this.bookmarks) {
      const timer = setInterval(() => this.progress(this.useCacheRevision ? Math.max(this.ctx.cache.revision, this.lastRevision) : this.lastRevision), this.ctx.bookmarkIntervalMs);
      this.timers.push(timer);
    }
  }

  deliver(event: CachedEvent): boolean {
    if (this.ended) return false;
    if (event.revision > this.lastRevision) this.lastRevision = event.revision;
    const memo = memoOf(event, this.ctx);
    let type: 'ADDED' | 'MODIFIED' | 'DELETED';
    let which: 'object' | 'prev';
    if (event.type === 'delete') {
      if (memo.prev === null || memo.prev === undefined) return true;
      if (this.filter !== undefined && !this.filter(memo.prev)) return true;
      type = 'DELETED';
      which = 'prev';
    } else {
      const isNew = event.prevKv === undefined || event.kv.createRevision === event.kv.modRevision;
      const now = this.filter === undefined || this.filter(memo.object as JsonObject);
      const before = !isNew && memo.prev !== null && memo.prev !== undefined && (this.filter === undefined || this.filter(memo.prev));
      if (now && before) {
        type = 'MODIFIED';
        which = 'object';
      } else if (now) {
        type = 'ADDED';
        which = 'object';
      } else if (before) {
        type = 'DELETED';
        which = 'prev';
      } else {
        return true;
      }
    }
    // Table streams carry column definitions in their first event only, as kube's do.
    const noHeaders = this.format.kind === 'table' && this.headersSent;
    // The memo is shared by every watcher of the key, whichever version it addressed.
    const key = `${type}:${which}:${this.format.kind}:${this.format.metaVersion}:${this.include}:${noHeaders}:${apiVersionOf(this.req.view)}`;
    let line = memo.encoded.get(key);
    if (line === undefined) {
      const obj = which === 'object' ? (memo.object as JsonObject) : (memo.prev as JsonObject);
      line = `${JSON.stringify({ type, object: renderObject(this.req.view, obj, this.format, this.include, noHeaders) })}\n`;
      memo.encoded.set(key, line);
    }
    this.headersSent = true;
    this.req.res.write(line);
    return this.req.res.writableLength <= maxBufferedBytes;
  }

  progress(revision: number): void {
    if (revision > this.lastRevision) this.lastRevision = revision;
    if (this.bookmarks && !this.ended) this.writeBookmark(this.lastRevision);
  }

  writeObject(type: string, obj: JsonObject): void {
    const noHeaders = this.format.kind === 'table' && this.headersSent;
    this.headersSent = true;
    this.req.res.write(`${JSON.stringify({ type, object: renderObject(this.req.view, obj, this.format, this.include, noHeaders) })}\n`);
  }

  writeBookmark(revision: number, annotations?: Record<string, string>): void {
    const metadata: JsonObject = { resourceVersion: String(revision), creationTimestamp: null };
    if (annotations !== undefined) metadata.annotations = annotations;
    const object: JsonObject = { kind: this.req.view.kind, apiVersion: apiVersionOf(this.req.view), metadata };
    this.req.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
  }

  writeError(error: KubeStatusError): void {
    if (this.ended) return;
    this.req.res.write(`${JSON.stringify({ type: 'ERROR', object: toStatus(error) })}\n`);
  }

  terminate(reason: string): void {
    this.ctx.log.debug({ reason, resource: this.req.info.resource }, 'watch ended by the server');
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    this.watch?.cancel();
    if (!this.req.res.writableEnded) this.req.res.end();
  }
}

function memoOf(event: CachedEvent, ctx: ApiContext): EventMemo {
  let memo = event.memo as EventMemo | undefined;
  if (memo !== undefined) return memo;
  memo = { encoded: new Map() };
  if (event.type === 'put') memo.object = ctx.objects.decode(event.kv);
  // A deleted object is reported as it last was, at the revision of its deletion.
  memo.prev = event.prevKv === undefined ? null : ctx.objects.decode(event.prevKv, event.type === 'delete' ? event.revision : event.prevKv.modRevision);
  event.memo = memo;
  return memo;
}
