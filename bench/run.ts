import { benchGateway } from './gateway.js';
import { benchIam } from './iam.js';
import { benchProxy } from './proxy.js';
import { benchSigv4 } from './sigv4.js';
import { benchSts } from './sts.js';
import { benchWorkers } from './workers.js';

const only = process.argv[2];
if (only === undefined || only === 'sigv4') await benchSigv4();
if (only === undefined || only === 'iam') await benchIam();
if (only === undefined || only === 'sts') await benchSts();
if (only === undefined || only === 'gateway') await benchGateway();
if (only === undefined || only === 'proxy') await benchProxy();
if (only === undefined || only === 'workers') await benchWorkers();
