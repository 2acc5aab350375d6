import { Transform, type TransformCallback } from 'node:stream';
import type { BodyDecoder } from './chunked.js';

/** A Node stream Transform around a BodyDecoder: decoded bytes out, the first bad chunk an error. */
export function decoderStream(decoder: BodyDecoder): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      try {
        for (const piece of decoder.push(chunk)) this.push(piece);
        done();
      } catch (e) {
        done(e as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        for (const piece of decoder.end()) this.push(piece);
        done();
      } catch (e) {
        done(e as Error);
      }
    },
  });
}
