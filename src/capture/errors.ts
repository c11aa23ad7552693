/** What can go wrong capturing a crash. Exit codes and hints: src/cli/errors.ts. */

/** The stream on standard input is not a core the handler can stream (not ELF, not in file order, cut short). */
export class CoreStreamError extends Error {
  override readonly name = 'CoreStreamError';
}

/** The handler's configuration file is unusable; `problems` names every error found. */
export class HandlerConfigError extends Error {
  override readonly name = 'HandlerConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`${file}: ${problems.join('; ')}`, options);
  }
}

/** install/uninstall/status cannot do what was asked (not root, another handler in place, nothing installed). */
export class HandlerInstallError extends Error {
  override readonly name = 'HandlerInstallError';
  constructor(
    message: string,
    readonly remedy?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A step of the handler ran past its deadline. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  constructor(
    readonly step: string,
    readonly ms: number,
  ) {
    super(`${step} took longer than ${ms} ms`);
  }
}
