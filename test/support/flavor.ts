// The database flavor the suites run against (DB_FLAVOR of the stack env: `make test` runs the
// flavor-sensitive suites on MariaDB and again on MySQL 9.7), for the few expectations that differ.
export type TestFlavor = 'mariadb' | 'mysql';

export const testFlavor = (): TestFlavor => (process.env.DB_FLAVOR === 'mysql' ? 'mysql' : 'mariadb');
export const onMysql = () => testFlavor() === 'mysql';
export const onMariaDb = () => testFlavor() === 'mariadb';

/** One transaction's GTID as the flavor writes it: MariaDB `d-s-n`, MySQL `uuid[:tag]:n`. */
export const gtidPattern = () =>
  onMysql() ? /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}(:[a-z_][a-z0-9_]*)?:\d+$/ : /^\d+-\d+-\d+$/;
