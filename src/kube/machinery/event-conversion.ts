// core/v1 Event <-> events.k8s.io/v1 Event, as kube converts them (pkg/apis/events/v1/conversion.go
// over the generated field-by-field copies; k8s.io/api/events/v1/types.go for the JSON names).
// Renamed: involvedObject→regarding, message→note, source→deprecatedSource,
// firstTimestamp/lastTimestamp/count→deprecatedFirstTimestamp/deprecatedLastTimestamp/deprecatedCount,
// reportingComponent (core's JSON name)→reportingController. Copied as they are: metadata, eventTime,
// series, reportingInstance, action, reason, related, type. Anything else is dropped, as a typed
// decode would drop it.

import { isJsonObject, type JsonObject, type JsonValue } from './json.js';

export const eventsV1ApiVersion = 'events.k8s.io/v1';

/** [core JSON name, events.k8s.io/v1 JSON name]; equal names are plain copies. */
const fieldPairs: readonly (readonly [string, string])[] = [
  ['eventTime', 'eventTime'],
  ['series', 'series'],
  ['reportingComponent', 'reportingController'],
  ['reportingInstance', 'reportingInstance'],
  ['action', 'action'],
  ['reason', 'reason'],
  ['involvedObject', 'regarding'],
  ['related', 'related'],
  ['message', 'note'],
  ['type', 'type'],
  ['source', 'deprecatedSource'],
  ['firstTimestamp', 'deprecatedFirstTimestamp'],
  ['lastTimestamp', 'deprecatedLastTimestamp'],
  ['count', 'deprecatedCount'],
];

/** Go's omitempty for what these fields hold: "", 0, null and {} are left out. */
function isEmpty(value: JsonValue | undefined): boolean {
  return value === undefined || value === null || value === '' || value === 0 || (isJsonObject(value) && Object.keys(value).length === 0);
}

function copyMeta(obj: JsonObject): JsonObject {
  return isJsonObject(obj.metadata) ? { ...obj.metadata } : {};
}

/** A stored core/v1 Event as events.k8s.io/v1 shows it. */
export function coreEventToEventsV1(core: JsonObject): JsonObject {
  const out: JsonObject = { kind: 'Event', apiVersion: eventsV1ApiVersion, metadata: copyMeta(core) };
  for (const [from, to] of fieldPairs) {
    const value = core[from];
    if (!isEmpty(value)) out[to] = value as JsonValue;
  }
  // eventTime has no omitempty in the Go type (MicroTime zero → null), regarding is a struct.
  if (out.eventTime === undefined) out.eventTime = null;
  if (out.regarding === undefined) out.regarding = {};
  return out;
}

/** An events.k8s.io/v1 Event (a request body) in the stored core/v1 form. */
export function eventsV1ToCoreEvent(event: JsonObject): JsonObject {
  const out: JsonObject = { kind: 'Event', apiVersion: 'v1', metadata: copyMeta(event) };
  for (const [to, from] of fieldPairs) {
    const value = event[from];
    if (!isEmpty(value)) out[to] = value as JsonValue;
  }
  // core's involvedObject and source are structs (always present in kube's JSON).
  if (out.involvedObject === undefined) out.involvedObject = {};
  if (out.source === undefined) out.source = {};
  return out;
}

/**
 * Field labels events.k8s.io/v1 accepts in selectors → the core labels the stored objects are
 * matched on (AddFieldLabelConversionsForEvent in pkg/apis/events/v1/conversion.go). The core
 * spellings (involvedObject.*, reportingComponent) are not accepted through this API.
 */
export const eventsV1FieldLabels: Readonly<Record<string, string>> = {
  reason: 'reason',
  'regarding.kind': 'involvedObject.kind',
  'regarding.namespace': 'involvedObject.namespace',
  'regarding.name': 'involvedObject.name',
  'regarding.uid': 'involvedObject.uid',
  'regarding.apiVersion': 'involvedObject.apiVersion',
  'regarding.resourceVersion': 'involvedObject.resourceVersion',
  'regarding.fieldPath': 'involvedObject.fieldPath',
  reportingController: 'reportingComponent',
  source: 'source',
  type: 'type',
  'metadata.namespace': 'metadata.namespace',
  'metadata.name': 'metadata.name',
};
