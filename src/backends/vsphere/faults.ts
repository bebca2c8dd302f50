/**
 * Typed vSphere errors, the way the AWS SDK types its service errors: a SOAP fault (or a task's error) becomes
 * a `VimFault` subclass named after the vim25 fault type, so callers test `err instanceof DuplicateName`
 * instead of matching strings. Transport failures (connection, HTTP 5xx without a fault, TLS pin mismatch)
 * have their own classes. Messages never carry request bodies, so a password sent to Login cannot leak.
 */

export class VimError extends Error {
  override name = 'VimError';
}

/** A vim25 fault: `faultType` is the xsi:type of the fault (e.g. `InvalidLogin`). */
export class VimFault extends VimError {
  override name = 'VimFault';
  readonly faultType: string;
  readonly op: string;
  constructor(faultType: string, op: string, message: string) {
    super(`${op}: ${faultType}${message ? `: ${message}` : ''}`);
    this.faultType = faultType;
    this.op = op;
  }
}

export class NotAuthenticated extends VimFault {
  override name = 'NotAuthenticated';
}
export class InvalidLogin extends VimFault {
  override name = 'InvalidLogin';
}
export class NoPermission extends VimFault {
  override name = 'NoPermission';
}
export class DuplicateName extends VimFault {
  override name = 'DuplicateName';
}
export class InvalidState extends VimFault {
  override name = 'InvalidState';
}
export class TaskInProgress extends VimFault {
  override name = 'TaskInProgress';
}
export class ManagedObjectNotFound extends VimFault {
  override name = 'ManagedObjectNotFound';
}
export class InsufficientResourcesFault extends VimFault {
  override name = 'InsufficientResourcesFault';
}
export class InvalidArgument extends VimFault {
  override name = 'InvalidArgument';
}
export class NotFound extends VimFault {
  override name = 'NotFound';
}
export class AlreadyExists extends VimFault {
  override name = 'AlreadyExists';
}
export class ResourceInUse extends VimFault {
  override name = 'ResourceInUse';
}
export class NotSupported extends VimFault {
  override name = 'NotSupported';
}

type FaultClass = new (faultType: string, op: string, message: string) => VimFault;

/** Fault types and their subtypes that callers treat alike (vim25's fault hierarchy, the parts we meet). */
const CLASSES: Record<string, FaultClass> = {
  NotAuthenticated,
  InvalidLogin,
  NoPermission,
  DuplicateName,
  InvalidState,
  InvalidPowerState: InvalidState,
  InvalidDatastoreState: InvalidState,
  InvalidHostState: InvalidState,
  TaskInProgress,
  ManagedObjectNotFound,
  InsufficientResourcesFault,
  InsufficientCpuResourcesFault: InsufficientResourcesFault,
  InsufficientMemoryResourcesFault: InsufficientResourcesFault,
  InsufficientStorageSpace: InsufficientResourcesFault,
  InsufficientHostCapacityFault: InsufficientResourcesFault,
  InvalidArgument,
  InvalidRequest: InvalidArgument,
  InvalidType: InvalidArgument,
  InvalidName: InvalidArgument,
  NotFound,
  ResourceInUse,
  AlreadyExists,
  NotSupported,
  NotImplemented: NotSupported,
};

export function vimFault(faultType: string, op: string, message: string): VimFault {
  const C = CLASSES[faultType] ?? VimFault;
  return new C(faultType, op, message);
}

/** No SOAP fault: the connection failed, timed out or the server answered 5xx. Safe calls retry these. */
export class VimTransportError extends VimError {
  override name = 'VimTransportError';
  readonly status?: number;
  readonly code?: string;
  constructor(message: string, opts: { status?: number; code?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.status = opts.status;
    this.code = opts.code;
  }
}

/** The server's certificate is not the pinned one (or not signed by the configured CA). Never retried. */
export class TlsVerificationError extends VimError {
  override name = 'TlsVerificationError';
}

/** A task ended in `error` without a fault we could read. */
export class TaskFailed extends VimError {
  override name = 'TaskFailed';
}
