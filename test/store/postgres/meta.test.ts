/** test/store/meta.test.ts, unchanged, against a real PostgreSQL database. */
import { postgresSuite } from '../../helpers/storeFixtures.js';

await postgresSuite(() => import('../meta.test.js'));
