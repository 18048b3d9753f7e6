/**
 * Preloaded into the gateway process by `npm run soak` only (`node --expose-gc --import
 * ./scripts/soak-probe.ts src/cli.ts …`), so the gateway itself carries no soak code.
 * On {"type":"soak-gc"} over the IPC channel it runs a full GC and answers the process's
 * memory after it. Without --expose-gc or without an IPC channel it does nothing.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc === 'function' && typeof process.send === 'function') {
  process.on('message', (m: unknown) => {
    if ((m as { type?: string } | null)?.type !== 'soak-gc') return;
    gc();
    const { heapUsed, rss } = process.memoryUsage();
    process.send?.({ type: 'soak-heap', heapUsed, rss });
  });
  // The channel must not keep the gateway alive after its own shutdown.
  process.channel?.unref();
}
