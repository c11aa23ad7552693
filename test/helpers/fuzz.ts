/**
 * Mutation fuzzing of the core reader.
 *
 * Seeds are real cores (the shared corpus, the suite's own kernel cores,
 * synthetic FreeBSD cores); each input is one seed with a few structured or
 * random mutations, chosen by a seeded PRNG so every run is reproducible and
 * every failure can be replayed from (seed name, input number).
 *
 * The property: every input either parses or raises FormatError, within a
 * time bound, and never allocates more than a bound proportional to its size.
 */
import { CoreFile } from '../../src/core/open.js';
import { FormatError } from '../../src/elf/errors.js';
import { BufferReader } from '../../src/elf/reader.js';
import { ElfFile } from '../../src/elf/file.js';
import { NT_FREEBSD, NT_LINUX, PT } from '../../src/elf/constants.js';
import { ELF_LAYOUT } from '../../src/elf/layout.js';
import type { ElfClass } from '../../src/elf/decoder.js';
import { auxValue, executableDynamic, executableFromAuxv } from '../../src/core/executable.js';
import { findRDebug, walkLinkMap } from '../../src/core/linkmap.js';

/** mulberry32: small, fast, good enough to pick mutations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Seed {
  name: string;
  bytes: Buffer;
  /** Structure of the seed, found once: where its fields are. */
  layout: SeedLayout;
}

interface Phdr {
  at: number; // file offset of the program header
  type: number;
  offset: number;
  filesz: number;
  vaddr: bigint;
}

interface NoteLoc {
  header: number; // file offset of the note header
  name: string;
  type: number;
  desc: number;
  descsz: number;
}

export interface SeedLayout {
  is64: boolean;
  le: boolean;
  phoff: number;
  phentsize: number;
  phnum: number;
  phdrs: Phdr[];
  notes: NoteLoc[];
  /** File offsets of link_map l_next fields, in chain order. */
  linkMapNext: number[];
  linkMapAddrs: bigint[];
}

function u(buf: Buffer, off: number, size: number, le: boolean): bigint {
  if (off < 0 || off + size > buf.length) return 0n;
  if (size === 8) return le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off);
  if (size === 4) return BigInt(le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  return BigInt(le ? buf.readUInt16LE(off) : buf.readUInt16BE(off));
}

function put(buf: Buffer, off: number, size: number, le: boolean, value: bigint): void {
  if (off < 0 || off + size > buf.length) return;
  const v = BigInt.asUintN(size * 8, value);
  if (size === 8) le ? buf.writeBigUInt64LE(v, off) : buf.writeBigUInt64BE(v, off);
  else if (size === 4) le ? buf.writeUInt32LE(Number(v), off) : buf.writeUInt32BE(Number(v), off);
  else le ? buf.writeUInt16LE(Number(v), off) : buf.writeUInt16BE(Number(v), off);
}

/**
 * Finds the seed's structure with the reader itself (the seeds are valid):
 * ElfFile for the header and program headers, CoreFile for the notes (with
 * their file offsets) and memory, and the reader's own r_debug lookup for the
 * link_map chain. Only the file offsets the mutators write to are computed here.
 */
export async function analyse(name: string, bytes: Buffer): Promise<Seed> {
  const elf = await ElfFile.open(new BufferReader(bytes));
  const { header } = elf;
  const is64 = header.elfClass === 64;
  const le = header.byteOrder === 'little';
  const phoff = Number(header.e_phoff);
  // Enough program headers to pick mutation targets from (the PN_XNUM seed has 66,000).
  const phdrs: Phdr[] = elf.progs
    .slice(0, 4096)
    .map((p) => ({ at: phoff + p.index * header.e_phentsize, type: p.p_type, offset: Number(p.p_offset), vaddr: p.p_vaddr, filesz: Number(p.p_filesz) }))
    .filter((p) => p.at + header.e_phentsize <= bytes.length);
  const notes: NoteLoc[] = [];
  const linkMapNext: number[] = [];
  const linkMapAddrs: bigint[] = [];
  try {
    const core = await CoreFile.fromReader(new BufferReader(bytes), { allowTruncated: true });
    for (const n of core.notes) notes.push({ header: Number(n.offset), name: n.name, type: n.n_type, desc: Number(n.descOffset), descsz: n.desc.length });
    // r_debug the way the reader finds it: the executable's PT_DYNAMIC through the auxv, then DT_DEBUG.
    const shape = { elfClass: core.elf.elfClass, byteOrder: core.elf.byteOrder };
    const { auxv } = core.summary;
    const dyn = executableDynamic(await executableFromAuxv(core.memory, auxv, shape), undefined, auxValue(auxv, 'AT_ENTRY'), shape.elfClass);
    const ctx = { mem: core.memory, ...shape };
    const rDebug = dyn && (await findRDebug(ctx, dyn.addr, dyn.size));
    if (rDebug !== undefined) {
      const w = BigInt(is64 ? 8 : 4);
      for (const e of (await walkLinkMap(ctx, rDebug)).entries) {
        // struct link_map { l_addr, l_name, l_ld, l_next, l_prev, ... }: l_next is the fourth word.
        const next = e.addr + 3n * w;
        const seg = core.memory.segmentAt(next);
        if (!seg || next + w > seg.vaddr + seg.filesz) continue;
        linkMapNext.push(Number(seg.offset + (next - seg.vaddr)));
        linkMapAddrs.push(e.addr);
      }
    }
  } catch {
    // a seed the core reader cannot follow still gets header and byte-level mutations
  }
  return { name, bytes, layout: { is64, le, phoff, phentsize: header.e_phentsize, phnum: elf.phnum, phdrs, notes, linkMapNext, linkMapAddrs } };
}

/**
 * Where the fields the mutators overwrite sit, [offset, size] per ELF class,
 * taken from src/elf's layout table (the one the reader decodes with).
 */
function fieldsFor(cls: ElfClass) {
  const { ehdr, phdr, shdr, wordSize } = ELF_LAYOUT[cls];
  const f = (x: { offset: number; size: number }): Field => [x.offset, x.size];
  return {
    word: wordSize, ehdrSize: ehdr.size, shdrSize: shdr.size,
    e_phoff: f(ehdr.fields.e_phoff), e_shoff: f(ehdr.fields.e_shoff), e_phentsize: f(ehdr.fields.e_phentsize),
    e_phnum: f(ehdr.fields.e_phnum), e_shnum: f(ehdr.fields.e_shnum),
    p_offset: f(phdr.fields.p_offset), p_vaddr: f(phdr.fields.p_vaddr), p_filesz: f(phdr.fields.p_filesz), p_memsz: f(phdr.fields.p_memsz),
    sh_info: f(shdr.fields.sh_info),
  };
}
const FIELDS = { 32: fieldsFor(32), 64: fieldsFor(64) } as const;
/** struct kinfo_vmentry up to kve_path (sys/user.h): a packed record is at least this long. */
const KVE_FIXED_BYTES = 136;
type Field = readonly [offset: number, size: number];
const fieldsOf = (s: SeedLayout) => FIELDS[s.is64 ? 64 : 32];
/** Writes `value` into the field at `base` + its offset. */
const setField = (buf: Buffer, s: SeedLayout, base: number, [off, size]: Field, value: bigint) => put(buf, base + off, size, s.le, value);

type Mutator = (buf: Buffer, s: SeedLayout, r: () => number) => { buf: Buffer; what: string };

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function interesting(r: () => number, size: number, fileSize: number): bigint {
  const max = (1n << BigInt(size * 8)) - 1n;
  return pick(r, [0n, 1n, max, max - 1n, BigInt(fileSize), BigInt(fileSize + 1), BigInt(fileSize + 4096), 0x7fffffffn, 0x80000000n, 0xffffn]);
}

export const MUTATORS: ReadonlyArray<[string, Mutator]> = [
  [
    'bit flips',
    (buf, _s, r) => {
      const n = 1 + Math.floor(r() * 8);
      for (let i = 0; i < n; i++) buf[Math.floor(r() * buf.length)]! ^= 1 << Math.floor(r() * 8);
      return { buf, what: `${n} bit flips` };
    },
  ],
  [
    'byte sets',
    (buf, _s, r) => {
      const n = 1 + Math.floor(r() * 16);
      for (let i = 0; i < n; i++) buf[Math.floor(r() * buf.length)] = pick(r, [0, 0xff, 0x7f, 0x80, 0x01]);
      return { buf, what: `${n} byte sets` };
    },
  ],
  [
    'truncation at a header boundary',
    (buf, s, r) => {
      const points = [0, 1, 4, 16, 20, fieldsOf(s).ehdrSize, s.phoff, ...s.phdrs.map((p) => p.at), ...s.phdrs.map((p) => p.offset), ...s.notes.map((n) => n.header), ...s.notes.map((n) => n.desc), ...s.notes.map((n) => n.desc + n.descsz)];
      const at = Math.max(0, Math.min(buf.length, pick(r, points) + pick(r, [-1, 0, 1, 3])));
      return { buf: buf.subarray(0, at), what: `truncated at ${at}` };
    },
  ],
  ['truncation anywhere', (buf, _s, r) => {
    const at = Math.floor(r() * buf.length);
    return { buf: buf.subarray(0, at), what: `truncated at ${at}` };
  }],
  [
    'ELF header count and size fields',
    (buf, s, r) => {
      const name = pick(r, ['e_phoff', 'e_shoff', 'e_phentsize', 'e_phnum', 'e_shnum'] as const);
      const field = fieldsOf(s)[name];
      const v = interesting(r, field[1], buf.length);
      setField(buf, s, 0, field, v);
      return { buf, what: `${name} = ${v}` };
    },
  ],
  [
    'PN_XNUM lie',
    (buf, s, r) => {
      const f = fieldsOf(s);
      setField(buf, s, 0, f.e_phnum, 0xffffn);
      const shoff = pick(r, [0n, BigInt(s.phoff), BigInt(buf.length - 16), BigInt(buf.length)]);
      setField(buf, s, 0, f.e_shoff, shoff);
      // Section header 0's sh_info holds the real count under PN_XNUM.
      const info = interesting(r, f.sh_info[1], buf.length);
      if (Number(shoff) + f.shdrSize <= buf.length) setField(buf, s, Number(shoff), f.sh_info, info);
      return { buf, what: `e_phnum=PN_XNUM, e_shoff=${shoff}, sh_info=${info}` };
    },
  ],
  [
    'program header offset and size fields',
    (buf, s, r) => {
      if (!s.phdrs.length) return { buf, what: 'no phdrs' };
      const p = pick(r, s.phdrs);
      const name = pick(r, ['p_offset', 'p_vaddr', 'p_filesz', 'p_memsz'] as const);
      const field = fieldsOf(s)[name];
      const v = interesting(r, field[1], buf.length);
      setField(buf, s, p.at, field, v);
      return { buf, what: `phdr@${p.at} ${name} = ${v}` };
    },
  ],
  [
    'overlapping PT_LOAD segments',
    (buf, s, r) => {
      const loads = s.phdrs.filter((p) => p.type === PT.PT_LOAD);
      if (loads.length < 2) return { buf, what: 'too few loads' };
      const a = pick(r, loads);
      const b = pick(r, loads);
      setField(buf, s, b.at, fieldsOf(s).p_vaddr, a.vaddr + BigInt(Math.floor(r() * 64)));
      return { buf, what: `PT_LOAD@${b.at} moved over PT_LOAD@${a.at}` };
    },
  ],
  [
    'note sizes',
    (buf, s, r) => {
      if (!s.notes.length) return { buf, what: 'no notes' };
      const n = pick(r, s.notes);
      const field = pick(r, [0, 4]);
      const v = interesting(r, 4, buf.length);
      put(buf, n.header + field, 4, s.le, v);
      return { buf, what: `note ${n.name}/${n.type} ${field ? 'descsz' : 'namesz'} = ${v}` };
    },
  ],
  [
    'zero-length and duplicated notes',
    (buf, s, r) => {
      const seg = s.phdrs.find((p) => p.type === PT.PT_NOTE);
      if (!seg || !s.notes.length) return { buf, what: 'no notes' };
      // Rebuild the note segment at the end of the file: each note kept, doubled or emptied.
      const parts: Buffer[] = [];
      const ops: string[] = [];
      for (const n of s.notes) {
        const whole = buf.subarray(n.header, n.desc + Math.ceil(n.descsz / 4) * 4);
        const op = pick(r, ['keep', 'keep', 'dup', 'empty']);
        ops.push(op);
        if (op === 'empty') {
          const h = Buffer.from(whole.subarray(0, n.desc - n.header));
          put(h, 4, 4, s.le, 0n);
          parts.push(h);
        } else parts.push(whole, ...(op === 'dup' ? [whole] : []));
      }
      const notes = Buffer.concat(parts);
      const out = Buffer.concat([buf, notes]);
      setField(out, s, seg.at, fieldsOf(s).p_offset, BigInt(buf.length));
      setField(out, s, seg.at, fieldsOf(s).p_filesz, BigInt(notes.length));
      return { buf: out, what: `notes rebuilt: ${ops.join(',')}` };
    },
  ],
  [
    'NT_FILE count disagrees with its size',
    (buf, s, r) => {
      const n = s.notes.find((x) => x.name === 'CORE' && x.type === NT_LINUX.NT_FILE);
      if (!n) return { buf, what: 'no NT_FILE' };
      const w = s.is64 ? 8 : 4;
      const count = u(buf, n.desc, w, s.le);
      const v = pick(r, [0n, 1n, count + 1n, count * 2n, (1n << BigInt(w * 8)) - 1n, BigInt(Math.floor(n.descsz / (3 * w)))]);
      put(buf, n.desc, w, s.le, v);
      return { buf, what: `NT_FILE count ${count} → ${v}` };
    },
  ],
  [
    'unterminated strings',
    (buf, s, r) => {
      const n = s.notes.find((x) => x.type === pick(r, [NT_LINUX.NT_FILE, NT_LINUX.NT_PRPSINFO]));
      if (!n) return { buf, what: 'no string note' };
      for (let i = n.desc; i < n.desc + n.descsz; i++) if (buf[i] === 0 && r() < 0.8) buf[i] = 0x41;
      return { buf, what: `NULs removed from note type ${n.type}` };
    },
  ],
  [
    'cyclic link_map',
    (buf, s, r) => {
      const k = s.linkMapNext.length;
      if (k === 0) return { buf, what: 'no link_map' };
      const from = Math.floor(r() * k);
      const to = Math.floor(r() * (from + 1));
      put(buf, s.linkMapNext[from]!, fieldsOf(s).word, s.le, s.linkMapAddrs[to]!);
      return { buf, what: `link_map[${from}].l_next → link_map[${to}]` };
    },
  ],
  [
    'kinfo_vmentry kve_structsize',
    (buf, s, r) => {
      const n = s.notes.find((x) => x.name === 'FreeBSD' && x.type === NT_FREEBSD.NT_PROCSTAT_VMMAP);
      if (!n) return { buf, what: 'no vmmap' };
      // Walk the packed records (after the int structsize of the note) and corrupt one's size.
      let off = n.desc + 4;
      const recs: number[] = [];
      while (off + KVE_FIXED_BYTES <= n.desc + n.descsz) {
        recs.push(off);
        const size = Number(u(buf, off, 4, s.le));
        if (size <= 0) break;
        off += size;
      }
      if (!recs.length) return { buf, what: 'no records' };
      const at = pick(r, recs);
      const v = pick(r, [0n, 1n, 135n, 0xffffffffn, 0x7fffffffn, BigInt(n.descsz)]);
      put(buf, at, 4, s.le, v);
      return { buf, what: `kve_structsize@${at} = ${v}` };
    },
  ],
];


export interface FuzzResult {
  inputs: number;
  parsed: number;
  formatErrors: number;
  failures: Array<{ seed: string; input: number; what: string; error: string }>;
  slowest: { seed: string; input: number; what: string; ms: number };
}

/** Builds input `i` of a run from its seeds: deterministic in (runSeed, i). */
export function makeInput(seeds: Seed[], runSeed: number, i: number, forced?: Seed): { seed: Seed; buf: Buffer; what: string } {
  const r = prng(runSeed * 1_000_003 + i);
  const picked = seeds[Math.floor(r() * seeds.length)];
  // A regression replays input i of a run on the seed it was found with.
  const seed = forced ?? picked!;
  let buf: Buffer = Buffer.from(seed.bytes);
  const whats: string[] = [];
  const rounds = 1 + Math.floor(r() * 3);
  for (let k = 0; k < rounds; k++) {
    const [name, m] = MUTATORS[Math.floor(r() * MUTATORS.length)]!;
    const out = m(buf, seed.layout, r);
    buf = out.buf;
    whats.push(`${name}: ${out.what}`);
  }
  return { seed, buf, what: whats.join('; ') };
}

/** Parses one input; returns the outcome instead of throwing. */
export async function parseOne(buf: Buffer): Promise<'parsed' | 'format-error' | Error> {
  try {
    const core = await CoreFile.fromReader(new BufferReader(buf), { allowTruncated: true });
    JSON.stringify(core.summary, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    return 'parsed';
  } catch (err) {
    if (err instanceof FormatError) return 'format-error';
    return err instanceof Error ? err : new Error(String(err));
  }
}

export async function fuzz(seeds: Seed[], opts: { inputs: number; runSeed: number; maxMs: number }): Promise<FuzzResult> {
  const result: FuzzResult = { inputs: 0, parsed: 0, formatErrors: 0, failures: [], slowest: { seed: '', input: -1, what: '', ms: 0 } };
  for (let i = 0; i < opts.inputs; i++) {
    const { seed, buf, what } = makeInput(seeds, opts.runSeed, i);
    const heapBefore = process.memoryUsage().arrayBuffers;
    // CPU time, not wall time: on a loaded machine (six test runs on two cores) an input waits for a core
    // longer than it runs, and the bound is about the reader's work (a quadratic walk), not the machine's load.
    const cpu0 = process.cpuUsage();
    const outcome = await parseOne(buf);
    const cpu = process.cpuUsage(cpu0);
    const ms = (cpu.user + cpu.system) / 1000;
    const grew = process.memoryUsage().arrayBuffers - heapBefore;
    result.inputs++;
    if (ms > result.slowest.ms) result.slowest = { seed: seed.name, input: i, what, ms };
    if (outcome === 'parsed') result.parsed++;
    else if (outcome === 'format-error') result.formatErrors++;
    else result.failures.push({ seed: seed.name, input: i, what, error: `${outcome.name}: ${outcome.message}` });
    if (ms > opts.maxMs) result.failures.push({ seed: seed.name, input: i, what, error: `took ${ms.toFixed(0)} ms (bound ${opts.maxMs} ms)` });
    // External buffers beyond 4× the input plus 1 MiB would mean a size field drove an allocation.
    if (grew > buf.length * 4 + (1 << 20)) result.failures.push({ seed: seed.name, input: i, what, error: `allocated ${grew} bytes for a ${buf.length}-byte input` });
  }
  return result;
}
