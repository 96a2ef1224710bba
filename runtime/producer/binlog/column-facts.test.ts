import { describe, expect, it } from 'vitest';
import {
  characterIndexes,
  fixCharsets,
  logicalTypes,
  needsFacts,
  parseFacts,
  type ZongjiTable,
} from './column-facts.ts';

/** A TableMap as zongji 0.9 builds it for (g GEOMETRY, t TEXT, l VARCHAR latin1, b BINARY(16), u UUID). */
function table(): ZongjiTable {
  return {
    columns: [
      { name: 'g', type: 255, metadata: { length_size: 4 }, charset: null },
      { name: 't', type: 252, metadata: { length_size: 2 }, charset: null }, // got g's binary slot
      { name: 'l', type: 15, metadata: { max_length: 10 }, charset: 'utf8mb4' }, // got t's
      { name: 'b', type: 254, metadata: { max_length: 16 }, charset: null },
      { name: 'u', type: 254, metadata: { max_length: 16 }, charset: null },
    ],
    columnSchemas: [
      { COLUMN_TYPE: 'geometry' },
      { COLUMN_TYPE: 'blob', CHARACTER_SET_NAME: null },
      { COLUMN_TYPE: 'varchar(2)', CHARACTER_SET_NAME: 'utf8mb4' },
      { COLUMN_TYPE: 'binary(16)', CHARACTER_SET_NAME: null },
      { COLUMN_TYPE: 'binary(16)', CHARACTER_SET_NAME: null },
    ],
  };
}

const facts = parseFacts([
  { name: 'g', dataType: 'geometry', charset: null },
  { name: 't', dataType: 'text', charset: 'utf8mb4' },
  { name: 'l', dataType: 'varchar', charset: 'latin1' },
  { name: 'b', dataType: 'binary', charset: 'binary' },
  { name: 'u', dataType: 'UUID', charset: null },
]);

describe('column facts', () => {
  it('are needed for GEOMETRY and BINARY(4)/(16) columns only', () => {
    expect(needsFacts(table())).toBe(true);
    expect(needsFacts({ columns: [{ name: 'a', type: 3 }] })).toBe(false);
    expect(
      needsFacts({ columns: [{ name: 'a', type: 254, metadata: { max_length: 8 }, charset: null }] }),
    ).toBe(false);
  });

  it('name UUID/INET columns whose width matches', () => {
    expect(logicalTypes(table(), facts)).toEqual(new Map([['u', 'uuid']]));
    const inet4 = parseFacts([{ name: 'u', dataType: 'inet4', charset: null }]);
    expect(logicalTypes(table(), inet4)).toEqual(new Map()); // 16 bytes is not an INET4
  });

  it('put back the charsets zongji shifted past a GEOMETRY column', () => {
    const t = table();
    fixCharsets(t, characterIndexes(t), facts);
    expect(t.columns.map((c) => c.charset)).toEqual([null, 'utf8mb4', 'latin1', null, null]);
    expect(t.columnSchemas?.map((s) => s.COLUMN_TYPE)).toEqual([
      'geometry',
      'blob',
      'varchar(10)',
      'binary(16)',
      'binary(16)',
    ]);
    expect(t.columnSchemas?.[1]?.CHARACTER_SET_NAME).toBe('utf8mb4');
  });
});
