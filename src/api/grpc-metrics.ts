// gRPC server metrics under go-grpc-prometheus' names, as etcd serves them:
// grpc_server_started_total, grpc_server_handled_total, grpc_server_msg_received_total and
// grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method[,grpc_code]}, and etcd's own
// etcd_server_client_requests_total{type,client_api_version} (the client-api-version metadata
// clientv3 sends; "unknown" without it). Handlers are wrapped once, when a service is added; each
// method's counts are plain numbers (handled: an array indexed by status code), so a call costs a
// few increments and no label map.

import { status as GrpcStatus, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { readCounter, type Registry, type Sample } from '../util/prometheus.js';

type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

const CODE_NAMES: readonly string[] = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss',
  'Unauthenticated',
];

interface MethodCounts {
  labels: { grpc_type: GrpcType; grpc_service: string; grpc_method: string };
  started: number;
  /** Index: gRPC status code. */
  handled: number[];
  msgReceived: number;
  msgSent: number;
}

/** etcd's rpctypes.MetadataClientAPIVersionKey. */
const clientApiVersionKey = 'client-api-version';

type UnaryCallback = (err: { code?: number } | null, ...rest: unknown[]) => void;
type Handler = (...args: unknown[]) => void;

export class GrpcServerMetrics {
  private readonly methods: MethodCounts[] = [];
  /** "unary|3.4" → calls (etcd_server_client_requests_total). */
  private readonly clientRequests = new Map<string, number>();

  constructor(registry: Registry) {
    const typeLabels = ['grpc_type', 'grpc_service', 'grpc_method'];
    readCounter(registry, { name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', labelNames: typeLabels }, () =>
      this.methods.map((m): Sample => [m.labels, m.started]),
    );
    readCounter(registry, { name: 'grpc_server_handled_total', help: 'Total number of RPCs completed on the server, regardless of success or failure.', labelNames: [...typeLabels, 'grpc_code'] }, () =>
      this.handledSamples(),
    );
    readCounter(registry, { name: 'grpc_server_msg_received_total', help: 'Total number of RPC stream messages received on the server.', labelNames: typeLabels }, () =>
      this.methods.map((m): Sample => [m.labels, m.msgReceived]),
    );
    readCounter(registry, { name: 'grpc_server_msg_sent_total', help: 'Total number of gRPC stream messages sent by the server.', labelNames: typeLabels }, () =>
      this.methods.map((m): Sample => [m.labels, m.msgSent]),
    );
    readCounter(registry, { name: 'etcd_server_client_requests_total', help: 'The total number of client requests per client version.', labelNames: ['type', 'client_api_version'] }, () =>
      [...this.clientRequests].map(([key, n]): Sample => {
        const bar = key.indexOf('|');
        return [{ type: key.slice(0, bar), client_api_version: key.slice(bar + 1) }, n];
      }),
    );
  }

  private countClient(type: 'unary' | 'stream', call: unknown): void {
    const values = (call as { metadata?: { get(key: string): unknown[] } }).metadata?.get(clientApiVersionKey) ?? [];
    const first = values[0];
    const version = typeof first === 'string' && first !== '' ? first : Buffer.isBuffer(first) ? first.toString('utf8') : 'unknown';
    const key = `${type}|${version}`;
    this.clientRequests.set(key, (this.clientRequests.get(key) ?? 0) + 1);
  }

  /** Calls served since start, by service and method (for tests and logs). */
  startedTotal(): number {
    return this.methods.reduce((n, m) => n + m.started, 0);
  }

  /** The implementation with every method counted. */
  instrument(def: ServiceDefinition, impl: UntypedServiceImplementation): UntypedServiceImplementation {
    const out: UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(def)) {
      const handler = (impl[name] ?? impl[method.originalName ?? '']) as Handler | undefined;
      if (handler === undefined) continue;
      const [, service = '', methodName = name] = /^\/([^/]+)\/([^/]+)$/.exec(method.path) ?? [];
      const type: GrpcType = method.requestStream ? (method.responseStream ? 'bidi_stream' : 'client_stream') : method.responseStream ? 'server_stream' : 'unary';
      const counts: MethodCounts = { labels: { grpc_type: type, grpc_service: service, grpc_method: methodName }, started: 0, handled: new Array<number>(CODE_NAMES.length).fill(0), msgReceived: 0, msgSent: 0 };
      this.methods.push(counts);
      const counted = type === 'unary' ? countUnary(counts, handler) : countStream(counts, handler, method.requestStream, method.responseStream);
      const kind = type === 'unary' ? 'unary' : 'stream';
      out[name] = (call: unknown, ...rest: unknown[]) => {
        this.countClient(kind, call);
        counted(call, ...rest);
      };
    }
    return out;
  }

  private *handledSamples(): Iterable<Sample> {
    for (const m of this.methods) {
      for (let code = 0; code < m.handled.length; code++) {
        const n = m.handled[code] as number;
        // Every method's OK series exists from the start, so rate() sees the first calls.
        if (n > 0 || code === GrpcStatus.OK) yield [{ ...m.labels, grpc_code: CODE_NAMES[code] as string }, n];
      }
    }
  }
}

function countUnary(m: MethodCounts, handler: Handler): Handler {
  return (call: unknown, callback: unknown) => {
    m.started++;
    m.msgReceived++;
    handler(call, ((err, ...rest) => {
      const code = err === null || err === undefined ? GrpcStatus.OK : (err.code ?? GrpcStatus.UNKNOWN);
      m.handled[code < CODE_NAMES.length ? code : GrpcStatus.UNKNOWN]++;
      if (code === GrpcStatus.OK) m.msgSent++;
      (callback as UnaryCallback)(err, ...rest);
    }) as UnaryCallback);
  };
}

/** A stream is handled when it closes: cancelled by the client, failed with a status, or OK. */
function countStream(m: MethodCounts, handler: Handler, requestStream: boolean, responseStream: boolean): Handler {
  return (call: unknown) => {
    m.started++;
    const emitter = call as NodeJS.EventEmitter;
    // Stream messages as go-grpc-prometheus counts them: each one read from and written to the call.
    // Counted where 'data' is emitted: a listener of our own would switch the stream to flowing
    // mode before the handler is ready to read.
    if (requestStream) {
      const emit = emitter.emit.bind(emitter);
      emitter.emit = (event: string | symbol, ...args: unknown[]): boolean => {
        if (event === 'data') m.msgReceived++;
        return emit(event, ...args);
      };
    } else {
      m.msgReceived++;
    }
    if (responseStream) {
      const writable = call as { write: (...args: unknown[]) => boolean };
      const write = writable.write.bind(call);
      writable.write = (...args: unknown[]) => {
        m.msgSent++;
        return write(...args);
      };
    }
    let code: number = GrpcStatus.OK;
    emitter.once('cancelled', () => (code = GrpcStatus.CANCELLED));
    emitter.once('error', (err: { code?: number }) => (code = err?.code ?? GrpcStatus.UNKNOWN));
    emitter.once('close', () => m.handled[code < CODE_NAMES.length ? code : GrpcStatus.UNKNOWN]++);
    handler(call);
  };
}
