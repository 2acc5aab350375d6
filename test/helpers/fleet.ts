/** Gateways and scratch folders for one test file: whatever is still running is killed, and every folder removed, after the file. */
import { after } from 'node:test';
import { removeDir, startGateway, tempDir, type RunningGateway, type StartGatewayOptions } from './gateway.js';

export interface Fleet {
  /** A new scratch folder, removed after the file. */
  newDir(): string;
  start(opts?: StartGatewayOptions): Promise<RunningGateway>;
  /** SIGTERM, and the exit code. */
  stop(gw: RunningGateway): Promise<number | null>;
  kill9(gw: RunningGateway): Promise<void>;
  /** The test stops this gateway itself. */
  release(gw: RunningGateway): void;
}

export function gatewayFleet(prefix: string): Fleet {
  const dirs: string[] = [];
  const running = new Set<RunningGateway>();
  after(async () => {
    for (const gw of running) await gw.kill9();
    for (const d of dirs) removeDir(d);
  });
  return {
    newDir() {
      const d = tempDir(`portcullis-${prefix}-`);
      dirs.push(d);
      return d;
    },
    async start(opts) {
      const gw = await startGateway(opts);
      running.add(gw);
      return gw;
    },
    stop(gw) {
      running.delete(gw);
      return gw.stop();
    },
    kill9(gw) {
      running.delete(gw);
      return gw.kill9();
    },
    release(gw) {
      running.delete(gw);
    },
  };
}
