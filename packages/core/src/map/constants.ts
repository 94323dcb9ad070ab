/**
 * Constants of the key-transparency map (docs/spec/directory.md §7).
 */

/**
 * The log entry type of a map root entry (directory.md §7.5). The log's registry (`@overt/log` ENTRY_TYPES) owns the
 * codes; core cannot import the log, so it repeats the code and the log's test checks that the two agree.
 */
export const MAP_ROOT_ENTRY_TYPE = 13;
