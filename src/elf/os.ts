/**
 * The operating systems whose cores we tell apart. It lives in src/elf,
 * below the process model, because signal and auxv numbering depend on it.
 */
export type OsName = 'linux' | 'freebsd' | 'netbsd' | 'openbsd' | 'unknown';
