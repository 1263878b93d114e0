// resource.Quantity strings ("100m", "1.5Gi", "2", "1e3", "500M") as numbers, the way the
// scheduler compares them: CPU in millicores and everything else in base units, rounded up as
// Quantity.MilliValue()/Value() round.

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|n|u|m|k|M|G|T|P|E)?$/;

export class QuantityError extends Error {}

/** The quantity's value in base units (e.g. "1500m" → 1.5, "1Ki" → 1024). */
export function parseQuantity(text: string): number {
  const m = QUANTITY.exec(text.trim());
  if (m === null) throw new QuantityError(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got "${text}")`);
  const mantissa = Number(m[1]);
  const suffix = m[2] ?? '';
  let scale: number;
  if (suffix in BINARY) scale = BINARY[suffix] as number;
  else if (suffix in DECIMAL) scale = DECIMAL[suffix] as number;
  else scale = 10 ** Number(suffix.slice(1));
  return mantissa * scale;
}

/** Rounded up to whole thousandths, as MilliValue (CPU: millicores). */
export function milliValue(text: string): number {
  return Math.ceil(parseQuantity(text) * 1000 - 1e-6);
}

/** Rounded up to a whole unit, as Value (memory: bytes; pods: count). */
export function unitValue(text: string): number {
  return Math.ceil(parseQuantity(text) - 1e-9);
}
