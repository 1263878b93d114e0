// kube-apiserver's --token-auth-file: a CSV file of static bearer tokens, one per line,
//   token,user,uid,"group1,group2"
// (groups optional). Malformed files stop the server at start, naming the line.

import { readFileSync } from 'node:fs';

import type { UserInfo } from './user-info.js';

export class TokenFileError extends Error {}

/** Splits one CSV record (RFC 4180 quoting; spaces after commas trimmed as kube's reader does). */
export function parseCsvRecord(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new TokenFileError('unterminated quoted field');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i];
        i++;
      }
      if (i < line.length && line[i] !== ',') throw new TokenFileError(`extraneous text after a quoted field: ${JSON.stringify(line.slice(i))}`);
    } else {
      const comma = line.indexOf(',', i);
      field = comma < 0 ? line.slice(i) : line.slice(i, comma);
      i = comma < 0 ? line.length : comma;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/** Token → user, from the file's text. */
export function parseTokenFile(text: string, file = 'token file'): Map<string, UserInfo> {
  const tokens = new Map<string, UserInfo>();
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '') return;
    let record: string[];
    try {
      record = parseCsvRecord(line);
    } catch (error) {
      throw new TokenFileError(`${file}: line ${index + 1}: ${(error as Error).message}`);
    }
    if (record.length < 3) throw new TokenFileError(`${file}: line ${index + 1}: must have at least 3 columns (token, user name, user uid), found ${record.length}`);
    const [token, name, uid, groups] = record as [string, string, string, string | undefined];
    if (token === '') throw new TokenFileError(`${file}: line ${index + 1}: empty token`);
    const groupList = groups === undefined ? [] : groups.split(',').map((g) => g.trim()).filter((g) => g !== '');
    tokens.set(token, { name, uid, groups: groupList });
  });
  return tokens;
}

export function loadTokenFile(path: string): Map<string, UserInfo> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TokenFileError(`cannot read --token-auth-file ${path}: ${(error as Error).message}`);
  }
  return parseTokenFile(text, path);
}
