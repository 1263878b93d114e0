// Label selectors: the `?labelSelector=` string syntax and metav1.LabelSelector objects
// (matchLabels/matchExpressions) used by controllers. Grammar, semantics and error texts follow
// k8s.io/apimachinery pkg/labels/selector.go and pkg/apis/meta/v1/helpers.go: `!=` and `notin`
// also match objects without the label; requirements are kept sorted by key.
import { isJsonObject, type JsonValue } from './json.js';
import { isQualifiedName, isValidLabelValue } from './names.js';
import { badRequest, fieldErrorString, goQuote, invalidValue, type FieldError } from './status.js';

/** selection.Operator values, as kube spells them. */
export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

export type Labels = Readonly<Record<string, string>>;

export interface LabelSelector {
  readonly requirements: readonly LabelRequirement[];
  /** True for a selector that matches nothing (a nil metav1.LabelSelector). */
  readonly matchesNothing: boolean;
  matches(labels: Labels | undefined | null): boolean;
  /** No requirement: matches everything. */
  isEmpty(): boolean;
  /** kube's canonical text, e.g. "app=web,tier in (a,b)". */
  toString(): string;
}

function has(labels: Labels, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(labels, key);
}

function parseInt64(s: string): bigint | undefined {
  return /^[+-]?\d+$/.test(s) ? BigInt(s) : undefined;
}

export function requirementMatches(r: LabelRequirement, labels: Labels): boolean {
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has(labels, r.key) && r.values.includes(labels[r.key] ?? '');
    case 'notin':
    case '!=':
      return !has(labels, r.key) || !r.values.includes(labels[r.key] ?? '');
    case 'exists':
      return has(labels, r.key);
    case '!':
      return !has(labels, r.key);
    case 'gt':
    case 'lt': {
      if (!has(labels, r.key) || r.values.length !== 1) return false;
      const have = parseInt64(labels[r.key] ?? '');
      const want = parseInt64(r.values[0] ?? '');
      if (have === undefined || want === undefined) return false;
      return r.operator === 'gt' ? have > want : have < want;
    }
  }
}

function requirementString(r: LabelRequirement): string {
  let s = r.operator === '!' ? `!${r.key}` : r.key;
  switch (r.operator) {
    case 'exists':
    case '!':
      return s;
    case 'in':
    case 'notin':
      s += ` ${r.operator} (`;
      break;
    case 'gt':
      s += '>';
      break;
    case 'lt':
      s += '<';
      break;
    default:
      s += r.operator;
  }
  s += r.values.length === 1 ? (r.values[0] ?? '') : [...r.values].sort().join(',');
  if (r.operator === 'in' || r.operator === 'notin') s += ')';
  return s;
}

class Selector implements LabelSelector {
  constructor(
    readonly requirements: readonly LabelRequirement[],
    readonly matchesNothing = false,
  ) {}
  matches(labels: Labels | undefined | null): boolean {
    if (this.matchesNothing) return false;
    const l = labels ?? {};
    return this.requirements.every((r) => requirementMatches(r, l));
  }
  isEmpty(): boolean {
    return !this.matchesNothing && this.requirements.length === 0;
  }
  toString(): string {
    return this.matchesNothing ? '' : this.requirements.map(requirementString).join(',');
  }
}

export const everything: LabelSelector = new Selector([]);
export const nothing: LabelSelector = new Selector([], true);

function sortByKey(rs: LabelRequirement[]): LabelRequirement[] {
  // Stable, like Go's sort.Sort on ByKey for distinct keys; equal keys keep input order.
  return rs.map((r, i) => ({ r, i })).sort((a, b) => (a.r.key < b.r.key ? -1 : a.r.key > b.r.key ? 1 : a.i - b.i)).map((x) => x.r);
}

/**
 * labels.NewRequirement's checks: key syntax, value count per operator, value syntax. Field paths
 * are kube's ("key", "values[0]"); callers prefix them as needed.
 */
export function requirementErrors(key: string, operator: LabelOperator, values: readonly string[], path = ''): FieldError[] {
  const p = (child: string): string => (path === '' ? child : `${path}.${child}`);
  const errs: FieldError[] = [];
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length > 0) errs.push(invalidValue(p('key'), key, keyErrs.join('; ')));
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) errs.push(invalidValue(p('values'), values, "for 'in', 'notin' operators, values set can't be empty"));
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) errs.push(invalidValue(p('values'), values, 'exact-match compatibility requires one single value'));
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) errs.push(invalidValue(p('values'), values, 'values set must be empty for exists and does not exist'));
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) errs.push(invalidValue(p('values'), values, "for 'Gt', 'Lt' operators, exactly one value is required"));
      values.forEach((v, i) => {
        if (parseInt64(v) === undefined) errs.push(invalidValue(`${p('values')}[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
      });
      break;
  }
  values.forEach((v, i) => {
    const vErrs = isValidLabelValue(v);
    if (vErrs.length > 0) errs.push(invalidValue(`${p('values')}[${i}][${key}]`, v, vErrs.join('; ')));
  });
  return errs;
}

// ---- string syntax ---------------------------------------------------------------------------

type Tok =
  | 'end'
  | 'error'
  | ')'
  | ','
  | '!'
  | '=='
  | '='
  | '>'
  | 'in'
  | '<'
  | '!='
  | 'notin'
  | '('
  | 'id';

interface Token {
  tok: Tok;
  lit: string;
}

const SYMBOL_TOKENS: Readonly<Record<string, Tok>> = {
  ')': ')', ',': ',', '!': '!', '==': '==', '=': '=', '>': '>', '<': '<', '!=': '!=', '(': '(',
};

function isSpecial(ch: string): boolean {
  return ch === '=' || ch === '!' || ch === '(' || ch === ')' || ch === ',' || ch === '>' || ch === '<';
}

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

function lex(s: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && isSpace(s[pos] ?? '')) pos++;
    if (pos >= s.length) {
      out.push({ tok: 'end', lit: '' });
      return out;
    }
    const ch = s[pos] ?? '';
    if (isSpecial(ch)) {
      // Longest run of symbols that still forms a token ("!=" over "!", "==" over "=").
      let buf = '';
      let last: Token | undefined;
      while (pos < s.length && isSpecial(s[pos] ?? '')) {
        const next = buf + (s[pos] ?? '');
        const t = SYMBOL_TOKENS[next];
        if (t !== undefined) {
          buf = next;
          last = { tok: t, lit: next };
          pos++;
        } else if (last !== undefined) {
          break;
        } else {
          buf = next;
          pos++;
        }
      }
      out.push(last ?? { tok: 'error', lit: `error expected: keyword found '${buf}'` });
      continue;
    }
    let buf = '';
    while (pos < s.length && !isSpecial(s[pos] ?? '') && !isSpace(s[pos] ?? '')) buf += s[pos++];
    out.push({ tok: buf === 'in' ? 'in' : buf === 'notin' ? 'notin' : 'id', lit: buf });
  }
}

class ParseError extends Error {}

class Parser {
  private pos = 0;
  constructor(private readonly items: Token[]) {}

  /** In value context the keywords in/notin are plain identifiers. */
  private look(values: boolean): Token {
    const t = this.items[this.pos] ?? { tok: 'end', lit: '' };
    return values && (t.tok === 'in' || t.tok === 'notin') ? { tok: 'id', lit: t.lit } : t;
  }

  private take(values: boolean): Token {
    const t = this.look(values);
    this.pos = Math.min(this.pos + 1, this.items.length - 1);
    return t;
  }

  parse(): LabelRequirement[] {
    const reqs: LabelRequirement[] = [];
    for (;;) {
      const t = this.look(true);
      if (t.tok === 'id' || t.tok === '!') {
        let r: LabelRequirement;
        try {
          r = this.requirement();
        } catch (e) {
          throw new ParseError(`unable to parse requirement: ${(e as Error).message}`);
        }
        reqs.push(r);
        const after = this.take(true);
        if (after.tok === 'end') return reqs;
        if (after.tok === ',') {
          const n = this.look(true);
          if (n.tok !== 'id' && n.tok !== '!') throw new ParseError(`found '${n.lit}', expected: identifier after ','`);
          continue;
        }
        throw new ParseError(`found '${after.lit}', expected: ',' or 'end of string'`);
      }
      if (t.tok === 'end') return reqs;
      throw new ParseError(`found '${t.lit}', expected: !, identifier, or 'end of string'`);
    }
  }

  private requirement(): LabelRequirement {
    let t = this.take(true);
    let negated = false;
    if (t.tok === '!') {
      negated = true;
      t = this.take(true);
    }
    if (t.tok !== 'id') throw new Error(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const keyErrs = isQualifiedName(key);
    // A nil field path prints as "<nil>" in kube's message.
    if (keyErrs.length > 0) throw new Error(fieldErrorString(invalidValue('<nil>', key, keyErrs.join('; '))));
    const next = this.look(true).tok;
    // "!a=b" ends the requirement at "a"; the caller then trips over "=" as kube's parser does.
    if (negated || next === 'end' || next === ',') return this.checked(key, negated ? '!' : 'exists', []);
    const opTok = this.take(false);
    let op: LabelOperator;
    switch (opTok.tok) {
      case 'in': op = 'in'; break;
      case 'notin': op = 'notin'; break;
      case '=': op = '='; break;
      case '==': op = '=='; break;
      case '!=': op = '!='; break;
      case '>': op = 'gt'; break;
      case '<': op = 'lt'; break;
      default:
        throw new Error(`found '${opTok.lit}', expected: ${BINARY_OPERATORS}`);
    }
    const values = op === 'in' || op === 'notin' ? this.setValues() : this.exactValue();
    return this.checked(key, op, values);
  }

  private checked(key: string, op: LabelOperator, values: string[]): LabelRequirement {
    const errs = requirementErrors(key, op, values);
    if (errs.length > 0) {
      const msgs = [...new Set(errs.map(fieldErrorString))];
      throw new Error(msgs.length === 1 ? (msgs[0] ?? '') : `[${msgs.join(', ')}]`);
    }
    return { key, operator: op, values };
  }

  private setValues(): string[] {
    const open = this.take(true);
    if (open.tok !== '(') throw new Error(`found '${open.lit}' expected: '('`);
    const first = this.look(true);
    if (first.tok === ')') {
      this.take(true);
      return [''];
    }
    if (first.tok !== 'id' && first.tok !== ',') throw new Error(`found '${first.lit}', expected: ',', ')' or identifier`);
    const set = new Set<string>();
    for (;;) {
      const t = this.take(true);
      if (t.tok === 'id') {
        set.add(t.lit);
        const n = this.look(true);
        if (n.tok === ',') continue;
        if (n.tok === ')') break;
        throw new Error(`found '${n.lit}', expected: ',' or ')'`);
      } else if (t.tok === ',') {
        if (set.size === 0) set.add('');
        const n = this.look(true);
        if (n.tok === ')') {
          set.add('');
          break;
        }
        if (n.tok === ',') {
          this.take(true);
          set.add('');
        }
      } else {
        throw new Error(`found '${t.lit}', expected: ',', or identifier`);
      }
    }
    const close = this.take(true);
    if (close.tok !== ')') throw new Error(`found '${close.lit}', expected: ')'`);
    return [...set].sort();
  }

  private exactValue(): string[] {
    const n = this.look(true);
    if (n.tok === 'end' || n.tok === ',') return [''];
    const t = this.take(true);
    if (t.tok === 'id') return [t.lit];
    throw new Error(`found '${t.lit}', expected: identifier`);
  }
}

const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

/**
 * Parse `?labelSelector=`; throws a 400 BadRequest Status with kube's parser message.
 * The empty string selects everything.
 */
export function parseLabelSelector(text: string): LabelSelector {
  try {
    return new Selector(sortByKey(new Parser(lex(text)).parse()));
  } catch (e) {
    if (e instanceof ParseError) throw badRequest(e.message);
    throw e;
  }
}

/** Every label of the map must be present with that value (labels.SelectorFromSet). */
export function selectorFromSet(set: Labels): LabelSelector {
  const reqs = Object.keys(set).map((k): LabelRequirement => ({ key: k, operator: '=', values: [set[k] ?? ''] }));
  return new Selector(sortByKey(reqs));
}

const EXPRESSION_OPERATORS: Readonly<Record<string, LabelOperator>> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
};

/**
 * metav1.LabelSelectorAsSelector: undefined/null (a nil selector) matches nothing, `{}` matches
 * everything. Throws 400 BadRequest on a malformed selector (callers validating objects should
 * use `labelSelectorErrors` instead to get field causes).
 */
export function labelSelectorFromObject(sel: JsonValue | undefined): LabelSelector {
  if (sel === undefined || sel === null) return nothing;
  if (!isJsonObject(sel)) throw badRequest('label selector must be an object');
  const reqs: LabelRequirement[] = [];
  const ml = sel.matchLabels;
  if (ml !== undefined && ml !== null) {
    if (!isJsonObject(ml)) throw badRequest('matchLabels must be a map of strings');
    for (const [k, v] of Object.entries(ml)) {
      if (typeof v !== 'string') throw badRequest(`matchLabels[${k}] must be a string`);
      const errs = requirementErrors(k, '=', [v]);
      if (errs.length > 0) throw badRequest(errs.map(fieldErrorString).join(', '));
      reqs.push({ key: k, operator: '=', values: [v] });
    }
  }
  const me = sel.matchExpressions;
  if (me !== undefined && me !== null) {
    if (!Array.isArray(me)) throw badRequest('matchExpressions must be a list');
    for (const e of me) {
      if (!isJsonObject(e)) throw badRequest('matchExpressions entries must be objects');
      const opName = typeof e.operator === 'string' ? e.operator : '';
      const op = EXPRESSION_OPERATORS[opName];
      if (op === undefined) throw badRequest(`${goQuote(opName)} is not a valid label selector operator`);
      const key = typeof e.key === 'string' ? e.key : '';
      const values = Array.isArray(e.values) ? e.values.filter((v): v is string => typeof v === 'string') : [];
      const errs = requirementErrors(key, op, values);
      if (errs.length > 0) throw badRequest(errs.map(fieldErrorString).join(', '));
      reqs.push({ key, operator: op, values: op === 'in' || op === 'notin' ? [...new Set(values)].sort() : values });
    }
  }
  return new Selector(sortByKey(reqs));
}

/** metav1.FormatLabelSelector: the selector's text, "<none>" when empty, "<error>" when bad. */
export function formatLabelSelector(sel: JsonValue | undefined): string {
  try {
    const s = labelSelectorFromObject(sel).toString();
    return s === '' ? '<none>' : s;
  } catch {
    return '<error>';
  }
}

/**
 * Field errors for a metav1.LabelSelector in an object being validated
 * (apimachinery meta/v1/validation ValidateLabelSelector), with paths under `path`.
 */
export function labelSelectorErrors(sel: JsonValue | undefined, path: string): FieldError[] {
  if (sel === undefined || sel === null) return [];
  if (!isJsonObject(sel)) return [invalidValue(path, sel, 'must be an object')];
  const errs: FieldError[] = [];
  const ml = sel.matchLabels;
  if (isJsonObject(ml)) {
    for (const [k, v] of Object.entries(ml)) {
      const kErrs = isQualifiedName(k);
      if (kErrs.length > 0) errs.push(invalidValue(`${path}.matchLabels`, k, kErrs.join('; ')));
      const vErrs = typeof v === 'string' ? isValidLabelValue(v) : ['must be a string'];
      if (vErrs.length > 0) errs.push(invalidValue(`${path}.matchLabels`, v, vErrs.join('; ')));
    }
  }
  const me = sel.matchExpressions;
  if (Array.isArray(me)) {
    me.forEach((e, i) => {
      const p = `${path}.matchExpressions[${i}]`;
      if (!isJsonObject(e)) {
        errs.push(invalidValue(p, e, 'must be an object'));
        return;
      }
      const opName = typeof e.operator === 'string' ? e.operator : '';
      const values = Array.isArray(e.values) ? e.values : [];
      switch (opName) {
        case 'In':
        case 'NotIn':
          if (values.length === 0) errs.push({ type: 'FieldValueRequired', field: `${p}.values`, detail: 'must be specified when `operator` is \'In\' or \'NotIn\'' });
          break;
        case 'Exists':
        case 'DoesNotExist':
          if (values.length > 0) errs.push({ type: 'FieldValueForbidden', field: `${p}.values`, detail: 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'' });
          break;
        default:
          errs.push(invalidValue(`${p}.operator`, opName, 'not a valid selector operator'));
      }
      const key = typeof e.key === 'string' ? e.key : '';
      const kErrs = isQualifiedName(key);
      if (kErrs.length > 0) errs.push(invalidValue(`${p}.key`, key, kErrs.join('; ')));
    });
  }
  return errs;
}
