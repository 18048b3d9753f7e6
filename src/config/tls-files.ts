import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError } from './load.js';
import type { GatewayConfig } from './schema.js';

export type TlsConfig = NonNullable<GatewayConfig['listen']['tls']>;

/** The contents of the `listen.tls` PEM files, checked. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** Client certificates must chain to these; null: none are asked for. */
  ca: Buffer | null;
}

/**
 * Reads `listen.tls.cert`, `key` and `ca` (or those under `at`) and checks them as a TLS
 * endpoint would use them: each file readable and PEM of its kind, the key that of the
 * certificate, and OpenSSL accepting the three together. Throws a ConfigError naming the key at fault, so
 * a start (exit 2), check-config and a SIGHUP reload report the same thing.
 */
export function readTlsFiles(
  tls: Pick<TlsConfig, 'cert' | 'key' | 'ca'>,
  /** The config key the paths are under (`listen.tls`, `cluster.link.tls`), for the errors. */
  at = 'listen.tls',
): TlsFiles {
  const cert = readPem(`${at}.cert`, tls.cert, 'CERTIFICATE');
  const key = readPem(`${at}.key`, tls.key, 'PRIVATE KEY');
  const ca = tls.ca === null ? null : readPem(`${at}.ca`, tls.ca, 'CERTIFICATE');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
    if (ca !== null) new X509Certificate(ca);
  } catch (err) {
    throw new ConfigError(`${at}.cert: ${tls.cert} is not a readable certificate: ${(err as Error).message}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    // An encrypted key lands here too: the gateway takes no passphrase.
    throw new ConfigError(`${at}.key: ${tls.key} is not a usable private key: ${(err as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(`${at}.key: ${tls.key} is not the key of the certificate in ${tls.cert}`);
  }
  try {
    createSecureContext({ cert, key, ...(ca === null ? {} : { ca }) });
  } catch (err) {
    throw new ConfigError(`${at}.cert: OpenSSL refuses ${tls.cert} with its key: ${(err as Error).message}`);
  }
  return { cert, key, ca };
}

/** The files as Node's TLS takes them (a server's or a client's context), TLS 1.2 at least. */
export function secureContextOptions(files: TlsFiles): SecureContextOptions {
  const { cert, key, ca } = files;
  return { cert, key, ...(ca === null ? {} : { ca }), minVersion: 'TLSv1.2' };
}

/** `kind` is the end of the PEM label: `CERTIFICATE`, `PRIVATE KEY` (also matches `RSA PRIVATE KEY`, `EC PRIVATE KEY`). */
function readPem(key: string, path: string, kind: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(bytes.toString('latin1'))) {
    throw new ConfigError(`${key}: ${path} is not PEM (no "-----BEGIN ${kind}-----" line)`);
  }
  return bytes;
}
