/**
 * Oracles for the shared core corpus (../shared/corpus, see its README.md):
 * parsers for the text that elfutils 0.188 printed about each core, and a
 * helper that decompresses a corpus core into a temporary directory.
 *
 *   parseEuReadelf(text)   `eu-readelf -n <core>`: PRSTATUS, PRPSINFO,
 *                          SIGINFO, AUXV and the NT_FILE table.
 *   parseEuUnstrip(text)   `eu-unstrip -n --core <core>`: one line per module,
 *                          `START+SIZE BUILDID[@ADDR] FILE DEBUGFILE NAME`.
 *   readelfFromExpected()  the literal `readelf -n` output an elfutils test
 *                          script compares against, cut out of a
 *                          `<core>.expected.txt` (lines look like ` 593|   CORE ...`).
 *   unstripFromExpected()  the literal `unstrip -n` lines from the same.
 *
 * Corpus files are read where they are; nothing here copies them into the
 * repository.
 *
 * Two facts about elfutils 0.188 that the parsers rely on, both checked
 * against the corpus:
 * - The NT_FILE table's third column is the file offset in BYTES (the note
 *   stores pages; eu-readelf multiplies by the note's page size). Proof:
 *   pyelftools' core_linux32.elf test asserts page offsets 0x1d5, 0x1d7 where
 *   eu-readelf prints 001d5000, 001d7000 (page size 4096). Older elfutils
 *   printed pages; `offsetUnit: 'pages'` is there for such output.
 * - Registers are printed either in decimal (signed, so a full-width register
 *   can come out negative) or as 0x-prefixed, zero-padded hex. The padded
 *   width of the widest hex value in a PRSTATUS note gives the register width,
 *   which turns negative decimals back into the unsigned register contents.
 */
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';

// ---------------------------------------------------------------------------
// Where the corpus is
// ---------------------------------------------------------------------------

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Absolute path of ../shared/corpus (relative to the project root), or undefined when it is absent. */
export function corpusDir(): string | undefined {
  const dir = path.resolve(PROJECT_ROOT, '..', 'shared', 'corpus');
  return existsSync(path.join(dir, 'MANIFEST.tsv')) ? dir : undefined;
}

/** One row of MANIFEST.tsv. */
export interface ManifestEntry {
  /** e.g. "elfutils/test-core.core": the core is `<localPath>.gz`, oracles are `<localPath>.<kind>.txt`. */
  localPath: string;
  /** The last path component, used as the core's name in tests. */
  name: string;
  sourceRepo: string;
  os: string;
  arch: string;
  elfClass: number;
  endian: string;
  sizeBytes: number;
  phnum: number;
  pnXnum: boolean;
  expectedFrom: string;
  noteSummary: string;
}

export function readManifest(dir: string): ManifestEntry[] {
  const lines = readFileSync(path.join(dir, 'MANIFEST.tsv'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]!.split('\t');
  const col = (row: string[], name: string): string => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`MANIFEST.tsv has no column ${name}`);
    return row[i] ?? '';
  };
  return lines.slice(1).map((line) => {
    const row = line.split('\t');
    const localPath = col(row, 'local_path');
    return {
      localPath,
      name: path.posix.basename(localPath),
      sourceRepo: col(row, 'source_repo'),
      os: col(row, 'os'),
      arch: col(row, 'arch'),
      elfClass: Number(col(row, 'class')),
      endian: col(row, 'endian'),
      sizeBytes: Number(col(row, 'size_bytes')),
      phnum: Number(col(row, 'phnum')),
      pnXnum: col(row, 'pn_xnum') === 'True',
      expectedFrom: col(row, 'expected_from'),
      noteSummary: col(row, 'note_summary'),
    };
  });
}

/** Reads `<localPath>.<kind>.txt` next to the core, or undefined when there is none. */
export function readOracleText(dir: string, localPath: string, kind: string): string | undefined {
  const file = path.join(dir, `${localPath}.${kind}.txt`);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

// ---------------------------------------------------------------------------
// Decompressing cores (once per test run)
// ---------------------------------------------------------------------------

let tempDir: Promise<string> | undefined;
const unpacked = new Map<string, Promise<string>>();

/**
 * Gunzips `<corpus>/<localPath>.gz` into a temporary directory and returns
 * the path of the decompressed core. Each core is decompressed once per test
 * run (per worker); call removeCorpusTemp() from afterAll to clean up.
 */
export function corpusCore(localPath: string, dir: string | undefined = corpusDir()): Promise<string> {
  if (!dir) return Promise.reject(new Error('the corpus is absent'));
  let p = unpacked.get(localPath);
  if (!p) {
    p = (async () => {
      tempDir ??= fs.mkdtemp(path.join(os.tmpdir(), 'corepack-corpus-'));
      const out = path.join(await tempDir, localPath.replace(/\//g, '__'));
      await pipeline(createReadStream(path.join(dir, `${localPath}.gz`)), createGunzip(), createWriteStream(out));
      return out;
    })();
    unpacked.set(localPath, p);
  }
  return p;
}

/** Deletes every core corpusCore() decompressed in this process. */
export async function removeCorpusTemp(): Promise<void> {
  const dir = tempDir;
  tempDir = undefined;
  unpacked.clear();
  if (dir) await fs.rm(await dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// eu-readelf -n
// ---------------------------------------------------------------------------

/** One note as eu-readelf lists it: header line plus its indented body. */
export interface ReadelfNote {
  owner: string;
  dataSize: number;
  /** "PRSTATUS", "FILE", "<unknown>: 33", ... */
  type: string;
  /** The body lines, leading indentation removed. */
  body: string[];
}

export interface PrStatusOracle {
  siSigno: number | undefined;
  cursig: number | undefined;
  pid: number | undefined;
  ppid: number | undefined;
  /**
   * Register values by eu-readelf's names (rip, pc, nip, pswa, fs.base, ...),
   * as unsigned values of `regBits` bits. Empty when eu-readelf does not
   * decode this architecture's PRSTATUS (MIPS in 0.188).
   */
  registers: Map<string, bigint>;
  /** Register width inferred from the widest zero-padded hex value; undefined without registers. */
  regBits: number | undefined;
  /**
   * How many low bits of each register eu-readelf shows: the padded hex width
   * (x86 segment registers are shown as 16-bit "cs: 0x0033" although their
   * slot is a full word), or regBits for decimal values.
   */
  registerBits: Map<string, number>;
}

export interface PrPsInfoOracle {
  state: number | undefined;
  sname: string | undefined;
  uid: number | undefined;
  gid: number | undefined;
  pid: number | undefined;
  ppid: number | undefined;
  fname: string | undefined;
  /** As printed, including the kernel's trailing space. */
  psargs: string | undefined;
}

export interface SigInfoOracle {
  signo: number;
  /** As printed. NB: eu-readelf 0.188 does not swap si_code/si_errno for MIPS. */
  errno: number;
  code: number;
  /** Printed only for SIGILL/SIGFPE/SIGSEGV/SIGBUS with si_code > 0. */
  faultAddress: bigint | undefined;
  /** Printed only for si_code == SI_USER (0). */
  senderPid: number | undefined;
  senderUid: number | undefined;
}

export interface NtFileOracle {
  start: bigint;
  end: bigint;
  /** File offset in bytes (see offsetUnit). */
  offset: bigint;
  /** The size column (end - start, printed signed). */
  size: bigint;
  /** As printed, " (deleted)" included. */
  path: string;
}

export interface ReadelfOracle {
  notes: ReadelfNote[];
  /** CORE/PRSTATUS notes in file order (the first is the thread that took the signal). */
  prstatus: PrStatusOracle[];
  prpsinfo: PrPsInfoOracle | undefined;
  siginfo: SigInfoOracle[];
  /** AUXV entries by eu-readelf's name without AT_ (PAGESZ, PHDR, ...). */
  auxv: Map<string, bigint>;
  /** The NT_FILE table; undefined when the core has no CORE/FILE note. */
  files: NtFileOracle[] | undefined;
  /** Declared entry count of the NT_FILE note ("N files:"). */
  fileCount: number | undefined;
  /** NetBSD: the LWP ids of the per-LWP notes ("NetBSD-CORE@<lwp>"), in order of first appearance. */
  netbsdLwps: number[];
}

export interface ReadelfOptions {
  /** Unit of the NT_FILE offset column: 'bytes' for elfutils 0.188 (the corpus), 'pages' for older releases. */
  offsetUnit?: 'bytes' | 'pages';
}

const NOTE_HEADER = /^ {2}(\S+)\s+(\d+)\s+(\S.*?)\s*$/;

function splitNotes(text: string): ReadelfNote[] {
  const notes: ReadelfNote[] = [];
  let cur: ReadelfNote | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('Note segment') || line.startsWith('Note section') || /^ {2}Owner\s+Data size/.test(line)) {
      cur = undefined;
      continue;
    }
    // Body lines are indented by four or more spaces; note headers by exactly two.
    if (!line.startsWith('   ')) {
      const m = NOTE_HEADER.exec(line);
      if (m) {
        cur = { owner: m[1]!, dataSize: Number(m[2]), type: m[3]!, body: [] };
        notes.push(cur);
        continue;
      }
      if (line.trim() === '') continue;
      cur = undefined;
      continue;
    }
    if (cur) cur.body.push(line.replace(/^\s+/, ''));
  }
  return notes;
}

/** `name: value` pairs on a line; value is a decimal (maybe negative) or 0x hex. */
function pairs(line: string): Array<{ name: string; text: string }> {
  const out: Array<{ name: string; text: string }> = [];
  const re = /([A-Za-z_][\w.]*):\s+(-?\d+|0x[0-9a-fA-F]+)\b/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push({ name: m[1]!, text: m[2]! });
  return out;
}

function num(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Number(big(text));
}

function big(text: string): bigint {
  return text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text);
}

function field(lines: string[], name: string): string | undefined {
  for (const l of lines) for (const p of pairs(l)) if (p.name === name) return p.text;
  return undefined;
}

function parsePrStatus(body: string[]): PrStatusOracle {
  const st: PrStatusOracle = {
    siSigno: num(field(body, 'info.si_signo')),
    cursig: num(field(body, 'cursig')),
    pid: num(field(body, 'pid')),
    ppid: num(field(body, 'ppid')),
    registers: new Map(),
    regBits: undefined,
    registerBits: new Map(),
  };
  // Registers follow the times line; "orig_rax: -1, fpvalid: 1" and the like
  // share the first register line.
  const times = body.findIndex((l) => l.startsWith('utime:'));
  if (times < 0) return st;
  const raw: Array<{ name: string; text: string }> = [];
  for (const l of body.slice(times + 1)) raw.push(...pairs(l).filter((p) => p.name !== 'fpvalid'));
  let hexDigits = 0;
  for (const r of raw) if (r.text.startsWith('0x')) hexDigits = Math.max(hexDigits, r.text.length - 2);
  const bits = hexDigits > 8 ? 64 : hexDigits > 0 ? 32 : undefined;
  st.regBits = raw.length > 0 ? bits : undefined;
  for (const r of raw) {
    const v = big(r.text);
    st.registers.set(r.name, v < 0n && bits ? BigInt.asUintN(bits, v) : v);
    const shown = r.text.startsWith('0x') ? (r.text.length - 2) * 4 : bits;
    if (shown !== undefined) st.registerBits.set(r.name, shown);
  }
  return st;
}

function parsePrPsInfo(body: string[]): PrPsInfoOracle {
  // "fname: a.out, psargs: ./a.out " on one line, or on two lines when they are long.
  const names = body.map((l) => /^fname: (.*?)(?:, psargs: (.*))?$/.exec(l)).find(Boolean);
  const args = body.map((l) => /^psargs: (.*)$/.exec(l)).find(Boolean);
  const sname = body.map((l) => /\bsname: (\S)/.exec(l)).find(Boolean)?.[1];
  return {
    state: num(field(body, 'state')),
    sname,
    uid: num(field(body, 'uid')),
    gid: num(field(body, 'gid')),
    pid: num(field(body, 'pid')),
    ppid: num(field(body, 'ppid')),
    fname: names?.[1],
    psargs: names?.[2] ?? args?.[1],
  };
}

function parseSigInfo(body: string[]): SigInfoOracle {
  const fault = body.map((l) => /^fault address: (0x[0-9a-fA-F]+|\d+)/.exec(l)).find(Boolean);
  const sender = body.map((l) => /^sender PID: (-?\d+), sender UID: (-?\d+)/.exec(l)).find(Boolean);
  return {
    signo: num(field(body, 'si_signo')) ?? NaN,
    errno: num(field(body, 'si_errno')) ?? NaN,
    code: num(field(body, 'si_code')) ?? NaN,
    faultAddress: fault ? BigInt(fault[1]!) : undefined,
    senderPid: sender ? Number(sender[1]) : undefined,
    senderUid: sender ? Number(sender[2]) : undefined,
  };
}

function parseAuxv(body: string[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const l of body) {
    const m = /^([A-Z_0-9]+): (0x[0-9a-fA-F]+|-?\d+)/.exec(l);
    if (m) out.set(m[1]!, big(m[2]!));
  }
  return out;
}

const FILE_LINE = /^([0-9a-fA-F]+)-([0-9a-fA-F]+) ([0-9a-fA-F]+) (-?\d+)(?:\s+(.*))?$/;

function parseFiles(body: string[], pageSize: bigint, unit: 'bytes' | 'pages'): { count: number | undefined; files: NtFileOracle[] } {
  let count: number | undefined;
  const files: NtFileOracle[] = [];
  for (const l of body) {
    const c = /^(\d+) files?:$/.exec(l);
    if (c) {
      count = Number(c[1]);
      continue;
    }
    const m = FILE_LINE.exec(l.replace(/\s+$/, ''));
    if (!m) continue;
    const off = BigInt(`0x${m[3]}`);
    files.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      offset: unit === 'pages' ? off * pageSize : off,
      size: BigInt(m[4]!),
      path: m[5] ?? '',
    });
  }
  return { count, files };
}

/** Parses `eu-readelf -n` output (elfutils 0.188 format). */
export function parseEuReadelf(text: string, opts: ReadelfOptions = {}): ReadelfOracle {
  const notes = splitNotes(text);
  const core = notes.filter((n) => n.owner === 'CORE');
  const auxvNote = core.find((n) => n.type === 'AUXV');
  const auxv = auxvNote ? parseAuxv(auxvNote.body) : new Map<string, bigint>();
  const fileNote = core.find((n) => n.type === 'FILE');
  const parsedFiles = fileNote ? parseFiles(fileNote.body, auxv.get('PAGESZ') ?? 4096n, opts.offsetUnit ?? 'bytes') : undefined;
  const psNote = core.find((n) => n.type === 'PRPSINFO');
  const lwps: number[] = [];
  for (const n of notes) {
    const m = /^NetBSD-CORE@(\d+)$/.exec(n.owner);
    if (m && !lwps.includes(Number(m[1]))) lwps.push(Number(m[1]));
  }
  return {
    notes,
    prstatus: core.filter((n) => n.type === 'PRSTATUS').map((n) => parsePrStatus(n.body)),
    prpsinfo: psNote ? parsePrPsInfo(psNote.body) : undefined,
    siginfo: core.filter((n) => n.type === 'SIGINFO').map((n) => parseSigInfo(n.body)),
    auxv,
    files: parsedFiles?.files,
    fileCount: parsedFiles?.count,
    netbsdLwps: lwps,
  };
}

// ---------------------------------------------------------------------------
// eu-unstrip -n --core
// ---------------------------------------------------------------------------

export interface UnstripModule {
  start: bigint;
  size: bigint;
  /** Lower-case hex, or undefined when eu-unstrip printed "-". */
  buildId: string | undefined;
  /** The "@ADDR" part: address of the build-id note descriptor; undefined when not printed. */
  buildIdAddr: bigint | undefined;
  /** FILE column: "-", "." or a path. */
  file: string;
  /** DEBUGFILE column. */
  debugFile: string;
  /** Module name: a path, a soname, "[exe]", "[pie]", "linux-vdso.so.1", ... */
  name: string;
  /** The line as printed. */
  line: string;
}

export interface UnstripOracle {
  modules: UnstripModule[];
  /** Exit status recorded by the corpus builder when eu-unstrip failed ("#STDERR (rc=1):"). */
  rc: number | undefined;
  stderr: string;
}

const UNSTRIP_LINE = /^(0x[0-9a-fA-F]+)\+(0x[0-9a-fA-F]+) (\S+) (\S+) (\S+) (.*)$/;

/** Parses one `START+SIZE BUILDID[@ADDR] FILE DEBUGFILE NAME` line, or returns undefined. */
export function parseUnstripLine(line: string): UnstripModule | undefined {
  const m = UNSTRIP_LINE.exec(line.trim());
  if (!m) return undefined;
  const id = m[3]!;
  const at = id.indexOf('@');
  const hex = at < 0 ? id : id.slice(0, at);
  return {
    start: BigInt(m[1]!),
    size: BigInt(m[2]!),
    buildId: hex === '-' ? undefined : hex.toLowerCase(),
    buildIdAddr: at < 0 ? undefined : BigInt(id.slice(at + 1)),
    file: m[4]!,
    debugFile: m[5]!,
    name: m[6]!,
    line: line.trim(),
  };
}

/** Parses `eu-unstrip -n --core` output as stored in the corpus (stdout, then an optional "#STDERR (rc=N):" section). */
export function parseEuUnstrip(text: string): UnstripOracle {
  const modules: UnstripModule[] = [];
  let rc: number | undefined;
  const stderr: string[] = [];
  let inStderr = false;
  for (const line of text.split('\n')) {
    const s = /^#STDERR \(rc=(-?\d+)\):/.exec(line);
    if (s) {
      rc = Number(s[1]);
      inStderr = true;
      continue;
    }
    if (inStderr) {
      if (line.trim() !== '') stderr.push(line);
      continue;
    }
    const m = parseUnstripLine(line);
    if (m) modules.push(m);
  }
  return { modules, rc, stderr: stderr.join('\n') };
}

// ---------------------------------------------------------------------------
// Literal tool output quoted in .expected.txt
// ---------------------------------------------------------------------------

/** Strips the " 593| " source-line prefix the corpus builder puts on quoted test-script lines. */
function quoted(line: string): string | undefined {
  const m = /^\s*\d+\| ?(.*)$/.exec(line);
  return m ? m[1] : undefined;
}

/**
 * The `readelf -n` output an elfutils test compares against (the here-doc
 * after `testrun_compare .../readelf -n <file> <<\EOF`), parsed; undefined when
 * the expected file quotes none.
 */
export function readelfFromExpected(expected: string, opts: ReadelfOptions = {}): ReadelfOracle | undefined {
  const lines = expected.split('\n');
  const start = lines.findIndex((l) => /readelf -n \S+ <<\\?EOF/.test(l));
  if (start < 0) return undefined;
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    const q = quoted(l);
    if (q === undefined) continue;
    if (q === 'EOF') break;
    body.push(q);
  }
  return parseEuReadelf(body.join('\n'), opts);
}

/** The literal `unstrip -n` lines an elfutils test compares against (quoted `0x...+0x... ...` lines). */
export function unstripFromExpected(expected: string): UnstripModule[] {
  const out: UnstripModule[] = [];
  for (const l of expected.split('\n')) {
    const q = quoted(l);
    if (q === undefined) continue;
    const m = parseUnstripLine(q);
    if (m) out.push(m);
  }
  return out;
}
