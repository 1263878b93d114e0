// A watcher of one key or range that survives endpoint failures, as clientv3's Watch does: when
// the stream breaks with UNAVAILABLE it reopens on the next endpoint from the revision after the
// last one it delivered, so the events it hands over have no gaps and no repeats. Compaction of
// the needed revisions, or a cancel by the server, ends it with an error instead.

import { status as GrpcStatus } from "@grpc/grpc-js";

import { EtcdError } from "./client-errors.js";
import type { Event, Int64In, WatchCreateRequest, WatchFilterType, WatchResponse } from "./messages.js";
import type { WatchStream } from "./watch-stream.js";

export interface WatchKeyOptions {
  /** End of the range (exclusive); `prefixEnd(key)` watches a prefix, Buffer.from([0]) every key >= key. */
  rangeEnd?: Buffer;
  prevKv?: boolean;
  progressNotify?: boolean;
  filters?: WatchFilterType[];
  /** Called for responses without events (progress notifications), with the header revision. */
  onProgress?: (revision: string, response: WatchResponse) => void;
  /** Called with the response that cancels the watcher (compaction, or a cancel by the server). */
  onCanceled?: (response: WatchResponse) => void;
  /**
   * Whether a stream cut with "etcdserver: no leader" resumes on another endpoint (default true).
   * clientv3 with WithRequireLeader (etcdctl watch) ends the watch instead.
   */
  resumeOnNoLeader?: boolean;
}

/** What watchKey needs from the client: a fresh stream, and a way to move off a failing endpoint. */
export interface WatchStreamSource {
  watch(): WatchStream;
  rotateFrom(endpoint: string | undefined): void;
}

export interface KeyWatcher {
  /** Resolves once the first stream's watcher is created (events from then on are delivered). */
  readonly ready: Promise<void>;
  /** Resolves when the watcher stops: undefined after cancel(), else the error that ended it. */
  readonly closed: Promise<EtcdError | undefined>;
  /** The next revision the watcher waits for (the one after the last delivered event). */
  readonly nextRevision: string;
  /** Asks the member for a progress notification (delivered through onProgress). */
  requestProgress(): void;
  cancel(): void;
}

const resumeDelayMs = 100;
const noLeaderMessage = "etcdserver: no leader";

export function watchKey(
  source: WatchStreamSource,
  key: Buffer,
  fromRevision: Int64In,
  onEvents: (events: Event[], response: WatchResponse) => void,
  options: WatchKeyOptions = {},
): KeyWatcher {
  let nextRevision = BigInt(fromRevision);
  let canceled = false;
  let stream: WatchStream | undefined;
  let resolveReady!: () => void;
  let rejectReady!: (error: EtcdError) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => undefined); // the same error is reported through `closed`

  const run = async (): Promise<EtcdError | undefined> => {
    for (;;) {
      if (canceled) return undefined;
      const current = source.watch();
      stream = current;
      let fatal: EtcdError | undefined;
      current.on("response", (response) => {
        // The created response (refused or not) is handled where create() resolves.
        if (response.created) return;
        if (response.canceled) {
          fatal = canceledError(response);
          options.onCanceled?.(response);
          current.close();
          return;
        }
        const last = response.events.at(-1);
        if (last?.kv !== null && last?.kv !== undefined) {
          nextRevision = BigInt(last.kv.mod_revision) + 1n;
          onEvents(response.events, response);
        } else if (response.events.length === 0) {
          const headerRevision = BigInt(response.header.revision);
          if (headerRevision >= nextRevision) nextRevision = headerRevision + 1n;
          options.onProgress?.(response.header.revision, response);
        }
      });
      const request: WatchCreateRequest = {
        key,
        start_revision: nextRevision.toString(),
        prev_kv: options.prevKv ?? false,
        progress_notify: options.progressNotify ?? false,
        filters: options.filters ?? [],
      };
      if (options.rangeEnd !== undefined) request.range_end = options.rangeEnd;
      try {
        const created = await current.create(request);
        if (created.canceled) {
          options.onCanceled?.(created);
          return canceledError(created);
        }
        // Watching "from now": pin the revision so a resume neither skips nor repeats events.
        if (nextRevision === 0n) nextRevision = BigInt(created.header.revision) + 1n;
        resolveReady();
      } catch {
        // The stream's close reason below decides whether to resume.
      }
      const error = await current.closed;
      if (canceled) return undefined;
      if (fatal !== undefined) return fatal;
      if (error !== undefined && error.grpcCode !== GrpcStatus.UNAVAILABLE) return error;
      if (error?.message === noLeaderMessage && options.resumeOnNoLeader === false) return error;
      source.rotateFrom(current.endpoint);
      await new Promise((resolve) => setTimeout(resolve, resumeDelayMs));
    }
  };

  const closed = run().then((error) => {
    if (error !== undefined) rejectReady(error);
    else resolveReady();
    return error;
  });

  return {
    ready,
    closed,
    get nextRevision() {
      return nextRevision.toString();
    },
    requestProgress() {
      stream?.progress();
    },
    cancel() {
      canceled = true;
      stream?.close();
    },
  };
}

function canceledError(response: WatchResponse): EtcdError {
  if (response.compact_revision !== "0") {
    return new EtcdError(GrpcStatus.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted");
  }
  const reason = response.cancel_reason === "" ? "watch canceled by the server" : response.cancel_reason;
  return new EtcdError(GrpcStatus.CANCELLED, reason);
}
