// The peer transport's errors: values with stable codes, so callers and logs can match on them.

export enum TransportErrorCode {
  /** A peer URL that is not http(s)://host:port. */
  InvalidUrl = 'InvalidUrl',
  /** The peer server could not bind its URL (port taken, address not local, ...). */
  ListenFailed = 'ListenFailed',
  /** A message that cannot go on the wire, or a received one that does not decode to a valid one. */
  InvalidMessage = 'InvalidMessage',
  /** A batch from another cluster (etcd: "request cluster ID mismatch"). */
  ClusterIdMismatch = 'ClusterIdMismatch',
  /** A batch meant for a member that does not live at this URL. */
  MemberIdMismatch = 'MemberIdMismatch',
  /** The transport was used after close(), or listen() was called twice. */
  InvalidState = 'InvalidState',
}

export class TransportError extends Error {
  constructor(
    readonly code: TransportErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}
