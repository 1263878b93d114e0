// Where a command writes: stdout and stderr as functions, so the CLI can be driven in-process too.

export interface Output {
  out(text: string | Buffer): void;
  err(text: string): void;
  /** True when stdout is a terminal (snapshot save shows progress only then). */
  readonly isTTY: boolean;
}

export const processOutput: Output = {
  out: (text) => {
    process.stdout.write(text);
  },
  err: (text) => {
    process.stderr.write(text);
  },
  get isTTY() {
    return process.stderr.isTTY === true;
  },
};
