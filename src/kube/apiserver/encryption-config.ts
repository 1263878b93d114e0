// kube-apiserver's --encryption-provider-config: an EncryptionConfiguration
// (apiserver.config.k8s.io/v1) naming, per resource, a list of providers. The first provider
// encrypts new writes; every provider may decrypt what it recognises by its prefix, so keys can be
// rotated and `identity` lets old plaintext be read. Values are stored in kube's own layout:
//   aescbc: "k8s:enc:aescbc:v1:<key name>:" + 16-byte IV + AES-CBC(PKCS#7) ciphertext
//   aesgcm: "k8s:enc:aesgcm:v1:<key name>:" + 12-byte nonce + AES-GCM ciphertext + 16-byte tag,
//           with the store key as additional authenticated data (a value cannot be moved to
//           another key).

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { parse as parseYaml } from 'yaml';

import { isJsonObject, type JsonValue } from '../machinery/json.js';

export class EncryptionConfigError extends Error {}

/** Turns stored bytes into plaintext and back for the keys of one resource. */
export interface ValueTransformer {
  /** Plaintext → what is stored. */
  toStorage(plain: Uint8Array, key: string): Uint8Array;
  /** Stored bytes → plaintext; throws when no provider recognises the value. */
  fromStorage(stored: Uint8Array, key: string): Uint8Array;
}

interface Provider {
  /** '' for identity. */
  readonly prefix: string;
  encrypt(plain: Uint8Array, key: string): Uint8Array;
  decrypt(body: Uint8Array, key: string): Uint8Array;
}

const encryptedMarker = Buffer.from('k8s:enc:');

function aescbc(name: string, secret: Buffer): Provider {
  const algorithm = `aes-${secret.length * 8}-cbc`;
  return {
    prefix: `k8s:enc:aescbc:v1:${name}:`,
    encrypt(plain) {
      const iv = randomBytes(16);
      const cipher = createCipheriv(algorithm, secret, iv);
      return Buffer.concat([iv, cipher.update(plain), cipher.final()]);
    },
    decrypt(body) {
      if (body.length < 16 || (body.length - 16) % 16 !== 0) throw new Error('the stored data is not a whole number of AES blocks');
      const decipher = createDecipheriv(algorithm, secret, body.subarray(0, 16));
      return Buffer.concat([decipher.update(body.subarray(16)), decipher.final()]);
    },
  };
}

function aesgcm(name: string, secret: Buffer): Provider {
  const algorithm = `aes-${secret.length * 8}-gcm` as 'aes-256-gcm';
  return {
    prefix: `k8s:enc:aesgcm:v1:${name}:`,
    encrypt(plain, key) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv(algorithm, secret, nonce);
      cipher.setAAD(Buffer.from(key));
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return Buffer.concat([nonce, body, cipher.getAuthTag()]);
    },
    decrypt(body, key) {
      if (body.length < 12 + 16) throw new Error('the stored data is too short for AES-GCM');
      const decipher = createDecipheriv(algorithm, secret, body.subarray(0, 12));
      decipher.setAAD(Buffer.from(key));
      decipher.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]);
    },
  };
}

const identity: Provider = {
  prefix: '',
  encrypt: (plain) => plain,
  decrypt: (body) => body,
};

class PrefixTransformer implements ValueTransformer {
  constructor(private readonly providers: readonly Provider[]) {}

  toStorage(plain: Uint8Array, key: string): Uint8Array {
    const writer = this.providers[0] as Provider;
    if (writer.prefix === '') return plain;
    return Buffer.concat([Buffer.from(writer.prefix), writer.encrypt(plain, key)]);
  }

  fromStorage(stored: Uint8Array, key: string): Uint8Array {
    const data = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
    if (!data.subarray(0, encryptedMarker.length).equals(encryptedMarker)) {
      if (this.providers.some((p) => p.prefix === '')) return stored;
      throw new Error(`${key}: the stored value is not encrypted and no identity provider is configured to read it`);
    }
    for (const provider of this.providers) {
      if (provider.prefix === '' || !data.subarray(0, provider.prefix.length).equals(Buffer.from(provider.prefix))) continue;
      try {
        return provider.decrypt(data.subarray(provider.prefix.length), key);
      } catch (error) {
        throw new Error(`${key}: cannot decrypt with ${provider.prefix.slice(0, -1)}: ${(error as Error).message}`);
      }
    }
    const head = data.subarray(0, 64).toString('latin1').split(':').slice(0, 5).join(':');
    throw new Error(`${key}: no configured provider matches the stored prefix ${head}: (is the key that wrote it still in --encryption-provider-config?)`);
  }
}

/** Which stored resources a transformer covers: "secrets", "deployments.apps", "*.apps", "*.*". */
export interface ResourceTransformer {
  readonly group: string;
  /** '*' for every resource of the group. */
  readonly resource: string;
  /** '*' for every group. */
  readonly anyGroup: boolean;
  readonly transformer: ValueTransformer;
}

function field(obj: JsonValue | undefined, name: string, where: string): JsonValue {
  if (!isJsonObject(obj) || obj[name] === undefined) throw new EncryptionConfigError(`${where}: '${name}' is required`);
  return obj[name] as JsonValue;
}

function keysOf(provider: JsonValue, kind: 'aescbc' | 'aesgcm', where: string): [string, Buffer][] {
  const keys = field(provider, 'keys', `${where}.${kind}`);
  if (!Array.isArray(keys) || keys.length === 0) throw new EncryptionConfigError(`${where}.${kind}.keys: at least one key is required`);
  return keys.map((k, i) => {
    const at = `${where}.${kind}.keys[${i}]`;
    const name = field(k, 'name', at);
    const secret = field(k, 'secret', at);
    if (typeof name !== 'string' || name === '' || name.includes(':')) throw new EncryptionConfigError(`${at}.name: must be a non-empty string without ':'`);
    if (typeof secret !== 'string') throw new EncryptionConfigError(`${at}.secret: must be base64 text`);
    const bytes = Buffer.from(secret, 'base64');
    const allowed = kind === 'aescbc' ? [32] : [16, 24, 32];
    if (!allowed.includes(bytes.length)) throw new EncryptionConfigError(`${at}.secret: secret is not of the expected length, got ${bytes.length}, expected one of ${JSON.stringify(allowed)}`);
    return [name, bytes];
  });
}

/** Parses the configuration text (YAML or JSON). */
export function parseEncryptionConfig(text: string, file = 'encryption config'): ResourceTransformer[] {
  let doc: JsonValue;
  try {
    doc = parseYaml(text) as JsonValue;
  } catch (error) {
    throw new EncryptionConfigError(`${file}: not valid YAML: ${(error as Error).message}`);
  }
  if (!isJsonObject(doc) || doc.kind !== 'EncryptionConfiguration' || (doc.apiVersion !== 'apiserver.config.k8s.io/v1' && doc.apiVersion !== 'apiserver.config.k8s.io/v1beta1')) {
    throw new EncryptionConfigError(`${file}: expected kind EncryptionConfiguration, apiVersion apiserver.config.k8s.io/v1`);
  }
  if (!Array.isArray(doc.resources) || doc.resources.length === 0) throw new EncryptionConfigError(`${file}: 'resources' must list at least one entry`);
  const out: ResourceTransformer[] = [];
  doc.resources.forEach((entry, i) => {
    const where = `${file}: resources[${i}]`;
    const names = field(entry, 'resources', where);
    const providers = field(entry, 'providers', where);
    if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) throw new EncryptionConfigError(`${where}.resources: must list resource names`);
    if (!Array.isArray(providers) || providers.length === 0) throw new EncryptionConfigError(`${where}.providers: at least one provider is required`);
    const list: Provider[] = providers.flatMap((p, j) => {
      const at = `${where}.providers[${j}]`;
      if (!isJsonObject(p) || Object.keys(p).length !== 1) throw new EncryptionConfigError(`${at}: exactly one provider type per entry`);
      const kind = Object.keys(p)[0] as string;
      switch (kind) {
        case 'identity':
          return [identity];
        case 'aescbc':
          return keysOf(p.aescbc as JsonValue, 'aescbc', at).map(([name, secret]) => aescbc(name, secret));
        case 'aesgcm':
          return keysOf(p.aesgcm as JsonValue, 'aesgcm', at).map(([name, secret]) => aesgcm(name, secret));
        default:
          throw new EncryptionConfigError(`${at}: provider ${kind} is not supported (identity, aescbc, aesgcm are)`);
      }
    });
    const transformer = new PrefixTransformer(list);
    for (const name of names as string[]) {
      const dot = name.indexOf('.');
      const resource = dot < 0 ? name : name.slice(0, dot);
      const group = dot < 0 ? '' : name.slice(dot + 1);
      out.push({ resource, group: group === '*' ? '' : group, anyGroup: group === '*', transformer });
    }
  });
  return out;
}

export function loadEncryptionConfig(path: string): ResourceTransformer[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new EncryptionConfigError(`cannot read --encryption-provider-config ${path}: ${(error as Error).message}`);
  }
  return parseEncryptionConfig(text, path);
}
