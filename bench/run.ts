import { benchSigv4 } from './sigv4.js';

await benchSigv4();
