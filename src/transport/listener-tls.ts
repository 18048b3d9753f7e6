import type { TLSSocket, TlsOptions, Server as TlsServer } from 'node:tls';
import type { TlsListener } from '../config/schema.js';
import { readTlsFiles, secureContextOptions, type TlsConfig, type TlsFiles } from '../config/tls-files.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics/metrics.js';

/**
 * The TLS of the gateway's listeners (`listen.tls`, docs/tls.md). Every listener it
 * covers makes its server through `serve()`, so they all share one certificate, one
 * handshake timeout and one count of failed handshakes, and `reload()` (SIGHUP) gives
 * them all the files' new contents at once. Built from the config, it reads the files
 * at once: a bad one is a ConfigError naming its key, before anything listens.
 */
export class ListenerTls {
  private files: TlsFiles;
  private readonly servers = new Set<TlsServer>();

  constructor(
    private readonly config: TlsConfig,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {
    this.files = readTlsFiles(config);
  }

  /** This TLS for the listener `name`, or null when `listen.tls.plain` keeps it plain. */
  for(name: TlsListener): ListenerTls | null {
    return this.config.plain.includes(name) ? null : this;
  }

  /**
   * Makes a server with the TLS options (`make` adds its own: net, http) and adopts it:
   * a handshake that fails or times out closes its socket and is counted, and reload()
   * reaches it.
   */
  serve<S extends TlsServer>(make: (options: TlsOptions) => S): S {
    const server = make({
      ...secureContextOptions(this.files),
      // With a CA, a client without a certificate it signed is refused in the handshake.
      requestCert: this.files.ca !== null,
      rejectUnauthorized: this.files.ca !== null,
      handshakeTimeout: this.config.handshakeTimeoutMs,
    });
    const timeouts = this.metrics.tlsHandshakeErrors.child('timeout');
    const errors = this.metrics.tlsHandshakeErrors.child('error');
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const timedOut = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
      (timedOut ? timeouts : errors).inc();
      // One line per failed handshake would let anyone fill the log: debug only.
      this.log.debug(
        { err: err.message, code: err.code, remote: socket.remoteAddress },
        'tls handshake failed',
      );
      // Node closes the socket after a failed handshake (its alert flushed first), not after a timeout.
      if (timedOut) socket.destroy();
    });
    this.servers.add(server);
    return server;
  }

  /**
   * Re-reads the PEM files at the paths the gateway started with and gives every adopted
   * server the new context: new handshakes use it, open connections keep theirs. A file
   * that does not check (readTlsFiles) keeps the old context and logs why.
   */
  reload(): boolean {
    let files: TlsFiles;
    try {
      files = readTlsFiles(this.config);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'tls certificates not reloaded; the old ones stay');
      return false;
    }
    this.files = files;
    const context = secureContextOptions(files);
    for (const server of this.servers) server.setSecureContext(context);
    this.log.info({ cert: this.config.cert, listeners: this.servers.size }, 'tls certificates reloaded');
    return true;
  }
}
