/**
 * The baseline: a bare undici Pool posting the same requests (same path, body and the
 * same SPEC §4 headers the gateway sends) to the same backend with the same concurrency. Prints its own CPU per request (process.cpuUsage, after a warm-up).
 * usage: undici-client.ts URL TOTAL CONCURRENCY CONNECTIONS
 */
import { Pool } from 'undici';

const [url, totalArg, concurrencyArg, connectionsArg] = process.argv.slice(2);
const pool = new Pool(url, { connections: Number(connectionsArg), keepAliveTimeout: 4_000 });
const body = Buffer.from('{"move":[1,2]}');

async function run(total: number, concurrency: number): Promise<void> {
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < total) {
      const seq = sent++;
      const res = await pool.request({
        method: 'POST',
        path: '/rpc/2001',
        headers: [
          'content-type',
          'application/octet-stream',
          'x-gateway-cmd',
          '2001',
          'x-gateway-seq',
          String(seq),
        ],
        body,
      });
      await res.body.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const total = Number(totalArg);
const concurrency = Number(concurrencyArg);
await run(Math.ceil(total / 10), concurrency);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await run(total, concurrency);
const cpu = process.cpuUsage(cpu0);
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(`${JSON.stringify({ requests: total, seconds, cpuMicros: cpu.user + cpu.system })}\n`);
await pool.close();
