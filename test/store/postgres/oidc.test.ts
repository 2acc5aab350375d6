/** test/store/oidc.test.ts, unchanged, against a real PostgreSQL database. */
import { postgresSuite } from '../../helpers/storeFixtures.js';

await postgresSuite(() => import('../oidc.test.js'));
