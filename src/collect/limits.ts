/**
 * collect's defaults that the command line shows in --help: kept apart so
 * that `corepack --help` does not load the modules that use them.
 */

/** Per-file cap on an --attach file unless --attach-max says otherwise: logs and configuration, not data sets. */
export const DEFAULT_ATTACH_MAX_BYTES = 64 * 1024 * 1024;
