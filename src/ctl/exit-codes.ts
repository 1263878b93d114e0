// etcdctl 3.4's exit codes (etcdctl/ctlv3/command/error.go); scripts branch on them.
export const ExitCode = {
  success: 0,
  error: 1,
  badConnection: 2,
  invalidInput: 3,
  badFeature: 4,
  interrupted: 5,
  io: 6,
  badArgs: 128,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A command's failure: printed as one `Error: <message>` line on stderr, then exit with `code`. */
export class CtlError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "CtlError";
  }
}

/** Ends the command with `code` and no further message (what was needed has been printed). */
export class CtlExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = "CtlExit";
  }
}

export function fail(code: number, message: string): never {
  throw new CtlError(code, message);
}
