// Peer URLs (etcd's --listen-peer-urls / --initial-advertise-peer-urls, e.g. http://127.0.0.1:2380)
// to the host:port form grpc-js binds and dials.

import { TransportError, TransportErrorCode } from './transport-error.js';

/**
 * `http://host:port` or `https://host:port` → `host:port` (IPv6 hosts keep their brackets).
 * Anything else is refused: a peer URL without an explicit port is almost always a mistake (etcd's
 * default peer port is not implied by the scheme). Whether to dial with TLS: isSecurePeerUrl.
 */
export function peerUrlToTarget(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TransportError(TransportErrorCode.InvalidUrl, `invalid peer URL ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TransportError(
      TransportErrorCode.InvalidUrl,
      `peer URL ${url}: scheme ${parsed.protocol} is not supported (use http://host:port or https://host:port)`,
    );
  }
  // URL drops a port equal to the scheme's default, so an explicit ":80"/":443" must be read back.
  const port = parsed.port !== '' ? parsed.port : /^https?:\/\/[^/?#]*:(80|443)(?:[/?#]|$)/i.exec(url)?.[1] ?? '';
  if (port === '' || parsed.hostname === '') {
    throw new TransportError(TransportErrorCode.InvalidUrl, `peer URL ${url} must name a host and a port`);
  }
  if ((parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search !== '' || parsed.username !== '') {
    throw new TransportError(TransportErrorCode.InvalidUrl, `peer URL ${url} must be just http(s)://host:port`);
  }
  // URL keeps IPv6 hostnames bracketed ("[::1]"), which is the form grpc-js expects.
  return `${parsed.hostname}:${port}`;
}

/** Whether a (valid) peer URL is dialled with TLS. */
export function isSecurePeerUrl(url: string): boolean {
  return /^https:/i.test(url);
}

/**
 * Where to dial a peer URL: the URL itself, or its replacement in `overrides`. Tests put a TCP
 * proxy between each pair of members this way (one proxy per directed link) to cut links.
 */
export function dialUrl(url: string, overrides: ReadonlyMap<string, string> | undefined): string {
  const override = overrides?.get(url);
  if (override === undefined) return url;
  // The proxies forward TCP, so TLS to an https:// peer goes through them end to end.
  return isSecurePeerUrl(url) ? override.replace(/^http:/i, 'https:') : override;
}

/**
 * Parses a JSON object mapping peer URLs to the URLs to dial instead (e.g. the value of
 * KETCH_PEER_DIAL_OVERRIDES). Both sides must be valid peer URLs; anything else throws.
 */
export function parseDialOverrides(text: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new TransportError(TransportErrorCode.InvalidUrl, `peer dial overrides are not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TransportError(TransportErrorCode.InvalidUrl, 'peer dial overrides must be a JSON object {"peerURL": "dialURL", ...}');
  }
  const out = new Map<string, string>();
  for (const [from, to] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof to !== 'string') {
      throw new TransportError(TransportErrorCode.InvalidUrl, `peer dial override for ${from} must be a URL string`);
    }
    peerUrlToTarget(from);
    peerUrlToTarget(to);
    out.set(from, to);
  }
  return out;
}
