// The codec alone, through the exact serializers grpc-js uses (no network): every message type
// round-trips field for field, and what the Raft core must never see is refused.

import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { describe, expect, it } from 'vitest';

import { EntryType, type Message, MessageType, message } from '../../src/raft/types.js';
import { peerUrlToTarget } from '../../src/transport/peer-url.js';
import { fromWireMessage, toWireMessage } from '../../src/transport/raft-codec.js';
import {
  ketchProtoDir,
  peerServiceDefinition,
  type WireMessage,
  type WireMessageBatch,
  type WireSnapshotMessage,
} from '../../src/transport/raft-proto.js';
import { TransportError, TransportErrorCode } from '../../src/transport/transport-error.js';
import { clusterId, everyType, ids } from './fixtures.js';

function method(name: 'Stream' | 'SendSnapshot') {
  const m = peerServiceDefinition()[name];
  if (m === undefined) throw new Error(`no ${name}`);
  return m;
}

function throughBatch(messages: readonly Message[]): Message[] {
  const { requestSerialize, requestDeserialize } = method('Stream');
  const batch: WireMessageBatch = { clusterId, from: ids.a, to: ids.b, messages: messages.map(toWireMessage) };
  const decoded = requestDeserialize(requestSerialize(batch)) as WireMessageBatch;
  expect(decoded).toMatchObject({ clusterId, from: ids.a, to: ids.b });
  return (decoded.messages ?? []).map(fromWireMessage);
}

function rawBatch(messages: WireMessage[]): WireMessage[] {
  const { requestSerialize, requestDeserialize } = method('Stream');
  const decoded = requestDeserialize(requestSerialize({ clusterId, from: ids.a, to: ids.b, messages })) as WireMessageBatch;
  return [...(decoded.messages ?? [])];
}

function invalidMessageError(f: () => unknown): TransportError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).code).toBe(TransportErrorCode.InvalidMessage);
    return err as TransportError;
  }
  throw new Error('expected an InvalidMessage error');
}

describe('raft codec', () => {
  it('round-trips every message type, field for field', () => {
    const sent = everyType(ids.a, ids.b, 1000);
    const received = throughBatch(sent);
    expect(received).toStrictEqual(sent);
  });

  it('round-trips a Snap message through the snapshot call encoding', () => {
    const snap = everyType(ids.a, ids.b, 7).find((m) => m.type === MessageType.Snap);
    if (snap === undefined) throw new Error('no Snap in fixture');
    const { requestSerialize, requestDeserialize } = method('SendSnapshot');
    const request: WireSnapshotMessage = { clusterId, from: ids.a, to: ids.b, message: toWireMessage(snap) };
    const decoded = requestDeserialize(requestSerialize(request)) as WireSnapshotMessage;
    if (decoded.message === undefined || decoded.message === null) throw new Error('no message decoded');
    expect(fromWireMessage(decoded.message)).toStrictEqual(snap);
  });

  it('decodes bytes as plain Uint8Array views, not Buffers', () => {
    const [m] = throughBatch([message({ type: MessageType.App, from: ids.a, to: ids.b, entries: [{ term: 1, index: 1, type: EntryType.Normal, data: Buffer.from('abc') }] })]);
    const data = m?.entries[0]?.data;
    expect(Object.getPrototypeOf(data)).toBe(Uint8Array.prototype);
    expect(Buffer.from(data ?? []).toString()).toBe('abc');
  });

  it('small messages stay small on the wire', () => {
    const heartbeat = message({ type: MessageType.Heartbeat, from: ids.a, to: ids.b, term: 12, commit: 34567 });
    const bytes = method('Stream').requestSerialize({ clusterId, from: ids.a, to: ids.b, messages: [toWireMessage(heartbeat)] });
    expect(bytes.length).toBeLessThan(120);
  });

  it('refuses terms and indexes that are not safe integers, on both sides', () => {
    // Decoding: a uint64 above 2^53 (protobufjs accepts a decimal string for it on encode).
    const [tooBig] = rawBatch([{ type: 3, from: ids.a, to: ids.b, term: '9007199254740993' as unknown as number }]);
    expect(invalidMessageError(() => fromWireMessage(tooBig as WireMessage)).message).toMatch(/term/);
    const [badEntry] = rawBatch([{ type: 3, from: ids.a, to: ids.b, entries: [{ index: '18446744073709551615' as unknown as number }] }]);
    expect(invalidMessageError(() => fromWireMessage(badEntry as WireMessage)).message).toMatch(/entry\.index/);

    // Encoding: the sender refuses rather than sending a rounded or negative number.
    invalidMessageError(() => toWireMessage(message({ type: MessageType.App, term: 2 ** 53 })));
    invalidMessageError(() => toWireMessage(message({ type: MessageType.App, index: -1 })));
    invalidMessageError(() => toWireMessage(message({ type: MessageType.App, commit: 1.5 })));
    invalidMessageError(() => toWireMessage(message({ type: 'Bogus' as MessageType })));
    invalidMessageError(() =>
      toWireMessage(message({ type: MessageType.App, entries: [{ term: 1, index: 1, type: 7 as EntryType, data: new Uint8Array() }] })),
    );
  });

  it('refuses unknown message and entry types', () => {
    const [unknownType] = rawBatch([{ type: 99, from: ids.a, to: ids.b }]);
    invalidMessageError(() => fromWireMessage(unknownType as WireMessage));
    const [unknownEntry] = rawBatch([{ type: 3, from: ids.a, to: ids.b, entries: [{ type: 5 }] }]);
    invalidMessageError(() => fromWireMessage(unknownEntry as WireMessage));
  });
});

describe('peer URLs', () => {
  it('turns http://host:port into host:port', () => {
    expect(peerUrlToTarget('http://127.0.0.1:2380')).toBe('127.0.0.1:2380');
    expect(peerUrlToTarget('http://[::1]:2380/')).toBe('[::1]:2380');
    expect(peerUrlToTarget('http://node-1.example:12380')).toBe('node-1.example:12380');
    expect(peerUrlToTarget('http://10.0.0.1:80')).toBe('10.0.0.1:80');
    expect(peerUrlToTarget('https://127.0.0.1:2380')).toBe('127.0.0.1:2380');
    expect(peerUrlToTarget('https://10.0.0.1:443')).toBe('10.0.0.1:443');
  });

  it('refuses what it cannot dial', () => {
    for (const url of ['https://127.0.0.1', 'http://127.0.0.1', '127.0.0.1:2380', 'unix:///tmp/x', 'http://h:1/path', '']) {
      expect(() => peerUrlToTarget(url), url).toThrow(TransportError);
    }
  });
});

describe('proto location', () => {
  it('finds proto/ketch from src/transport and from the compiled dist/src/transport', () => {
    const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const proto = join(repoRoot, 'proto');
    expect(ketchProtoDir(pathToFileURL(join(repoRoot, 'src', 'transport', 'raft-proto.ts')).href)).toBe(proto);
    expect(ketchProtoDir(pathToFileURL(join(repoRoot, 'dist', 'src', 'transport', 'raft-proto.js')).href)).toBe(proto);
    expect(() => ketchProtoDir(pathToFileURL('/nowhere/a/b/c.js').href)).toThrow(/not found/);
  });
});
