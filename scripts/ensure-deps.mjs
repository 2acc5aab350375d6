// Installs the npm packages when node_modules is missing or older than the lock file,
// so that `npm test` and `npm start` work on a fresh clone with no prior step.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const stamp = 'node_modules/.package-lock.json';
const lock = existsSync('package-lock.json') ? 'package-lock.json' : 'package.json';
const fresh = existsSync(stamp) && statSync(stamp).mtimeMs >= statSync(lock).mtimeMs;
if (!fresh) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = existsSync('package-lock.json') ? ['ci'] : ['install'];
  execFileSync(npm, [...args, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' });
}
