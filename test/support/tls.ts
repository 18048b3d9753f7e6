/**
 * Certificates made at test time with Debian's `openssl` (none are committed), and a bare
 * TLS client with RawClient's interface. Everything is EC P-256: quick to generate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { RawPeer } from './raw-peer.js';

/** A certificate and its key, as PEM file paths. */
export interface Issued {
  cert: string;
  key: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A throw-away PKI in a temp dir: `ca` signs the servers (`127.0.0.1` and `localhost` in
 * their SANs) and the clients; `otherCa` is a second, unrelated CA.
 */
export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'gw-tls-'));
  readonly ca: Issued;
  readonly otherCa: Issued;

  constructor() {
    this.ca = this.authority('ca', 'gateway test CA');
    this.otherCa = this.authority('other-ca', 'unrelated CA');
  }

  private authority(name: string, cn: string): Issued {
    const issued = { cert: join(this.dir, `${name}.pem`), key: join(this.dir, `${name}.key`) };
    // biome-ignore format: one openssl command, its options in pairs
    openssl(this.dir, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', issued.key, '-out', issued.cert, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return issued;
  }

  /** A server certificate for 127.0.0.1 and localhost with common name `cn`, signed by `by`. */
  server(cn: string, by: Issued = this.ca): Issued {
    return this.leaf(cn, by, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  }

  /** A client certificate with common name `cn`, signed by `by`. */
  client(cn: string, by: Issued = this.ca): Issued {
    return this.leaf(cn, by, 'extendedKeyUsage=clientAuth\n');
  }

  /** A certificate for both ends of a node link (server and client), for 127.0.0.1, signed by `by`. */
  node(cn: string, by: Issued = this.ca): Issued {
    return this.leaf(cn, by, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  }

  private leaf(cn: string, by: Issued, extensions: string): Issued {
    const base = join(this.dir, cn);
    const issued = { cert: `${base}.pem`, key: `${base}.key` };
    writeFileSync(`${base}.ext`, extensions);
    // biome-ignore format: one openssl command, its options in pairs
    openssl(this.dir, [
      'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', issued.key, '-out', `${base}.csr`, '-subj', `/CN=${cn}`,
    ]);
    // biome-ignore format: one openssl command, its options in pairs
    openssl(this.dir, [
      'x509', '-req', '-in', `${base}.csr`, '-CA', by.cert, '-CAkey', by.key, '-set_serial',
      String(Date.now()), '-days', '2', '-out', issued.cert, '-extfile', `${base}.ext`,
    ]);
    return issued;
  }

  /** A file's text (to hand a PEM to a client). */
  read(path: string): string {
    return readFileSync(path, 'utf8');
  }
}

/** A bare TLS client: RawClient's interface over tls.connect (frames back to back). */
export class RawTlsClient extends RawPeer {
  private constructor(readonly socket: TLSSocket) {
    super();
    const decoder = new FrameDecoder(64 * 1024 * 1024, (type, status, cmd, seq, body) =>
      this.deliver({ type, flags: 0, status, cmd, seq, body: Buffer.from(body) }),
    );
    socket.on('data', (chunk) => decoder.push(chunk));
    socket.on('close', () => this.closedNow());
  }

  /**
   * Connects and resolves once HELLO is in; rejects with the error that ended the
   * connection before (a TLS 1.3 server judges a client certificate after the client's
   * side of the handshake is done, so its refusal arrives as an alert after
   * 'secureConnect').
   */
  static async connect(port: number, options: ConnectionOptions = {}): Promise<RawTlsClient> {
    const socket = connect({ host: '127.0.0.1', port, ...options });
    const client = new RawTlsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before HELLO')));
      client.readHello().then(resolve, reject);
    });
    socket.on('error', () => {});
    return client;
  }

  /** The common name of the certificate the gateway presented. */
  get peerName(): string {
    return String(this.socket.getPeerCertificate().subject.CN);
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}
