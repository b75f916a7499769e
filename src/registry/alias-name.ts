/** What an alias may be called: production, or a slot such as blue or green. */
export const ALIAS_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
/** Promotion targets that mark a version's status instead of moving an alias. */
export const RESERVED_TARGETS = new Set(['archived', 'active']);

/** A name a version can be put in as a blue/green slot (the console checks it before sending). */
export const isSlotName = (name: string): boolean => ALIAS_NAME.test(name) && !RESERVED_TARGETS.has(name) && name !== 'production';
