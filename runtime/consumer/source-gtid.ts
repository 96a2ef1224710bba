// Moved to runtime/core/db (the api reads the source position too); kept for existing imports.
export { currentSourceGtid } from '../core/db/source-gtid.ts';
