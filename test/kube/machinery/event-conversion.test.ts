// core/v1 Event <-> events.k8s.io/v1 Event: kube's field mapping both ways, and a round trip that
// keeps every field either form can hold.
import { describe, expect, it } from 'vitest';

import { coreEventToEventsV1, eventsV1ToCoreEvent } from '../../../src/kube/machinery/event-conversion.js';

const core = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'web.1', namespace: 'default', resourceVersion: '42', uid: 'u-1' },
  involvedObject: { kind: 'Pod', name: 'web', namespace: 'default', apiVersion: 'v1', uid: 'p-1', fieldPath: 'spec.containers{c}' },
  reason: 'BackOff',
  message: 'Back-off restarting failed container',
  source: { component: 'kubelet', host: 'node-1' },
  firstTimestamp: '2026-01-01T00:00:00Z',
  lastTimestamp: '2026-01-01T00:05:00Z',
  count: 7,
  type: 'Warning',
  eventTime: '2026-01-01T00:00:00.000001Z',
  series: { count: 7, lastObservedTime: '2026-01-01T00:05:00.000000Z' },
  action: 'Restarting',
  related: { kind: 'Node', name: 'node-1' },
  reportingComponent: 'kubelet',
  reportingInstance: 'node-1',
};

describe('event conversion', () => {
  it('renames core fields to events.k8s.io/v1 names (pkg/apis/events/v1/conversion.go)', () => {
    expect(coreEventToEventsV1(core)).toEqual({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: core.metadata,
      regarding: core.involvedObject,
      reason: 'BackOff',
      note: 'Back-off restarting failed container',
      deprecatedSource: { component: 'kubelet', host: 'node-1' },
      deprecatedFirstTimestamp: '2026-01-01T00:00:00Z',
      deprecatedLastTimestamp: '2026-01-01T00:05:00Z',
      deprecatedCount: 7,
      type: 'Warning',
      eventTime: '2026-01-01T00:00:00.000001Z',
      series: core.series,
      action: 'Restarting',
      related: core.related,
      reportingController: 'kubelet',
      reportingInstance: 'node-1',
    });
  });

  it('round-trips, and fills what Go always serialises (eventTime, regarding; involvedObject, source)', () => {
    expect(eventsV1ToCoreEvent(coreEventToEventsV1(core))).toEqual(core);
    const bare = coreEventToEventsV1({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'x' }, message: 'm', count: 0 });
    expect(bare).toEqual({ apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'x' }, note: 'm', eventTime: null, regarding: {} });
    expect(eventsV1ToCoreEvent({ apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'x' }, note: 'n', unknownField: 1 })).toEqual({
      apiVersion: 'v1', kind: 'Event', metadata: { name: 'x' }, message: 'n', involvedObject: {}, source: {},
    });
  });

  it('copies metadata rather than sharing it', () => {
    const v1 = coreEventToEventsV1(core);
    (v1.metadata as Record<string, unknown>).name = 'changed';
    expect(core.metadata.name).toBe('web.1');
  });
});
