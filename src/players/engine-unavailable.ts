/**
 * Thrown by an engine call that needs shared state the engine cannot reach (the Redis
 * engine while Redis is down): group membership, player lookups. Pushes and kicks never
 * throw it; they answer what they could do (`dropped`, 0).
 */
export class EngineUnavailableError extends Error {
  override name = 'EngineUnavailableError';
  readonly code = 'engine_unavailable';
}
