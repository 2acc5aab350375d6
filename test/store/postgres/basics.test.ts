/** The store-contract part of test/store/sqlite.test.ts (meta, accounts, users, keys, last use), unchanged, against PostgreSQL. */
import { postgresSuite } from '../../helpers/storeFixtures.js';

await postgresSuite(() => import('../sqlite.test.js'));
