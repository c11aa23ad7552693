/**
 * Where a core was found, in what form, and the facts its store recorded
 * about the crash: one record shape for the input layer, which fills it
 * (src/input/origin.ts narrows the strings to the forms and stores it
 * knows), and for a bundle's manifest, which carries it as `origin` and
 * reads it back from untrusted JSON as plain strings (src/bundle/manifest.ts).
 */
export interface Origin<Form extends string = string, Store extends string = string, Compression extends string = string> {
  /** The file or directory as found (absolute). */
  path: string;
  form: Form;
  store: Store;
  /** How the core itself is compressed inside an apport report or ABRT directory. */
  compression: Compression | null;
  /** The store's own fields, as it wrote them (xattr names without user.coredump.). */
  metadata: Record<string, string>;
  /** Normalised from the metadata (null when the store does not say). */
  executable: string | null;
  pid: number | null;
  uid: number | null;
  signal: number | null;
  /** Crash time, ISO 8601. */
  time: string | null;
  cmdline: string | null;
}
