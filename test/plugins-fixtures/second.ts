import { makeTracer } from './tracer.js';

export default makeTracer('second');
