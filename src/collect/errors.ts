/** What can go wrong deciding what to collect. Exit codes and hints: src/cli/errors.ts. */

/**
 * -e names a different program than the one that crashed: its build ID is
 * not the one the core recorded, and it is not at the path the core names
 * (there, a different build ID would mean "replaced since the crash").
 */
export class WrongExecutableError extends Error {
  override readonly name = 'WrongExecutableError';
  constructor(
    /** The core file. */
    readonly core: string,
    /** What -e named. */
    readonly executable: string,
    readonly executableBuildId: string,
    /** The executable the core names, when it names one. */
    readonly coreExecutable: string | undefined,
    readonly coreBuildId: string,
  ) {
    super(
      `-e ${executable} is not the program that crashed: its build ID is ${executableBuildId}, but ${core} was dumped by ${coreExecutable ?? 'an executable'} with build ID ${coreBuildId}`,
    );
  }
}

/** --root names no usable directory. */
export class RootDirectoryError extends Error {
  override readonly name = 'RootDirectoryError';
  constructor(
    readonly root: string,
    readonly reason: 'missing' | 'not-a-directory',
    options?: ErrorOptions,
  ) {
    super(`--root ${root}: ${reason === 'missing' ? 'no such directory' : 'not a directory'}`, options);
  }
}
