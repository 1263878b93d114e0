// Go's time.ParseDuration, for --dial-timeout=2s and friends ("1m30s", "500ms", "1.5h").

const unitNanos: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Milliseconds in a Go duration string; throws Go's error text for bad input. */
export function parseGoDurationMs(text: string): number {
  const quoted = JSON.stringify(text);
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest.startsWith("-")) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw new Error(`time: invalid duration ${quoted}`);
  let totalNanos = 0;
  while (rest !== "") {
    const number = /^(\d*)(\.(\d*))?/.exec(rest);
    const whole = number?.[1] ?? "";
    const frac = number?.[3] ?? "";
    if (number === null || (whole === "" && frac === "")) throw new Error(`time: invalid duration ${quoted}`);
    rest = rest.slice(number[0].length);
    const unit = /^[^\d.]+/.exec(rest)?.[0];
    if (unit === undefined) throw new Error(`time: missing unit in duration ${quoted}`);
    const scale = unitNanos[unit];
    if (scale === undefined) throw new Error(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    rest = rest.slice(unit.length);
    totalNanos += Number(`${whole === "" ? "0" : whole}.${frac === "" ? "0" : frac}`) * scale;
  }
  return (sign * totalNanos) / 1e6;
}

/** A duration in ms as Go's flag default text prints it ("2s", "500ms", "1m0s"). */
export function formatGoDurationMs(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const restSeconds = seconds - minutes * 60;
  if (minutes < 60) return `${minutes}m${restSeconds}s`;
  return `${Math.floor(minutes / 60)}h${minutes % 60}m${restSeconds}s`;
}
