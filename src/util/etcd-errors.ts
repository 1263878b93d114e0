import { status as GrpcStatus } from '@grpc/grpc-js';

/**
 * etcd's gRPC errors, with the exact status codes and messages of etcd 3.4
 * (etcdserver/api/v3rpc/rpctypes/error.go): clients match on the message text, so these strings are
 * a contract.
 */
export class EtcdError extends Error {
  constructor(
    readonly grpcCode: GrpcStatus,
    message: string,
  ) {
    super(message);
    this.name = 'EtcdError';
  }
}

const e = (code: GrpcStatus, message: string): EtcdError => new EtcdError(code, message);

export const EtcdErrors = {
  emptyKey: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  keyNotFound: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key not found'),
  valueProvided: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  leaseProvided: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  tooManyOps: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  duplicateKey: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  compacted: e(GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  futureRev: e(GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  noSpace: e(GrpcStatus.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
  leaseNotFound: e(GrpcStatus.NOT_FOUND, 'etcdserver: requested lease not found'),
  leaseExist: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  leaseTTLTooLarge: e(GrpcStatus.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  memberExist: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  peerURLExist: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  memberNotEnoughStarted: e(
    GrpcStatus.FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ),
  memberBadURLs: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  memberNotFound: e(GrpcStatus.NOT_FOUND, 'etcdserver: member not found'),
  memberNotLearner: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  learnerNotReady: e(
    GrpcStatus.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ),
  tooManyLearners: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),
  requestTooLarge: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  noLeader: e(GrpcStatus.UNAVAILABLE, 'etcdserver: no leader'),
  notLeader: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: not leader'),
  leaderChanged: e(GrpcStatus.UNAVAILABLE, 'etcdserver: leader changed'),
  notCapable: e(GrpcStatus.UNAVAILABLE, 'etcdserver: not capable'),
  stopped: e(GrpcStatus.UNAVAILABLE, 'etcdserver: server stopped'),
  timeout: e(GrpcStatus.UNAVAILABLE, 'etcdserver: request timed out'),
  timeoutDueToLeaderFail: e(
    GrpcStatus.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to previous leader failure',
  ),
  unhealthy: e(GrpcStatus.UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  corrupt: e(GrpcStatus.DATA_LOSS, 'etcdserver: corrupt cluster'),
  badLeaderTransferee: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
  notSupportedForLearner: e(GrpcStatus.UNAVAILABLE, 'etcdserver: rpc not supported for learner'),
  permissionDenied: e(GrpcStatus.PERMISSION_DENIED, 'etcdserver: permission denied'),
  // Auth (etcd 3.4 rpctypes).
  rootUserNotExist: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  rootRoleNotExist: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  userAlreadyExist: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  userEmpty: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  userNotFound: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  roleAlreadyExist: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  roleNotFound: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  roleEmpty: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  authFailed: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
  roleNotGranted: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  permissionNotGranted: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  authNotEnabled: e(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  invalidAuthToken: e(GrpcStatus.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  invalidAuthMgmt: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  authOldRevision: e(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),
} as const;
